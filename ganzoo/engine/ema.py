"""Exponential moving average of the generator's weights (Karras et al. 2018)."""
from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """Keeps ``module``'s averaged copy; the decay comes from a half-life in images, so it
    does not depend on the batch size. Buffers (e.g. batch-norm statistics) are copied."""

    def __init__(self, module: nn.Module, half_life_images: int, batch_size: int):
        self.module = copy.deepcopy(module).eval().requires_grad_(False)
        self.beta = 0.5 ** (batch_size / half_life_images)

    @torch.no_grad()
    def update(self, source: nn.Module) -> None:
        for ema_p, p in zip(self.module.parameters(), source.parameters()):
            ema_p.lerp_(p.detach(), 1.0 - self.beta)
        for ema_b, b in zip(self.module.buffers(), source.buffers()):
            ema_b.copy_(b)
