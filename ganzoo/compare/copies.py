"""The compare report's copy check: a few images per entry beside their nearest training images, in pixels.

Cheap on purpose (16 images, pixel space, no feature extractor to train): a first look that no entry
copies its training data; `ganzoo nearest RUN` is the full check (more images, a feature space too).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from ganzoo.api import ImageData
from ganzoo.compare.recipe import Compare
from ganzoo.compare.results import EntryResult, load_generator
from ganzoo.errors import GanzooError
from ganzoo.export.generate import generate_batches
from ganzoo.host import Host
from ganzoo.metrics.contact_sheet import contact_sheet
from ganzoo.metrics.nearest import Memorisation, memorisation, nearest, pixel_features, training_distances
from ganzoo.recipe import load_data

IMAGES = 16          # generated images per entry
NEIGHBOURS = 3       # nearest training images shown for each
TRAINING_SAMPLE = 1000
SEED = 0


@dataclass
class EntryCopies:
    entry: str
    run: str
    sheet: Path
    memorisation: Memorisation


def copy_checks(compare: Compare, results: list[EntryResult], host: Host, folder: Path,
                data: Optional[ImageData]) -> list[EntryCopies]:
    """One contact sheet and memorisation figure per entry (its first run with a checkpoint); none without data."""
    if data is None:
        try:
            data = load_data(compare.runs[0].resolved, host)
        except GanzooError:  # the Samples section says why; the rest of the report still stands
            return []
    if len(data) <= NEIGHBOURS:
        return []
    training = pixel_features(data.images)
    baseline = training_distances(training, min(TRAINING_SAMPLE, len(training)), SEED)
    found = []
    for result in results:
        run = next((r for r in result.runs if r.status in ("finished", "unfinished")), None)
        if run is None:
            continue
        loaded = load_generator(run, host)
        images = torch.cat([b for _, b, _ in generate_batches(loaded.architecture, loaded.generator, IMAGES,
                                                               compare.spec.samples.seed, torch.device("cpu"))])
        distances, indices = nearest(pixel_features(images), training, NEIGHBOURS)
        figure = memorisation(distances[:, 0], baseline)
        sheet = contact_sheet(images, data.images, indices, distances, folder / f"copies-{result.entry.name}.png",
                              figure.threshold, cell=max(40, images.shape[-1]))
        found.append(EntryCopies(result.entry.name, run.run.name, sheet, figure))
    return found


def copies_note(found: list[EntryCopies]) -> str:
    if not found:
        return "No copy check: the real data could not be loaded, or no run has a checkpoint yet."
    m = found[0].memorisation
    return (f"{IMAGES} images per entry (its first run, latent seed as the samples) beside their {NEIGHBOURS} nearest "
            f"training images, in pixels (16 x 16 area averages, root-mean-square difference "
            f"0..1). *Copies* is the share of those images closer to a training image than {m.percentile:g}% of "
            f"training images are to their nearest other training image (d < {m.threshold:.3g}, red on the sheets); "
            f"about {m.percentile / 100:.0%} is expected of a generator that does not copy. `ganzoo nearest RUN` "
            f"checks more images, in a feature space too.")
