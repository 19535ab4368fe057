"""``whiten_background`` and ``sharpen``: pixel values, not geometry."""
from __future__ import annotations

from typing import Literal

import numpy as np
from PIL import Image, ImageFilter
from pydantic import Field

from ganzoo.api import PluginConfig, PostProcessor
from ganzoo_postprocess._common import join_alpha, split_alpha


class WhitenConfig(PluginConfig):
    threshold: int = Field(240, ge=0, le=255, description="A pixel is near-white when every channel is at least this.")
    connectivity: Literal[4, 8] = Field(
        4, description="Neighbours that connect near-white pixels: 4 (edges only, safer) or 8 (corners too).")


class WhitenBackground(PostProcessor):
    """Near-white pixels connected to the image border become pure white (255); the product's own whites stay."""

    kind = "whiten_background"
    Config = WhitenConfig
    description = "Near-white background connected to the border becomes pure white (marketplaces want 255)"

    def __call__(self, image, meta):
        colour, alpha = split_alpha(image)
        pixels = np.array(colour)
        near = pixels >= self.config.threshold
        if near.ndim == 3:
            near = near.all(axis=2)
        from scipy import ndimage  # imported here: scipy adds ~0.5 s to every CLI start

        structure = ndimage.generate_binary_structure(2, 1 if self.config.connectivity == 4 else 2)
        labels, count = ndimage.label(near, structure=structure)
        if count == 0:
            return image
        border = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
        background = np.isin(labels, np.unique(border[border > 0]))
        pixels[background] = 255
        return join_alpha(Image.fromarray(pixels, colour.mode), alpha)


class SharpenConfig(PluginConfig):
    radius: float = Field(1.0, gt=0, le=50, description="Blur radius of the unsharp mask, in pixels.")
    percent: int = Field(80, ge=1, le=500, description="Strength: how much of the difference is added back.")
    threshold: int = Field(2, ge=0, le=255, description="Differences below this are left alone "
                                                        "(keeps flat areas clean).")


class Sharpen(PostProcessor):
    """Unsharp mask (on the colour channels; transparency is kept as it is)."""

    kind = "sharpen"
    Config = SharpenConfig
    description = "Unsharp mask"

    def __call__(self, image, meta):
        c = self.config
        colour, alpha = split_alpha(image)
        return join_alpha(colour.filter(ImageFilter.UnsharpMask(c.radius, c.percent, c.threshold)), alpha)
