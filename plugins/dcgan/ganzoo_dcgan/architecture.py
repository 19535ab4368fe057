"""DCGAN as a ganzoo architecture: config, networks and the non-saturating update schedule."""
from __future__ import annotations

from pydantic import Field

from ganzoo import losses
from ganzoo.api import Architecture, ImageSpec, OptimizerSettings, Phase, PhaseInputs, PluginConfig

from ganzoo_dcgan.networks import Discriminator, Generator

RESOLUTIONS = (16, 28, 32, 64, 128)


class DCGANConfig(PluginConfig):
    z_dim: int = Field(100, ge=1, description="Latent size (the paper uses 100).")
    width: int = Field(64, ge=4, description="Channels at the finest feature map; doubled per coarser level.")
    max_width: int = Field(512, ge=4, description="Cap on channels at coarse levels.")
    lr: float = Field(2e-4, gt=0, description="Adam learning rate for both networks (paper: 2e-4).")


class DCGAN(Architecture):
    kind = "dcgan"
    Config = DCGANConfig
    description = "DCGAN (Radford et al. 2015): BatchNorm, ReLU/LeakyReLU, non-saturating loss"

    def check_image_spec(self, image: ImageSpec) -> None:
        if image.resolution not in RESOLUTIONS:
            raise ValueError(f"DCGAN supports resolutions {', '.join(map(str, RESOLUTIONS))}, not {image.resolution}")
        if image.channels not in (1, 3):
            raise ValueError(f"DCGAN supports 1 or 3 channels, not {image.channels}")

    def build_generator(self) -> Generator:
        c = self.config
        return Generator(c.z_dim, self.image.resolution, self.image.channels, c.width, c.max_width)

    def build_discriminator(self) -> Discriminator:
        c = self.config
        return Discriminator(self.image.resolution, self.image.channels, c.width, c.max_width)

    def optimizer_settings(self) -> dict[str, OptimizerSettings]:
        adam = OptimizerSettings(lr=self.config.lr, betas=(0.5, 0.999))
        return {"generator": adam, "discriminator": adam}

    def phases(self) -> list[Phase]:
        return [Phase("D", "discriminator", self.discriminator_loss),
                Phase("G", "generator", self.generator_loss, uses_real=False)]

    @staticmethod
    def discriminator_loss(x: PhaseInputs) -> dict:
        fake = x.generator(x.z, x.fake_labels).detach()
        real_logits = x.discriminator(x.augment(x.real), x.real_labels)
        fake_logits = x.discriminator(x.augment(fake), x.fake_labels)
        return {"loss": losses.nonsaturating_d(real_logits, fake_logits),
                "real_score": real_logits.mean(), "fake_score": fake_logits.mean()}

    @staticmethod
    def generator_loss(x: PhaseInputs) -> dict:
        fake_logits = x.discriminator(x.augment(x.generator(x.z, x.fake_labels)), x.fake_labels)
        return {"loss": losses.nonsaturating_g(fake_logits)}
