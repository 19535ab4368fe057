"""StyleGAN2's generator (mapping + skip synthesis) and residual discriminator, compact."""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ganzoo_stylegan_lite.layers import (
    EqualConv2d,
    EqualLinear,
    SynthesisLayer,
    ToRGB,
    minibatch_stddev,
    normalize_2nd_moment,
)

# Above 128 px, StyleGAN2's own schedule (channel_base 32768: 128 channels at 256, 64 at 512) caps the channels too,
# so the "paper" preset does not run 512 channels at 512 x 512. Networks up to 128 px are as they always were.
CHANNEL_BASE, CAPPED_ABOVE = 32768, 128


def channels_at(resolution: int, final: int, width: int, max_width: int) -> int:
    """Feature channels at ``resolution``: ``width`` at the final resolution, doubling per halving, capped
    (by ``max_width``, and above 128 px by StyleGAN2's ``32768 / resolution``)."""
    channels = min(width * final // resolution, max_width)
    return min(channels, CHANNEL_BASE // resolution) if resolution > CAPPED_ABOVE else channels


class MappingNetwork(nn.Module):
    """z (and a class embedding) -> w through an MLP with a 0.01 learning-rate multiplier.

    Tracks the running mean of w (``w_avg``) during training for the truncation trick.
    """

    def __init__(self, z_dim: int, w_dim: int, layers: int, num_classes: int = 0, lr_mul: float = 0.01,
                 w_avg_beta: float = 0.995):
        super().__init__()
        self.embed = EqualLinear(num_classes, w_dim) if num_classes else None
        self.num_classes = num_classes
        dims = [z_dim + (w_dim if num_classes else 0)] + [w_dim] * layers
        self.net = nn.Sequential(*[EqualLinear(a, b, lr_mul=lr_mul, activation=True)
                                   for a, b in zip(dims[:-1], dims[1:])])
        self.register_buffer("w_avg", torch.zeros(w_dim))
        self.w_avg_beta = w_avg_beta

    def forward(self, z: torch.Tensor, labels: Optional[torch.Tensor] = None, truncation: float = 1.0) -> torch.Tensor:
        x = normalize_2nd_moment(z)
        if self.embed is not None:
            onehot = F.one_hot(labels, self.num_classes).to(z.dtype)
            x = torch.cat([x, normalize_2nd_moment(self.embed(onehot))], dim=1)
        w = self.net(x)
        if self.training:
            with torch.no_grad():
                self.w_avg.copy_(w.detach().float().mean(0).lerp(self.w_avg, self.w_avg_beta))
        if truncation != 1.0:
            w = self.w_avg.to(w.dtype).lerp(w, truncation)
        return w


class SynthesisNetwork(nn.Module):
    """Learned 4x4 constant, then per resolution: (up-conv, conv) and a ToRGB added to the upsampled image."""

    def __init__(self, w_dim: int, resolution: int, channels: int, width: int, max_width: int):
        super().__init__()
        self.resolutions = [2 ** i for i in range(2, int(math.log2(resolution)) + 1)]
        ch = {r: channels_at(r, resolution, width, max_width) for r in self.resolutions}
        self.const = nn.Parameter(torch.randn(ch[4], 4, 4))
        self.layers = nn.ModuleList()
        self.to_rgb = nn.ModuleList()
        for r in self.resolutions:
            if r == 4:
                self.layers.append(nn.ModuleList([SynthesisLayer(ch[4], ch[4], w_dim, 4)]))
            else:
                self.layers.append(nn.ModuleList([SynthesisLayer(ch[r // 2], ch[r], w_dim, r, up=True),
                                                  SynthesisLayer(ch[r], ch[r], w_dim, r)]))
            self.to_rgb.append(ToRGB(ch[r], channels, w_dim))
        self.num_ws = sum(len(block) for block in self.layers) + 1  # +1: the last ToRGB

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        """``ws``: (N, num_ws, w_dim), one w per layer (they differ under style mixing)."""
        x = self.const[None].expand(ws.shape[0], -1, -1, -1)
        image, index = None, 0
        for block, to_rgb in zip(self.layers, self.to_rgb):
            for layer in block:
                x = layer(x, ws[:, index])
                index += 1
            rgb = to_rgb(x, ws[:, index])  # ToRGB shares the w of the next block's first layer, as in StyleGAN2
            image = rgb if image is None else F.interpolate(image, scale_factor=2, mode="bilinear",
                                                            align_corners=False) + rgb
        return image


class Generator(nn.Module):
    def __init__(self, z_dim: int, w_dim: int, mapping_layers: int, resolution: int, channels: int,
                 width: int, max_width: int, num_classes: int = 0, style_mixing: float = 0.9):
        super().__init__()
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers, num_classes)
        self.synthesis = SynthesisNetwork(w_dim, resolution, channels, width, max_width)
        self.style_mixing = style_mixing
        self.register_buffer("pl_mean", torch.zeros([]))  # running path length, for the optional regulariser

    def ws(self, z: torch.Tensor, labels: Optional[torch.Tensor] = None, truncation: float = 1.0) -> torch.Tensor:
        """Per-layer w, with style mixing during training: from a random layer on, w of a second z."""
        w = self.mapping(z, labels, truncation)
        ws = w[:, None].repeat(1, self.synthesis.num_ws, 1)
        if self.training and self.style_mixing > 0:
            cutoff = int(torch.randint(1, self.synthesis.num_ws, ()))
            if float(torch.rand(())) < self.style_mixing:
                ws[:, cutoff:] = self.mapping(torch.randn_like(z), labels)[:, None]
        return ws

    def forward(self, z: torch.Tensor, labels: Optional[torch.Tensor] = None, truncation: float = 1.0) -> torch.Tensor:
        return self.synthesis(self.ws(z, labels, truncation))


class DiscriminatorBlock(nn.Module):
    """Two 3x3 convs (the second downsampling) plus a 1x1 downsampling skip, summed at unit variance."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv0 = EqualConv2d(in_channels, in_channels, 3, activation=True)
        self.conv1 = EqualConv2d(in_channels, out_channels, 3, activation=True, down=True)
        self.skip = EqualConv2d(in_channels, out_channels, 1, bias=False, down=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.skip(x) + self.conv1(self.conv0(x))) / math.sqrt(2)


class Discriminator(nn.Module):
    def __init__(self, resolution: int, channels: int, width: int, max_width: int, num_classes: int = 0,
                 mbstd_group: int = 4):
        super().__init__()
        resolutions = [2 ** i for i in range(int(math.log2(resolution)), 2, -1)]  # R, R/2, ..., 8
        ch = {r: channels_at(r, resolution, width, max_width) for r in resolutions + [4]}
        self.from_rgb = EqualConv2d(channels, ch[resolution], 1, activation=True)
        self.blocks = nn.Sequential(*[DiscriminatorBlock(ch[r], ch[r // 2]) for r in resolutions])
        self.mbstd_group = mbstd_group
        self.conv = EqualConv2d(ch[4] + 1, ch[4], 3, activation=True)
        self.fc = EqualLinear(ch[4] * 16, ch[4], activation=True)
        # The output layers use the equalised learning rate like every other layer (StyleGAN2's epilogue):
        # a plain nn.Linear here would learn ~10x faster than the rest under Adam at lr 0.0025.
        self.out = EqualLinear(ch[4], 1)
        # Conditional: a projection discriminator, as StyleGAN2-ADA's cmap: <embed(y), h> / sqrt(dim).
        self.embed = EqualLinear(num_classes, ch[4]) if num_classes else None
        self.num_classes = num_classes

    def forward(self, images: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        x = self.blocks(self.from_rgb(images))
        x = self.conv(minibatch_stddev(x, self.mbstd_group))
        h = self.fc(x.flatten(1))
        logits = self.out(h).flatten()
        if self.embed is not None:
            if labels is None:
                raise ValueError("this discriminator is conditional: pass class labels")
            cmap = self.embed(F.one_hot(labels, self.num_classes).to(h.dtype))
            logits = logits + (cmap * h).sum(dim=1) / math.sqrt(h.shape[1])
        return logits
