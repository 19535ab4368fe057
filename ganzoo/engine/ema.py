"""Exponential moving average of the generator's weights (Karras et al. 2018)."""
from __future__ import annotations

import copy
from typing import Optional

import torch
from torch import nn


class EMA:
    """Keeps ``module``'s averaged copy; the decay comes from a half-life in images, so it
    does not depend on the batch size. Buffers (e.g. batch-norm statistics) are copied.

    With ``rampup`` the half-life is at most ``rampup`` x images seen so far (StyleGAN2-ADA's
    ``ema_rampup``), so early in training the average is not dominated by the random init.
    """

    def __init__(self, module: nn.Module, half_life_images: int, batch_size: int, rampup: Optional[float] = None):
        self.module = copy.deepcopy(module).eval().requires_grad_(False)
        self.half_life_images, self.batch_size, self.rampup = half_life_images, batch_size, rampup

    def beta(self, images_seen: int) -> float:
        half_life = self.half_life_images
        if self.rampup is not None:
            half_life = min(half_life, self.rampup * images_seen)
        return 0.5 ** (self.batch_size / max(half_life, 1e-8))

    @torch.no_grad()
    def update(self, source: nn.Module, images_seen: int) -> None:
        weight = 1.0 - self.beta(images_seen)
        for ema_p, p in zip(self.module.parameters(), source.parameters()):
            ema_p.lerp_(p.detach(), weight)
        for ema_b, b in zip(self.module.buffers(), source.buffers()):
            ema_b.copy_(b)
