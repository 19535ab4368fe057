"""WGAN-GP: Gulrajani et al. 2017, "Improved Training of Wasserstein GANs" (https://arxiv.org/abs/1704.00028).

The critic estimates the Wasserstein-1 distance; instead of clipping its weights,
a gradient penalty (lambda 10) keeps its gradient norm near 1 on random
interpolates of real and fake images. No batch norm in the critic (it would make
the penalty per-batch instead of per-sample): layer norm or none. Five critic
updates per generator update, Adam 1e-4 with betas (0, 0.9). The optional drift
term (Karras et al. 2018) keeps critic outputs from wandering off.
"""
from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from ganzoo import losses
from ganzoo.api import Architecture, ImageSpec, OptimizerSettings, Phase, PhaseInputs, PluginConfig
from ganzoo.nn import ConvDiscriminator, ConvGenerator

# 256 px: the same stacks with one more stage; channels halve per finer level (width at the finest),
# so the large feature maps stay thin. 16-128 px networks are unchanged.
RESOLUTIONS = (16, 28, 32, 64, 128, 256)


class WGANGPConfig(PluginConfig):
    z_dim: int = Field(128, ge=1, description="Latent size.")
    width: int = Field(64, ge=4, description="Channels at the finest feature map; doubled per coarser level.")
    max_width: int = Field(512, ge=4, description="Cap on channels at coarse levels.")
    critic_norm: Literal["layer", "none"] = Field("layer", description="Normalisation in the critic "
                                                                       "(never batch norm).")
    gp_weight: float = Field(10.0, ge=0, description="lambda, the gradient penalty's weight (paper: 10).")
    n_critic: int = Field(5, ge=1, description="Critic updates per generator update (paper: 5).")
    drift: float = Field(0.0, ge=0, description="Weight of the drift term E[D(x)^2] (0 = off; ProGAN used 0.001).")
    lr: float = Field(1e-4, gt=0, description="Adam learning rate for both networks (paper: 1e-4).")
    betas: tuple[float, float] = Field((0.0, 0.9), description="Adam betas (paper: 0, 0.9).")
    conditional: bool = Field(False, description="Class-conditional: label embedding in G, projection in the critic.")
    embed_dim: int = Field(32, ge=1, description="Size of the label embedding concatenated to z when conditional.")


class WGANGP(Architecture):
    kind = "wgan-gp"
    Config = WGANGPConfig
    description = "WGAN-GP (Gulrajani et al. 2017): Wasserstein critic with gradient penalty, 5 critic steps"
    supports_conditioning = True
    onnx_exportable = True  # plain convolutions: exports to ONNX as it is (ganzoo export-onnx)

    def check_image_spec(self, image: ImageSpec) -> None:
        if image.resolution not in RESOLUTIONS:
            raise ValueError(f"WGAN-GP supports resolutions {', '.join(map(str, RESOLUTIONS))}, not {image.resolution}")

    def _classes(self) -> int:
        return self.image.num_classes if self.conditional else 0

    def build_generator(self) -> ConvGenerator:
        c = self.config
        return ConvGenerator(c.z_dim, self.image.resolution, self.image.channels, c.width, c.max_width,
                             self._classes(), c.embed_dim)

    def build_discriminator(self) -> ConvDiscriminator:
        c = self.config
        return ConvDiscriminator(self.image.resolution, self.image.channels, c.width, c.max_width,
                                 c.critic_norm, self._classes())

    def discriminator_blocks(self, discriminator: ConvDiscriminator) -> list:
        """FreezeD: the critic's stride-2 conv stages, finest first (the head and projection always train)."""
        return discriminator.blocks()

    def style_weights(self, generator: ConvGenerator) -> torch.Tensor:
        """No styles: the first layer acting on z, SeFa's generalisation (`ganzoo directions` finds z directions)."""
        return generator.latent_weights()

    def optimizer_settings(self) -> dict[str, OptimizerSettings]:
        adam = OptimizerSettings(lr=self.config.lr, betas=tuple(self.config.betas))
        return {"generator": adam, "discriminator": adam}

    def phases(self) -> list[Phase]:
        return [Phase("D", "discriminator", self.critic_loss, repeats=self.config.n_critic),
                Phase("G", "generator", self.generator_loss, uses_real=False)]

    def critic_loss(self, x: PhaseInputs) -> dict:
        fake = x.augment(x.generator(x.z, x.fake_labels).detach())
        real = x.augment(x.real)
        real_logits = x.discriminator(real, x.real_labels)
        fake_logits = x.discriminator(fake, x.fake_labels)
        x.report_real_logits(real_logits)  # critic values, not logits: see docs/recipes.md (adaptive augmentation)
        # The penalty needs one label per interpolate: with labels, interpolate within the real labels' classes.
        penalty = losses.gradient_penalty(x.discriminator, real, fake, x.real_labels)
        loss = losses.wasserstein_d(real_logits, fake_logits) + self.config.gp_weight * penalty
        if self.config.drift:
            loss = loss + self.config.drift * real_logits.float().square().mean()
        return {"loss": loss, "wasserstein": (real_logits.mean() - fake_logits.mean()).detach(),
                "gradient_penalty": penalty.detach(), "real_score": real_logits.mean(),
                "fake_score": fake_logits.mean()}

    @staticmethod
    def generator_loss(x: PhaseInputs) -> dict:
        fake_logits = x.discriminator(x.augment(x.generator(x.z, x.fake_labels)), x.fake_labels)
        return {"loss": losses.wasserstein_g(fake_logits)}
