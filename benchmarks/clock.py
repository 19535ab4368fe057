"""A training callback that times the steps after a warm-up: what every training benchmark measures."""
from __future__ import annotations

import time

import torch

from ganzoo.engine import Callback


class WarmupClock(Callback):
    """Starts at the log record of step ``warmup`` (set ``log_every=warmup``), stops at the end; waits for the
    GPU at both marks so queued kernels are counted."""

    def __init__(self, warmup: int, device: torch.device):
        self.warmup, self.device = warmup, device
        self.t0 = self.t1 = 0.0
        self.images0 = self.images1 = 0

    def _now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter()

    def on_log(self, trainer, record):
        if record["step"] == self.warmup:
            self.t0, self.images0 = self._now(), record["images_seen"]

    def on_end(self, trainer, summary):
        self.t1, self.images1 = self._now(), summary["images_seen"]

    @property
    def seconds(self) -> float:
        return self.t1 - self.t0

    @property
    def images_per_s(self) -> float:
        """Real images shown to the discriminator per second, after the warm-up."""
        return (self.images1 - self.images0) / self.seconds
