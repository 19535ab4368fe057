"""Reading one image file as the folder dataset trains on it: PIL and numpy only.

Kept apart from the plugin (which imports torch) so decode workers, forked or spawned,
load nothing else.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

_SIXTEEN_BIT = {"I", "I;16", "I;16L", "I;16B", "I;16N"}


def to_rgb(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """Any PIL mode to RGB, with transparency flattened onto the background."""
    if image.mode in _SIXTEEN_BIT:  # convert() would clip 16-bit grey to 255, not scale it
        image = Image.fromarray((np.asarray(image, np.float32) / 257.0).round().clip(0, 255).astype(np.uint8), "L")
    if "A" in image.mode or "transparency" in image.info:
        layer = Image.new("RGBA", image.size, (*background, 255))
        layer.alpha_composite(image.convert("RGBA"))
        image = layer
    return image.convert("RGB")


def read_image(path: Path, resolution: int, fit: str, background: tuple[int, int, int]) -> np.ndarray:
    with Image.open(path) as image:
        image.draft(None, (2 * resolution, 2 * resolution))  # JPEG: decode big photos at reduced size
        image.load()
        image = to_rgb(ImageOps.exif_transpose(image), background)
    size, lanczos = (resolution, resolution), Image.Resampling.LANCZOS
    if fit == "pad":
        return np.asarray(ImageOps.pad(image, size, lanczos, color=background))
    return np.asarray(ImageOps.fit(image, size, lanczos))


def read_under(relative: Path, root: Path, resolution: int, fit: str, background: tuple[int, int, int]) -> np.ndarray:
    """``read_image(root / relative, ...)``: the form the decoded-data cache's workers call."""
    return read_image(root / relative, resolution, fit, background)
