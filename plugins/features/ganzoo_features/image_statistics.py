"""Measured image statistics, the second half of the ``domain`` features: colour and fine detail, by formula.

A small network trained for minutes sees colour and shape well but fine
grain (noise, JPEG blocks, slight blur) only weakly, and how well depends on
its training. These few numbers see them by construction:

- colour: mean and spread of luma and two opponent colours (red-green,
  yellow-blue) over the image, and their means in each quarter;
- detail: the mean absolute Laplacian of luma at full and half size, and of
  the two opponent colours at full size (noise raises it, blur lowers it).

Each statistic is standardised with the training data's mean and spread, and
the block is scaled so its total variance is ``STATISTICS_SHARE`` of the
learned features': neither half drowns the other in FID's sum.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

STATISTICS_SHARE = 0.5
LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
DIMS = 3 * 2 + 3 * 4 + 4


def _opponent(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] images (N, 1 or 3, H, W) -> luma, red-green, yellow-blue (grey images: zero colour)."""
    if x.shape[1] == 1:
        return torch.cat([x, torch.zeros_like(x), torch.zeros_like(x)], 1)
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return torch.cat([0.299 * r + 0.587 * g + 0.114 * b, r - g, 0.5 * (r + g) - b], 1)


def _detail(channel: torch.Tensor) -> torch.Tensor:
    kernel = LAPLACIAN.to(channel).view(1, 1, 3, 3)
    return F.conv2d(F.pad(channel, (1, 1, 1, 1), mode="replicate"), kernel).abs().mean((1, 2, 3))


def raw_statistics(x: torch.Tensor) -> torch.Tensor:
    """(N, DIMS) unscaled statistics of [-1, 1] images; each image on its own."""
    o = _opponent(x.float())
    quarters = F.adaptive_avg_pool2d(o, 2).flatten(1)
    half = F.avg_pool2d(o[:, :1], 2) if min(o.shape[-2:]) >= 4 else o[:, :1]
    detail = torch.stack([_detail(o[:, :1]), _detail(half), _detail(o[:, 1:2]), _detail(o[:, 2:3])], 1)
    return torch.cat([o.mean((2, 3)), o.std((2, 3)), quarters, detail], 1)


class ImageStatistics(nn.Module):
    """Standardised, scaled statistics; ``fit`` sets the buffers from training data."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.zeros(DIMS))
        self.register_buffer("scale", torch.ones(DIMS))

    @torch.no_grad()
    def fit(self, raw: torch.Tensor, learned_total_variance: float) -> None:
        """Standardise each statistic over ``raw`` and give the block STATISTICS_SHARE of the learned variance."""
        spread = raw.std(0).clamp_min(1e-6)  # a constant statistic (grey data's colour) stays zero
        constant = raw.std(0) < 1e-6
        per_dim = (STATISTICS_SHARE * learned_total_variance / max(int((~constant).sum()), 1)) ** 0.5
        self.mean.copy_(raw.mean(0))
        self.scale.copy_(torch.where(constant, torch.zeros_like(spread), per_dim / spread))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (raw_statistics(x) - self.mean) * self.scale
