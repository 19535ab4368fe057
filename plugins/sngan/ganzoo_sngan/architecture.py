"""SNGAN (Miyato, Kataoka, Koyama & Yoshida 2018, https://arxiv.org/abs/1802.05957) as a ganzoo architecture.

Spectrally normalised ResNet discriminator, ResNet generator with batch norm,
hinge loss, Adam 2e-4 with betas (0, 0.9) and n_dis discriminator updates per
generator update: the paper's ResNet setting for CIFAR-10. Class-conditional
with conditional batch norm in G and a projection discriminator (Miyato &
Koyama 2018, https://arxiv.org/abs/1802.05637).
"""
from __future__ import annotations

from pydantic import Field

from ganzoo import losses
from ganzoo.api import Architecture, ImageSpec, OptimizerSettings, Phase, PhaseInputs, PluginConfig
from ganzoo.nn import conv_stages
from ganzoo_sngan.networks import ResNetDiscriminator, ResNetGenerator


class SNGANConfig(PluginConfig):
    """The recipe's `architecture` fields (besides `kind`); unknown fields are refused."""

    z_dim: int = Field(128, ge=1, description="Latent size (the paper: 128).")
    g_width: int = Field(256, ge=4, description="Channels of every generator block (the paper's CIFAR model: 256).")
    d_width: int = Field(128, ge=4, description="Channels of every discriminator block (the paper's CIFAR model: 128).")
    n_dis: int = Field(5, ge=1, description="Discriminator updates per generator update "
                                            "(the paper's ResNet setting: 5).")
    lr: float = Field(2e-4, gt=0, description="Adam learning rate for both networks.")
    betas: tuple[float, float] = Field((0.0, 0.9), description="Adam betas for both networks.")
    conditional: bool = Field(False, description="Class-conditional: conditional batch norm in G, projection in D.")


class SNGAN(Architecture):
    kind = "sngan"
    Config = SNGANConfig
    description = "SNGAN (Miyato et al. 2018): spectral norm, hinge loss, ResNet generator and discriminator"
    supports_conditioning = True
    onnx_exportable = True  # plain convolutions: exports to ONNX as it is (ganzoo export-onnx)

    def check_image_spec(self, image: ImageSpec) -> None:
        try:
            conv_stages(image.resolution)
        except ValueError:
            raise ValueError(f"sngan supports resolutions 4 x 2^k (16, 32, 64, 128, ...) and 28, "
                             f"not {image.resolution}") from None

    @property
    def num_classes(self) -> int:
        return self.image.num_classes if self.conditional else 0

    def build_generator(self) -> ResNetGenerator:
        c = self.config
        return ResNetGenerator(c.z_dim, self.image.resolution, self.image.channels, c.g_width, self.num_classes)

    def build_discriminator(self) -> ResNetDiscriminator:
        return ResNetDiscriminator(self.image.resolution, self.image.channels, self.config.d_width, self.num_classes)

    def discriminator_blocks(self, discriminator: ResNetDiscriminator) -> list:
        """FreezeD: the residual blocks, image first (the projection head always trains)."""
        return list(discriminator.blocks)

    def optimizer_settings(self) -> dict[str, OptimizerSettings]:
        adam = OptimizerSettings(lr=self.config.lr, betas=tuple(self.config.betas))
        return {"generator": adam, "discriminator": adam}

    def phases(self) -> list[Phase]:
        return [Phase("D", "discriminator", self.discriminator_loss, repeats=self.config.n_dis),
                Phase("G", "generator", self.generator_loss, uses_real=False)]

    @staticmethod
    def discriminator_loss(x: PhaseInputs) -> dict:
        return losses.discriminator_step(x, losses.hinge_d)

    @staticmethod
    def generator_loss(x: PhaseInputs) -> dict:
        return losses.generator_step(x, losses.hinge_g)
