"""Writing images and grids (torchvision does the tiling, PIL the encoding)."""
from __future__ import annotations

import math
from pathlib import Path

import torch
from PIL import Image

from ganzoo.api import to_uint8_images
from ganzoo.fileio import atomic_path


def to_pil(image: torch.Tensor) -> Image.Image:
    """One uint8 (C, H, W) tensor -> PIL image (L or RGB)."""
    array = image.permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array, mode="L" if array.shape[2] == 1 else "RGB")


def grid_columns(count: int) -> int:
    """Columns of a square-ish grid of ``count`` images (the engine lays out one class per row with it)."""
    return max(1, math.ceil(math.sqrt(count)))


def save_grid(images: torch.Tensor, path: Path, columns: int | None = None) -> Path:
    """Save float [-1, 1] or uint8 images as one PNG grid, atomically."""
    if images.dtype != torch.uint8:
        images = to_uint8_images(images)
    from torchvision.utils import make_grid  # imported here: torchvision costs ~1 s at every CLI start

    grid = make_grid(images.cpu(), nrow=columns or grid_columns(len(images)), padding=1, pad_value=255)
    image = to_pil(grid if images.shape[1] != 1 else grid[:1])
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
    return path
