"""SNGAN's ResNet generator and discriminator (Miyato et al. 2018, appendix B).

The CIFAR-10 networks of the paper, generalised over resolution with
``ganzoo.nn.conv_stages``: the generator starts from a 4x4 map (7x7 for 28 px)
and doubles it per residual up-block; the discriminator halves the image per
residual down-block until 8x8 (14x14 for 28 px), then adds two blocks without
downsampling, as the paper's 32 px model does. Spectral normalisation on every
discriminator layer; batch norm in the generator (class-conditional batch norm
when conditional, with a projection discriminator, Miyato & Koyama 2018).

Every block has ``width`` channels up to 128 px (the CIFAR model's constant width);
feature maps larger than that halve their channels per doubling (``channels_at``),
as the paper's ImageNet models thin out towards the image: a 256 px network's
256x256 maps hold half the channels of its 128x128 ones.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

from ganzoo.nn import ProjectionHead, conv_stages, spectral_norm

CONSTANT_UP_TO = 128  # feature maps up to this size keep the full width (every network up to 128 px)


def channels_at(size: int, width: int) -> int:
    """Channels of a ``size`` x ``size`` feature map: ``width``, halved per doubling above ``CONSTANT_UP_TO``."""
    return width if size <= CONSTANT_UP_TO else max(1, width * CONSTANT_UP_TO // size)


def _xavier(module: nn.Module, gain: float) -> nn.Module:
    """Glorot-uniform weights, zero bias: sqrt(2) inside residual branches, 1 elsewhere (as the authors' code)."""
    nn.init.xavier_uniform_(module.weight, gain)
    nn.init.zeros_(module.bias)
    return module


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose scale and shift are looked up per class; plain batch norm without classes."""

    def __init__(self, channels: int, num_classes: int = 0):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=not num_classes)
        self.scale = nn.Embedding(num_classes, channels) if num_classes else None
        self.shift = nn.Embedding(num_classes, channels) if num_classes else None
        if num_classes:
            nn.init.ones_(self.scale.weight)
            nn.init.zeros_(self.shift.weight)

    def forward(self, x: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        x = self.bn(x)
        if self.scale is None:
            return x
        if labels is None:
            raise ValueError("this generator is conditional: pass class labels")
        return x * self.scale(labels)[:, :, None, None] + self.shift(labels)[:, :, None, None]


class UpBlock(nn.Module):
    """BN, ReLU, 2x nearest upsampling, conv 3x3, BN, ReLU, conv 3x3; shortcut: upsampling, conv 1x1."""

    def __init__(self, c_in: int, c_out: int, num_classes: int = 0):
        super().__init__()
        self.bn1 = ConditionalBatchNorm2d(c_in, num_classes)
        self.conv1 = _xavier(nn.Conv2d(c_in, c_out, 3, 1, 1), math.sqrt(2))
        self.bn2 = ConditionalBatchNorm2d(c_out, num_classes)
        self.conv2 = _xavier(nn.Conv2d(c_out, c_out, 3, 1, 1), math.sqrt(2))
        self.shortcut = _xavier(nn.Conv2d(c_in, c_out, 1), 1.0)

    def forward(self, x: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x, labels)), scale_factor=2)
        h = self.conv2(F.relu(self.bn2(self.conv1(h), labels)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2))


class DownBlock(nn.Module):
    """ReLU, conv 3x3, ReLU, conv 3x3, then 2x average pooling when ``down``; every conv spectrally normalised.

    The first block sees the image itself: no ReLU before its first conv, and its
    shortcut pools before the 1x1 conv (the paper's "optimized" block).
    """

    def __init__(self, c_in: int, c_out: int, down: bool, first: bool = False):
        super().__init__()
        self.down, self.first = down, first
        self.conv1 = spectral_norm(_xavier(nn.Conv2d(c_in, c_out, 3, 1, 1), math.sqrt(2)))
        self.conv2 = spectral_norm(_xavier(nn.Conv2d(c_out, c_out, 3, 1, 1), math.sqrt(2)))
        learnable = first or down or c_in != c_out
        self.shortcut = spectral_norm(_xavier(nn.Conv2d(c_in, c_out, 1), 1.0)) if learnable else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(F.relu(self.conv1(x if self.first else F.relu(x))))
        if self.down:
            h = F.avg_pool2d(h, 2)
        if self.first:
            return h + self.shortcut(F.avg_pool2d(x, 2))
        s = self.shortcut(x) if self.shortcut is not None else x
        return h + (F.avg_pool2d(s, 2) if self.down else s)


class ResNetGenerator(nn.Module):
    """z -> linear -> (base x base x width) -> up-blocks -> BN, ReLU, conv 3x3, tanh."""

    def __init__(self, z_dim: int, resolution: int, channels: int, width: int, num_classes: int = 0):
        super().__init__()
        self.base, stages = conv_stages(resolution)
        self.width = width
        sizes = [self.base * 2 ** i for i in range(stages + 1)]  # feature map sizes, 4 (or 7) to resolution
        ch = [channels_at(size, width) for size in sizes]
        self.project = _xavier(nn.Linear(z_dim, self.base * self.base * width), 1.0)
        self.blocks = nn.ModuleList(UpBlock(c_in, c_out, num_classes) for c_in, c_out in zip(ch[:-1], ch[1:]))
        self.out = nn.Sequential(nn.BatchNorm2d(ch[-1]), nn.ReLU(),
                                 _xavier(nn.Conv2d(ch[-1], channels, 3, 1, 1), 1.0), nn.Tanh())

    def forward(self, z: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        h = self.project(z).view(-1, self.width, self.base, self.base)  # -1, not len(z): torch.export keeps N symbolic
        for block in self.blocks:
            h = block(h, labels)
        return self.out(h)


class ResNetDiscriminator(nn.Module):
    """image -> down-blocks to 2 x base -> two more blocks -> ReLU, global sum pooling -> SN linear (+ projection)."""

    def __init__(self, resolution: int, channels: int, width: int, num_classes: int = 0):
        super().__init__()
        _, stages = conv_stages(resolution)
        downs = max(stages - 1, 1)
        ch = [channels_at(resolution // 2 ** i, width) for i in range(downs)]  # each down-block's conv size
        blocks = [DownBlock(channels, ch[0], down=True, first=True)]
        blocks += [DownBlock(c_in, c_out, down=True) for c_in, c_out in zip(ch[:-1], ch[1:])]
        blocks += [DownBlock(ch[-1], width, down=False), DownBlock(width, width, down=False)]
        self.blocks = nn.Sequential(*blocks)
        self.head = ProjectionHead(width, num_classes, sn=True)

    def forward(self, images: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        h = F.relu(self.blocks(images)).sum(dim=(2, 3))
        return self.head(h, labels)
