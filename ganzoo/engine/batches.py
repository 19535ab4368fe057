"""Batches from a uint8 dataset, in an order that survives a resume, wherever the images live.

Three places, one order: the whole dataset on the GPU (small data on CUDA: batches never
cross the bus); in memory (index it); or in a file (the decoded-data cache for data larger
than memory allows: each batch read with one positioned read per image, so memory holds a
batch, not the file). Reads from a file, and on CUDA copies of a batch from memory, are
done for the next batch while this one trains: into pinned memory, copied asynchronously.
"""
from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from ganzoo.api import ImageData, to_float_images

# Whole datasets up to this size move to the GPU once, so batches never cross the bus.
_DEVICE_RESIDENT_BYTES = 2 * 2**30


def _read_into(fd: int, target: memoryview, offset: int) -> int:
    if hasattr(os, "preadv"):  # Linux, the BSDs: straight into the batch
        return os.preadv(fd, [target], offset)
    data = os.pread(fd, len(target), offset)  # macOS: one copy more
    target[:len(data)] = data
    return len(data)


class FileRows:
    """Rows of a raw (N, C, H, W) uint8 file, read by index without mapping the file."""

    def __init__(self, path: Path, shape: tuple[int, ...]):
        self.path, self.shape = Path(path), tuple(shape)
        self.row = int(np.prod(shape[1:]))
        self.fd = os.open(self.path, os.O_RDONLY)

    def read(self, index: torch.Tensor, pin: bool = False) -> torch.Tensor:
        out = torch.empty((len(index), *self.shape[1:]), dtype=torch.uint8, pin_memory=pin)
        rows = out.numpy().reshape(len(index), self.row)
        for slot in np.argsort(index.numpy(), kind="stable"):  # ascending offsets: friendlier to a disk
            target, offset = memoryview(rows[slot]), int(index[slot]) * self.row
            while target:  # a positioned read may return fewer bytes than asked; read the rest
                got = _read_into(self.fd, target, offset)
                if got == 0:
                    raise OSError(f"{self.path} ended early: is the decoded-data cache truncated?")
                target, offset = target[got:], offset + got
        return out

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    __del__ = close  # one open file per training session, closed with it

    def __getstate__(self) -> dict:
        raise TypeError("FileRows holds an open file; make a new one instead of copying it")


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
        cuda = device.type == "cuda"
        self.file = FileRows(data.file, tuple(data.images.shape)) if data.file is not None else None
        on_device = device.type != "cpu" and self.file is None and data.images.numel() <= _DEVICE_RESIDENT_BYTES
        self.images = data.images.to(device) if on_device else data.images
        self.labels = data.labels.to(self.images.device) if data.labels is not None else None
        self.pin = cuda and not on_device
        # Read ahead when a batch has to come from a file, or from host memory into a GPU.
        self.reader = ThreadPoolExecutor(1, thread_name_prefix="ganzoo-batches") if (
            self.file is not None or self.pin) else None
        self.ahead: Optional[tuple[torch.Tensor, Future, dict]] = None
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

    def _gather(self, index: torch.Tensor) -> torch.Tensor:
        """The batch's uint8 images on the host (pinned for a GPU), from the file or from memory."""
        if self.file is not None:
            return self.file.read(index, self.pin)
        out = torch.empty((len(index), *self.images.shape[1:]), dtype=torch.uint8, pin_memory=self.pin)
        return torch.index_select(self.images, 0, index, out=out)

    def _read_ahead(self) -> None:
        """Draw the next batch's indices now and start reading it; state_dict still describes this batch."""
        state = self._state()
        index = self._indices()
        self.ahead = (index, self.reader.submit(self._gather, index), state)

    def next(self) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        if self.reader is None:
            index = self._indices().to(self.images.device)
            images = to_float_images(self.images[index].to(self.device, non_blocking=True))
            labels = self.labels[index].to(self.device) if self.labels is not None else None
            return images, labels
        if self.ahead is None:
            self._read_ahead()
        index, pending, _ = self.ahead
        uint8 = pending.result()
        self._read_ahead()
        images = to_float_images(uint8.to(self.device, non_blocking=True))
        labels = self.labels[index].to(self.device, non_blocking=True) if self.labels is not None else None
        return images, labels

    def _state(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "order": self.order,
                "position": self.position, "epoch": self.epoch}

    def state_dict(self) -> dict:
        # Reading ahead drew one batch more than was trained on: save the state from before that draw.
        return self.ahead[2] if self.ahead is not None else self._state()

    def load_state_dict(self, state: dict) -> None:
        self.ahead = None
        self.generator.set_state(state["generator"])
        self.order, self.position, self.epoch = state["order"], state["position"], state["epoch"]
