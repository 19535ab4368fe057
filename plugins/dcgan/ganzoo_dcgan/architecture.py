"""DCGAN (Radford et al. 2015, https://arxiv.org/abs/1511.06434) as a ganzoo architecture.

Transposed-conv generator with BatchNorm and ReLU, strided-conv discriminator with
LeakyReLU 0.2 (the shared stacks in ganzoo.nn), non-saturating loss, Adam 2e-4 / (0.5, 0.999).
"""
from __future__ import annotations

import torch
from pydantic import Field

from ganzoo import losses
from ganzoo.api import Architecture, ImageSpec, OptimizerSettings, Phase, PhaseInputs, PluginConfig
from ganzoo.nn import ConvDiscriminator, ConvGenerator

# 256 px: the same stacks with one more stage; channels halve per finer level (width at the finest),
# so the large feature maps stay thin. 16-128 px networks are unchanged.
RESOLUTIONS = (16, 28, 32, 64, 128, 256)


class DCGANConfig(PluginConfig):
    z_dim: int = Field(100, ge=1, description="Latent size (the paper uses 100).")
    width: int = Field(64, ge=4, description="Channels at the finest feature map; doubled per coarser level.")
    max_width: int = Field(512, ge=4, description="Cap on channels at coarse levels.")
    lr: float = Field(2e-4, gt=0, description="Adam learning rate for both networks (paper: 2e-4).")
    conditional: bool = Field(False, description="Class-conditional: label embedding in G, projection in D.")
    embed_dim: int = Field(32, ge=1, description="Size of the label embedding concatenated to z when conditional.")


class DCGAN(Architecture):
    kind = "dcgan"
    Config = DCGANConfig
    description = "DCGAN (Radford et al. 2015): BatchNorm, ReLU/LeakyReLU, non-saturating loss"
    supports_conditioning = True
    onnx_exportable = True  # plain convolutions: exports to ONNX as it is (ganzoo export-onnx)

    def check_image_spec(self, image: ImageSpec) -> None:
        if image.resolution not in RESOLUTIONS:
            raise ValueError(f"DCGAN supports resolutions {', '.join(map(str, RESOLUTIONS))}, not {image.resolution}")
        if image.channels not in (1, 3):
            raise ValueError(f"DCGAN supports 1 or 3 channels, not {image.channels}")

    def build_generator(self) -> ConvGenerator:
        c = self.config
        classes = self.image.num_classes if self.conditional else 0
        return ConvGenerator(c.z_dim, self.image.resolution, self.image.channels, c.width, c.max_width,
                             classes, c.embed_dim)

    def build_discriminator(self) -> ConvDiscriminator:
        c = self.config
        classes = self.image.num_classes if self.conditional else 0
        return ConvDiscriminator(self.image.resolution, self.image.channels, c.width, c.max_width, "batch", classes)

    def discriminator_blocks(self, discriminator: ConvDiscriminator) -> list:
        """FreezeD: the stride-2 conv stages, finest first (the head and projection always train)."""
        return discriminator.blocks()

    def style_weights(self, generator: ConvGenerator) -> torch.Tensor:
        """No styles: the first layer acting on z, SeFa's generalisation (`ganzoo directions` finds z directions)."""
        return generator.latent_weights()

    def optimizer_settings(self) -> dict[str, OptimizerSettings]:
        adam = OptimizerSettings(lr=self.config.lr, betas=(0.5, 0.999))
        return {"generator": adam, "discriminator": adam}

    def phases(self) -> list[Phase]:
        return [Phase("D", "discriminator", self.discriminator_loss),
                Phase("G", "generator", self.generator_loss, uses_real=False)]

    @staticmethod
    def discriminator_loss(x: PhaseInputs) -> dict:
        return losses.discriminator_step(x, losses.nonsaturating_d)

    @staticmethod
    def generator_loss(x: PhaseInputs) -> dict:
        return losses.generator_step(x, losses.nonsaturating_g)
