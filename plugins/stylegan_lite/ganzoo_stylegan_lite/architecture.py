"""StyleGAN-lite: StyleGAN2 (Karras et al. 2020, https://arxiv.org/abs/1912.04958) as a ganzoo architecture.

Kept from the paper: mapping network with a 0.01 learning-rate multiplier,
learned constant input, modulated convolutions with demodulation, per-layer
noise, equalised learning rate, skip generator, residual discriminator with
minibatch standard deviation, non-saturating logistic loss, lazy R1 every 16
steps, style mixing (0.9), optional path-length regularisation, truncation at
sampling time, and the lazy-regularisation correction of Adam's lr and betas.
Changed for a pure-PyTorch, CPU-friendly build: bilinear/average-pool
resampling instead of FIR filters, and smaller default widths (``preset``).
"""
from __future__ import annotations

import math
from typing import Any, Literal, Optional

import torch
from pydantic import Field, model_validator
from torch import nn

from ganzoo import losses
from ganzoo.api import Architecture, ImageSpec, OptimizerSettings, Phase, PhaseInputs, PluginConfig
from ganzoo_stylegan_lite.networks import Discriminator, Generator

RESOLUTIONS = (16, 32, 64, 128, 256, 512)  # above 128 px the channels follow StyleGAN2 (networks.py)

# Sizes by preset; any field set in the recipe wins. "paper" is StyleGAN2's config F widths.
PRESETS: dict[str, dict[str, int]] = {
    "paper": {"z_dim": 512, "w_dim": 512, "mapping_layers": 8, "width": 512, "max_width": 512},
    "small": {"z_dim": 256, "w_dim": 256, "mapping_layers": 4, "width": 64, "max_width": 256},
    "tiny": {"z_dim": 32, "w_dim": 32, "mapping_layers": 2, "width": 8, "max_width": 32},
}


class StyleGANLiteConfig(PluginConfig):
    preset: Literal["paper", "small", "tiny"] = Field("small", description="Network sizes; fields below override it.")
    z_dim: int = Field(None, ge=1, description="Latent size (preset).")
    w_dim: int = Field(None, ge=1, description="Intermediate latent (style) size (preset).")
    mapping_layers: int = Field(None, ge=1, description="Depth of the mapping network (paper: 8).")
    width: int = Field(None, ge=4, description="Channels at the output resolution; doubled per halving (preset).")
    max_width: int = Field(None, ge=4, description="Cap on channels (preset).")
    r1_gamma: Optional[float] = Field(None, ge=0, description="R1 weight; default: 0.0002 * resolution^2 / batch "
                                                              "(StyleGAN2-ADA's heuristic).")
    r1_every: int = Field(16, ge=1, description="Lazy R1: regularise every N steps (paper: 16).")
    style_mixing: float = Field(0.9, ge=0, le=1, description="Probability of style mixing in training (paper: 0.9).")
    mbstd_group: int = Field(4, ge=1, description="Minibatch standard deviation group size (paper: 4; StyleGAN2-ADA's "
                                                  "CIFAR config: 32). Larger groups penalise mode collapse harder.")
    path_length: float = Field(0.0, ge=0, description="Path-length regulariser weight (paper: 2; 0 = off).")
    path_length_every: int = Field(4, ge=1, description="Lazy path-length regularisation interval (paper: 4).")
    lr: float = Field(0.0025, gt=0, description="Adam learning rate (paper: 0.0025), betas (0, 0.99).")
    conditional: bool = Field(False, description="Class-conditional: label embedding into the mapping network, "
                                                 "projection discriminator.")

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if isinstance(data, dict):
            preset = PRESETS.get(data.get("preset", "small"), {})
            data = {**preset, **{k: v for k, v in data.items() if v is not None}}
        return data


class StyleGANLite(Architecture):
    kind = "stylegan-lite"
    Config = StyleGANLiteConfig
    description = "StyleGAN2 in pure PyTorch: mapping net, modulated convs, skip G, residual D, lazy R1"
    supports_conditioning = True
    sampling_options = ("truncation",)
    onnx_exportable = True  # with truncation as an input (onnx_generator); eval mode uses the fixed noise

    def check_image_spec(self, image: ImageSpec) -> None:
        if image.resolution not in RESOLUTIONS:
            raise ValueError(f"StyleGAN-lite supports resolutions {', '.join(map(str, RESOLUTIONS))}, "
                             f"not {image.resolution}")

    def _classes(self) -> int:
        return self.image.num_classes if self.conditional else 0

    def build_generator(self) -> Generator:
        c = self.config
        return Generator(c.z_dim, c.w_dim, c.mapping_layers, self.image.resolution, self.image.channels,
                         c.width, c.max_width, self._classes(), c.style_mixing)

    def build_discriminator(self) -> Discriminator:
        c = self.config
        return Discriminator(self.image.resolution, self.image.channels, c.width, c.max_width, self._classes(),
                             c.mbstd_group)

    def discriminator_blocks(self, discriminator: Discriminator) -> list[nn.Module]:
        """FreezeD: one block per resolution, finest first, the first with its fromRGB layer; the 4x4
        epilogue (minibatch stddev, conv, fc, output and projection) always trains."""
        first, *rest = discriminator.blocks
        return [nn.ModuleList([discriminator.from_rgb, first]), *rest]

    def optimizer_settings(self) -> dict[str, OptimizerSettings]:
        # Lazy regularisation: scale lr and betas by N/(N+1) so the average step matches (paper, appendix B).
        def adam(every: Optional[int]) -> OptimizerSettings:
            ratio = every / (every + 1) if every else 1.0
            return OptimizerSettings(lr=self.config.lr * ratio, betas=(0.0, 0.99 ** ratio), eps=1e-8)

        return {"generator": adam(self.config.path_length_every if self.config.path_length else None),
                "discriminator": adam(self.config.r1_every)}

    def phases(self) -> list[Phase]:
        phases = [Phase("D", "discriminator", self.d_loss),
                  Phase("Dreg", "discriminator", self.r1_loss, every=self.config.r1_every),
                  Phase("G", "generator", self.g_loss, uses_real=False)]
        if self.config.path_length:
            phases.append(Phase("Greg", "generator", self.path_length_loss, every=self.config.path_length_every,
                                uses_real=False))
        return phases

    def generate(self, generator: Generator, z: torch.Tensor, labels: Optional[torch.Tensor] = None,
                 truncation: float = 1.0, **options: Any) -> torch.Tensor:
        if not 0.0 <= truncation <= 1.0:
            raise ValueError(f"truncation must be between 0 and 1, not {truncation}")
        return generator(z, labels, truncation=truncation).clamp(-1, 1)

    def onnx_generator(self, generator: Generator) -> nn.Module:
        """generate() with truncation as a tensor input: always interpolate from w_avg (psi 1 gives w)."""
        return TruncatedGenerator(generator, self.conditional)

    # ----------------------------------------------------- latent spaces (plugin API 1.3)
    def latent_spaces(self) -> tuple[str, ...]:
        return ("z", "w", "w+")

    def mapping(self, generator: Generator, z: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        return generator.mapping(z, labels)

    def synthesis(self, generator: Generator, w_plus: torch.Tensor,
                  labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        return generator.synthesis(w_plus).clamp(-1, 1)  # labels act through the mapping only

    def num_ws(self, generator: Generator) -> int:
        return generator.synthesis.num_ws

    def style_groups(self, generator: Generator) -> dict[str, range]:
        return style_groups(generator.synthesis.resolutions)

    def style_resolutions(self, generator: Generator) -> list[int]:
        return style_resolutions(generator.synthesis.resolutions)

    def style_weights(self, generator: Generator) -> torch.Tensor:
        """Every modulated layer's affine weight (its run-time scale applied), in w+ order, ToRGBs included."""
        return torch.cat([layer.conv.affine.weight * layer.conv.affine.weight_gain
                          for layer in _modulated_layers(generator.synthesis)]).detach()

    def w_avg(self, generator: Generator) -> torch.Tensor:
        tracked = generator.mapping.w_avg
        return tracked.detach().float().clone() if bool(tracked.any()) else super().w_avg(generator)

    # ----------------------------------------------------------------- losses
    @staticmethod
    def d_loss(x: PhaseInputs) -> dict:
        return losses.discriminator_step(x, losses.nonsaturating_d)

    def r1_loss(self, x: PhaseInputs) -> dict:
        gamma = self.config.r1_gamma
        if gamma is None:
            gamma = 0.0002 * self.image.resolution ** 2 / x.real.shape[0]
        penalty = losses.r1_penalty(x.discriminator, x.augment(x.real), x.real_labels)
        return {"loss": penalty * (gamma / 2) * self.config.r1_every, "r1": penalty.detach()}

    @staticmethod
    def g_loss(x: PhaseInputs) -> dict:
        return losses.generator_step(x, losses.nonsaturating_g)

    def path_length_loss(self, x: PhaseInputs) -> dict:
        """Karras et al. 2020, section 3.2: keep |J_w^T y| constant for random image-space directions y."""
        G = x.generator
        n = max(1, x.z.shape[0] // 2)  # the paper's batch shrink of 2
        labels = x.fake_labels[:n] if x.fake_labels is not None else None
        with torch.autocast(device_type=x.z.device.type, enabled=False):
            ws = G.ws(x.z[:n].float(), labels)
            images = G.synthesis(ws)
            noise = torch.randn_like(images) / math.sqrt(images.shape[2] * images.shape[3])
            (grad,) = torch.autograd.grad((images * noise).sum(), ws, create_graph=True)
            lengths = grad.square().sum(2).mean(1).sqrt()
            with torch.no_grad():
                G.pl_mean.copy_(G.pl_mean.lerp(lengths.mean(), 0.01))
            penalty = (lengths - G.pl_mean).square().mean()
        return {"loss": penalty * self.config.path_length * self.config.path_length_every,
                "path_length": lengths.mean().detach()}


class TruncatedGenerator(nn.Module):
    """(z[, labels], truncation) -> images in [-1, 1], for ONNX: no Python branch on the truncation value."""

    def __init__(self, generator: Generator, conditional: bool):
        super().__init__()
        self.generator, self.conditional = generator, conditional

    def forward(self, z: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        labels, truncation = (rest[0], rest[1]) if self.conditional else (None, rest[0])
        g = self.generator
        w = g.mapping.w_avg.to(z.dtype).lerp(g.mapping(z, labels), truncation)
        return g.synthesis(w[:, None].repeat(1, g.synthesis.num_ws, 1)).clamp(-1, 1)


def style_groups(resolutions: list[int]) -> dict[str, range]:
    """w+ indices by layer group, StyleGAN's split: coarse up to 8 px, middle 16-32 px, fine 64 px and up.

    Below 64 px the finest resolution counts as fine, so no group is empty; the last index (the final ToRGB) is fine.
    """
    fine = [r for r in resolutions if r >= 64] or resolutions[-1:]
    coarse = [r for r in resolutions if r <= 8 and r not in fine]
    if len(coarse) == len(resolutions) - len(fine):  # nothing left in the middle (16 px): give it 8 px
        coarse = coarse[:-1]
    first = {r: (0 if r == 4 else 2 * resolutions.index(r) - 1) for r in resolutions}  # 1 layer at 4 px, 2 above
    middle_start = first[resolutions[len(coarse)]]
    fine_start = first[fine[0]]
    num_ws = 2 * len(resolutions)  # 1 + 2 (len - 1) layers + the final ToRGB
    return {"coarse": range(0, middle_start), "middle": range(middle_start, fine_start),
            "fine": range(fine_start, num_ws)}


def style_resolutions(resolutions: list[int]) -> list[int]:
    """The resolution each w+ index styles: one layer at the first, two at each one above, and the final ToRGB at
    the last (the same layout ``style_groups`` splits)."""
    return [resolutions[0], *(r for r in resolutions[1:] for _ in range(2)), resolutions[-1]]


def _modulated_layers(synthesis: nn.Module) -> list[nn.Module]:
    """Synthesis layers and ToRGBs in the order of the w+ index each reads (a ToRGB shares the next one's)."""
    ordered = []
    for block, to_rgb in zip(synthesis.layers, synthesis.to_rgb):
        ordered += [*block, to_rgb]
    return ordered
