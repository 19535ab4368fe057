"""The Samples section's images: each run's grid from its generator, and the real data's grid beside them.

Both lay images out the same way (``samples.count`` images, ``grid_columns`` columns; one class per row for
class-conditional entries, the rows in the same order), so a reader can compare them cell by cell.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

from ganzoo.api import ImageData
from ganzoo.compare.recipe import Compare
from ganzoo.compare.results import EntryResult, load_generator
from ganzoo.engine.images import grid_columns, save_grid
from ganzoo.errors import GanzooError
from ganzoo.export.generate import generate_batches
from ganzoo.host import Host
from ganzoo.recipe import load_data

REAL_GRID = "real-data.png"


def row_classes(count: int, num_classes: int) -> torch.Tensor:
    """Each grid position's class: one class per row, cycling through the classes (the engine's grid layout)."""
    return torch.arange(count) // grid_columns(count) % num_classes


def real_choice(data: ImageData, count: int, seed: int, by_class: bool) -> torch.Tensor:
    """Indices of ``count`` real images, drawn with ``seed``. ``by_class``: the rows of ``row_classes``, as the
    conditional entries' grids; -1 where a class has no images. An image repeats only when the data (or its
    class) holds fewer images than the grid."""
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    if not by_class:
        return order[torch.arange(count) % len(order)]
    wanted = row_classes(count, data.spec.num_classes)
    picks = torch.full((count,), -1, dtype=torch.int64)
    for label in wanted.unique().tolist():
        pool = order[data.labels[order] == label]
        where = (wanted == label).nonzero().flatten()
        if len(pool):
            picks[where] = pool[torch.arange(len(where)) % len(pool)]
    return picks


def real_grid(compare: Compare, results: list[EntryResult], host: Host, folder: Path,
              data: Optional[ImageData] = None) -> Path | str:
    """The compare's data as a grid like the runs' (same count and columns), or why it could not be loaded."""
    try:
        data = data if data is not None else load_data(compare.runs[0].resolved, host)
    except GanzooError as exc:  # e.g. the dataset's files moved since training: the rest of the report still stands
        return f"the real data could not be loaded: {exc}"
    by_class = any(r.conditional for r in results) and data.labels is not None
    picks = real_choice(data, compare.spec.samples.count, compare.spec.samples.seed, by_class)
    images = data.images[picks.clamp(min=0)].clone()
    images[picks < 0] = 255  # a class without images keeps its rows, blank, so rows still match the entries'
    return save_grid(images, folder / REAL_GRID, grid_columns(len(images)))


def sample_grids(compare: Compare, results: list[EntryResult], host: Host, folder: Path) -> dict[str, Path]:
    """Each finished run's generator on the same latent seed (and one class per row when conditional)."""
    count, seed = compare.spec.samples.count, compare.spec.samples.seed
    grids = {}
    for result in results:
        for run in result.runs:
            if run.status not in ("finished", "unfinished"):
                continue
            loaded = load_generator(run, host)
            architecture = loaded.architecture
            labels = None
            if architecture.conditional:
                labels = row_classes(count, architecture.image.num_classes)
            images = torch.cat([b for _, b, _ in generate_batches(architecture, loaded.generator, count, seed,
                                                                   torch.device("cpu"), labels=labels)])
            grids[run.run.name] = save_grid(images, folder / f"samples-{run.run.name}.png")
    return grids
