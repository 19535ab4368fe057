"""``catalogue``: a built-in synthetic product catalogue, drawn procedurally.

Needs no files at all, so every recipe and test can run anywhere. Image ``i``
is drawn from a generator seeded with ``(seed, i)`` alone, so it does not
change with ``size`` (a smaller catalogue is a prefix of a larger one), and the
same design is drawn at every resolution.
"""
from __future__ import annotations

import functools
from typing import Optional

import torch
from pydantic import Field, field_validator

import ganzoo_datasets
from ganzoo.api import DataCheck, Dataset, GanzooError, ImageData, PluginConfig
from ganzoo_datasets._common import check_resolution
from ganzoo_datasets._products import PRODUCTS
from ganzoo_datasets._render import draw

CATEGORIES: tuple[str, ...] = tuple(PRODUCTS)


class CatalogueConfig(PluginConfig):
    # At most a million: the whole set is held in memory (3 GB at 32x32); a typo of 10**9 must not take the machine.
    size: int = Field(6000, ge=1, le=1_000_000, description="Number of images to draw (at most 1,000,000).")
    seed: int = Field(0, description="Seed of the drawing; the same seed always gives the same images.")
    categories: Optional[list[str]] = Field(
        None, description=f"Product categories to draw, in label order (default: all of {', '.join(CATEGORIES)}).")

    @field_validator("categories")
    @classmethod
    def _known_categories(cls, value: Optional[list[str]]) -> Optional[list[str]]:
        if value is None:
            return None
        names = [name.strip().lower() for name in value]
        unknown = [name for name in names if name not in PRODUCTS]
        if unknown or not names or len(set(names)) != len(names):
            problem = (f"unknown categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(map(repr, unknown))}"
                       if unknown else "the list is empty" if not names else "a category is listed twice")
            raise ValueError(f"catalogue categories: {problem}. Choose one or more distinct names from: "
                             f"{', '.join(CATEGORIES)}; or leave 'categories' out to use them all.")
        return names


class CatalogueDataset(Dataset):
    """Products (t-shirts, trousers, dresses, sneakers, handbags, mugs) on white.

    Colours (saturated, muted or dark), fill patterns (solid, stripes, dots,
    checks), scale, position, mirroring and a small rotation all vary. Image
    ``i`` shows category ``i % len(categories)``, so classes are balanced and
    the label of an image never depends on ``size``.
    """

    kind = "catalogue"
    description = "Synthetic product catalogue drawn procedurally (no download needed)."
    Config = CatalogueConfig

    def check(self) -> DataCheck:
        check_resolution(self.kind, self.resolution, 16, 512)
        names = tuple(self.config.categories or CATEGORIES)
        return DataCheck(self.config.size, 3, names, ("drawn when training starts, nothing to read",))

    def load(self) -> ImageData:
        """Drawn on every core the first time, then read back from the decoded-data cache (512 px: ~60 ms each)."""
        resolution = check_resolution(self.kind, self.resolution, 16, 512)
        config: CatalogueConfig = self.config
        names = tuple(config.categories or CATEGORIES)
        fingerprint = {"plugin": f"ganzoo-datasets {ganzoo_datasets.__version__}", "seed": config.seed,
                       "size": config.size, "categories": names, "resolution": resolution}

        def labels(kept: list[int]) -> tuple:
            return torch.tensor(kept, dtype=torch.int64) % len(names), names

        loaded = self.cache.load(self.kind, lambda: fingerprint, range(config.size),
                                 functools.partial(draw, seed=config.seed, names=names, resolution=resolution),
                                 (3, resolution, resolution), labels)
        if loaded.skipped:  # drawing cannot fail on good input: a failure is a bug, not a bad file
            index, why = loaded.skipped[0]
            raise GanzooError(f"Drawing catalogue image {index} failed ({why}); this is a bug in ganzoo-datasets.")
        return loaded.data
