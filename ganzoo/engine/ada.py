"""Adaptive discriminator augmentation: the probability p and the overfitting heuristic that steers it.

Karras et al. 2020 (https://arxiv.org/abs/2006.06676, section 3): r_t = E[sign(D(x))]
over the augmented reals the discriminator scored; every ``interval`` of its batches,
p moves by sign(r_t - target) x (images in those batches) / ``speed_images``, clamped
to [0, 1], so it can cross from 0 to 1 in ``speed_images`` images. Architectures hand
their real logits over through ``PhaseInputs.report_real_logits`` (plugin API 1.3).

Signs are summed on the device (no sync per batch); the one sync is at each
adjustment, where the sums of every process are reduced so all hold the same p.
"""
from __future__ import annotations

from typing import Any, Optional

import torch

from ganzoo.engine import distributed
from ganzoo.engine.ada_pipeline import ada_augment
from ganzoo.engine.settings import AdaSettings
from ganzoo.errors import RecipeError


class AdaptiveAugment:
    """The engine's ``augment`` under ``train.augment: ada``: call it on images, report real logits to it."""

    def __init__(self, settings: AdaSettings, device: torch.device):
        self.settings = settings
        self.p = settings.fixed_p if settings.fixed_p is not None else 0.0
        self.rt: Optional[float] = None  # r_t at the last adjustment (logged)
        self.reports = 0  # batches reported since the start of this session (to catch architectures that never do)
        self._signs = torch.zeros((), device=device)
        self._count = 0  # logits summed in _signs
        self._batches = 0  # batches summed in _signs

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return ada_augment(images, self.p)

    def report(self, real_logits: torch.Tensor) -> None:
        """Add one batch of the discriminator's outputs on augmented reals (``PhaseInputs.report_real_logits``)."""
        self._signs += real_logits.detach().float().sign().sum()
        self._count += real_logits.numel()
        self._batches += 1
        self.reports += 1

    def adjust(self) -> None:
        """After each update: once ``interval`` batches were reported, move p and start a new sum."""
        if self._batches < self.settings.interval:
            return
        # The mean over processes of (sum, count) has the global ratio; count x world is the global count.
        signs, count = distributed.all_reduce_mean(
            torch.stack([self._signs, torch.tensor(float(self._count), device=self._signs.device)])).tolist()
        self.rt = signs / count
        if self.settings.fixed_p is None:
            images = round(count * distributed.world_size())
            direction = (self.rt > self.settings.target) - (self.rt < self.settings.target)
            self.p = min(max(self.p + direction * images / self.settings.speed_images, 0.0), 1.0)
        self._signs.zero_()
        self._count = self._batches = 0

    def check_reported(self, kind: str, reports_before: int) -> None:
        """After a step that trained the discriminator on reals: refuse an architecture that reported nothing."""
        if self.settings.fixed_p is None and self.reports == reports_before:
            raise RecipeError(
                f"train.augment is 'ada', but architecture '{kind}' does not report its discriminator's outputs on "
                f"real images, so p could never adapt. Use a fixed augmentation instead (train.augment: [color, "
                f"translation, cutout], or train.ada.fixed_p), or update the plugin: its discriminator loss must "
                f"call x.report_real_logits(real_logits) (plugin API 1.3; losses.discriminator_step does).")

    # -- checkpoint: p, r_t and this process's partial sums, so a resume adjusts exactly when it would have
    def state_dict(self) -> dict[str, Any]:
        return {"p": self.p, "rt": self.rt, "signs": self._signs.detach().cpu(), "count": self._count,
                "batches": self._batches}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.p, self.rt = float(state["p"]), state["rt"]
        self._signs = state["signs"].to(self._signs.device)
        self._count, self._batches = int(state["count"]), int(state["batches"])
