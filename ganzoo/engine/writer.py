"""What the engine writes, and where: the small interface between the training loop and a run directory.

The engine knows nothing of run directories; it hands records, grids and
checkpoints to a ``RunWriter``. ``ganzoo.rundir.RunDir`` is the implementation
``ganzoo run`` uses; a test or a notebook can pass ``None`` (nothing is written)
or a writer of its own.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import torch


class RunWriter(Protocol):
    @property
    def checkpoints(self) -> Path:
        """Folder of the checkpoints (``ganzoo.engine.checkpoint`` writes and reads it)."""

    @property
    def tensorboard_dir(self) -> Path:
        """Folder for TensorBoard event files (used when tensorboard is installed)."""

    def append_stats(self, record: dict[str, Any]) -> None:
        """Append one JSON record (a log line or an evaluation) to the run's statistics."""

    def stats_size(self) -> int:
        """Size of the statistics so far, stored in a checkpoint so a resume can cut what came after it."""

    def truncate_stats(self, size: int) -> None:
        """Drop statistics written after ``size`` (0: all of them)."""

    def save_grid(self, images: torch.Tensor, name: str) -> Path:
        """Save a sample grid (float [-1, 1] or uint8 images) as ``name`` (e.g. ``fakes00000500``); return its path."""
