"""Batches from an in-memory uint8 dataset, in an order that survives a resume."""
from __future__ import annotations

from typing import Optional

import torch

from ganzoo.api import ImageData, to_float_images

# Whole datasets up to this size move to the GPU once, so batches never cross the bus.
_DEVICE_RESIDENT_BYTES = 2 * 2**30


class BatchStream:
    """Endless epochs of a seeded permutation; a batch may span two epochs (nothing is dropped).

    With ``world`` processes every one draws the same global batch of
    ``world * batch_size`` positions of the permutation and keeps its own slice,
    so the processes never overlap within an epoch, and together they see the
    batches a single process with the global batch size would.
    """

    def __init__(self, data: ImageData, batch_size: int, seed: int, device: torch.device,
                 rank: int = 0, world: int = 1):
        self.batch_size = batch_size
        self.rank, self.world = rank, world
        self.device = device
        self.generator = torch.Generator().manual_seed(seed)
        on_device = device.type != "cpu" and data.images.numel() <= _DEVICE_RESIDENT_BYTES
        self.images = data.images.to(device) if on_device else data.images
        self.labels = data.labels.to(self.images.device) if data.labels is not None else None
        self.order = torch.empty(0, dtype=torch.int64)
        self.position = 0
        self.epoch = 0

    def _indices(self) -> torch.Tensor:
        pieces, needed = [], self.batch_size * self.world
        while needed:
            if self.position == len(self.order):
                self.order = torch.randperm(len(self.images), generator=self.generator)
                self.position, self.epoch = 0, self.epoch + 1
            take = min(needed, len(self.order) - self.position)
            pieces.append(self.order[self.position:self.position + take])
            self.position += take
            needed -= take
        everyone = torch.cat(pieces)
        return everyone if self.world == 1 else everyone[self.rank * self.batch_size:(self.rank + 1) * self.batch_size]

    def next(self) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        index = self._indices().to(self.images.device)
        images = to_float_images(self.images[index].to(self.device, non_blocking=True))
        labels = self.labels[index].to(self.device) if self.labels is not None else None
        return images, labels

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "order": self.order,
                "position": self.position, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.order, self.position, self.epoch = state["order"], state["position"], state["epoch"]
