"""The encoder network: a small feature pyramid with one head per style, after pSp (Richardson et al. 2021,
https://arxiv.org/abs/2008.00951).

A strided convolution stack halves the image down to 4 px; a top-down pathway (FPN) adds each coarser map,
upsampled, to the finer one below it. As in pSp, coarse styles read the coarsest map, middle styles the
middle one and fine styles the finest (4, 16 and 32 px for a 64 px image); each style has its own head
(pool to 4 x 4, then a linear layer) and predicts an offset from the average w. For a generator without
styles the one head reads the coarsest map and predicts z.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(cout, cout, 3, 1, 1),
                         nn.LeakyReLU(0.2))


class Encoder(nn.Module):
    def __init__(self, channels: int, resolution: int, width: int, out_dim: int, num_ws: int = 0,
                 groups: Optional[dict[str, list[int]]] = None):
        super().__init__()
        stages = int(math.log2(resolution // 4))
        widths = [min(width * 2 ** i, 8 * width) for i in range(stages + 1)]  # at R, R/2, ..., 4 px
        self.stem = nn.Sequential(nn.Conv2d(channels, widths[0], 3, 1, 1), nn.LeakyReLU(0.2))
        self.down = nn.ModuleList([_block(widths[i], widths[i + 1]) for i in range(stages)])
        # Pyramid levels, coarsest first: 4 px, then two finer ones where the image is big enough.
        self.levels = [stages, max(0, stages - 2), max(0, stages - 3)][: 3 if stages >= 3 else 1 + (stages >= 2)]
        self.lateral = nn.ModuleList([nn.Conv2d(widths[i], width * 4, 1) for i in self.levels])
        self.num_ws, self.out_dim = num_ws, out_dim
        level_of = {}
        for name, level in (("coarse", 0), ("middle", 1), ("fine", 2)):
            for index in (groups or {}).get(name, []):
                level_of[index] = min(level, len(self.levels) - 1)
        self.head_level = [level_of.get(i, 0) for i in range(max(1, num_ws))]
        self.heads = nn.ModuleList([nn.Linear(width * 4 * 16, out_dim) for _ in self.head_level])

    def pyramid(self, images: torch.Tensor) -> list[torch.Tensor]:
        x, maps = self.stem(images), []
        maps.append(x)
        for block in self.down:
            x = block(x)
            maps.append(x)
        top, levels = None, []
        for lateral, index in zip(self.lateral, self.levels):  # coarsest first: top-down
            here = lateral(maps[index])
            if top is not None:
                here = here + F.interpolate(top, size=here.shape[-2:], mode="bilinear", align_corners=False)
            levels.append(here)
            top = here
        return levels

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(N, num_ws, out_dim) offsets for a style generator, (N, out_dim) otherwise."""
        levels = [F.adaptive_avg_pool2d(level, 4).flatten(1) for level in self.pyramid(images)]
        out = torch.stack([head(levels[level]) for head, level in zip(self.heads, self.head_level)], dim=1)
        return out if self.num_ws else out[:, 0]
