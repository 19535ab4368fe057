"""``catalogue``: a built-in synthetic product catalogue, drawn procedurally.

Needs no files at all, so every recipe and test can run anywhere. Image ``i``
is drawn from a generator seeded with ``(seed, i)`` alone, so it does not
change with ``size`` (a smaller catalogue is a prefix of a larger one), and the
same design is drawn at every resolution.
"""
from __future__ import annotations

import random
from typing import Optional

import numpy as np
import torch
from pydantic import Field, field_validator

from ganzoo.api import DataCheck, Dataset, ImageData, PluginConfig
from ganzoo_datasets._common import check_resolution
from ganzoo_datasets._products import PRODUCTS
from ganzoo_datasets._render import render

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
        check_resolution(self.kind, self.resolution, 16, 128)
        names = tuple(self.config.categories or CATEGORIES)
        return DataCheck(self.config.size, 3, names, ("drawn when training starts, nothing to read",))

    def load(self) -> ImageData:
        resolution = check_resolution(self.kind, self.resolution, 16, 128)
        config: CatalogueConfig = self.config
        names = tuple(config.categories or CATEGORIES)
        images = np.empty((config.size, resolution, resolution, 3), np.uint8)
        for i in range(config.size):
            # A string seed is hashed with SHA-512 by Random: stable across runs and
            # platforms, and (unlike an int seed) keeps -1 and 1 apart.
            rng = random.Random(f"ganzoo-catalogue/{config.seed}/{i}")
            images[i] = render(PRODUCTS[names[i % len(names)]](rng), rng, resolution)
        labels = torch.arange(config.size, dtype=torch.int64) % len(names)
        return ImageData(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), labels, names)
