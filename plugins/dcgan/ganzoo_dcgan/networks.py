"""DCGAN networks (Radford et al. 2015, https://arxiv.org/abs/1511.06434).

Generator: project z to a 4x4 (or 7x7 for 28 px) map, then stride-2 transposed
convolutions with BatchNorm and ReLU, tanh at the end. Discriminator: the mirror
image with stride-2 convolutions and LeakyReLU 0.2, no BatchNorm on its first layer.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def stages(resolution: int) -> tuple[int, int]:
    """(size of the first feature map, number of 2x up/down-sampling stages)."""
    base = 7 if resolution == 28 else 4
    return base, int(math.log2(resolution // base))


def widths(width: int, max_width: int, n_stages: int) -> list[int]:
    """Channels of the feature maps below full resolution, coarsest first: 8w, 4w, 2w, w (capped)."""
    return [min(width * 2 ** (n_stages - 1 - i), max_width) for i in range(n_stages)]


def init_weights(module: nn.Module) -> None:
    """The paper's init: N(0, 0.02) for convolutions, N(1, 0.02) for BatchNorm scales."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Generator(nn.Module):
    def __init__(self, z_dim: int, resolution: int, channels: int, width: int, max_width: int):
        super().__init__()
        base, n = stages(resolution)
        ch = widths(width, max_width, n)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(z_dim, ch[0], base, 1, 0, bias=False), nn.BatchNorm2d(ch[0]), nn.ReLU(True)]
        for c_in, c_out in zip(ch[:-1], ch[1:]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(ch[-1], channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(init_weights)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z[:, :, None, None])


class Discriminator(nn.Module):
    def __init__(self, resolution: int, channels: int, width: int, max_width: int):
        super().__init__()
        base, n = stages(resolution)
        ch = list(reversed(widths(width, max_width, n)))  # finest first
        layers: list[nn.Module] = [nn.Conv2d(channels, ch[0], 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for c_in, c_out in zip(ch[:-1], ch[1:]):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(ch[-1], 1, base, 1, 0)]
        self.net = nn.Sequential(*layers)
        self.apply(init_weights)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(images).flatten()
