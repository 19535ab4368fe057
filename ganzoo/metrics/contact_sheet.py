"""The copy check's contact sheet: one row per generated image, then its k nearest training images with distances."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
from PIL import Image, ImageDraw, ImageFont

from ganzoo.engine.images import to_pil
from ganzoo.fileio import atomic_path

CELL = 96        # images are enlarged (nearest neighbour, no blur) to at least this many pixels
CAPTION = 14     # pixels under each image for its caption
GAP = 4
SEPARATOR = 10   # extra space between the generated image and its neighbours


def contact_sheet(generated: torch.Tensor, training: torch.Tensor, indices: torch.Tensor, distances: torch.Tensor,
                  path: Path, threshold: Optional[float] = None, title: str = "", cell: int = CELL) -> Path:
    """Write the sheet as a PNG. ``generated`` uint8 (Q, C, H, W); ``training`` uint8 (R, C, H, W); ``indices`` and
    ``distances`` (Q, k). Distances below ``threshold`` (closer than training images are to each other) are red.
    Images are shown at ``cell`` pixels at least."""
    q, k = indices.shape
    size = max(cell, generated.shape[-1])
    width = GAP + (size + GAP) * (k + 1) + SEPARATOR
    top = CAPTION + GAP if title else 0
    height = top + GAP + (size + CAPTION + GAP) * q
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    if title:
        draw.text((GAP, 2), title, fill="black", font=font)

    def place(image: torch.Tensor, column: int, row: int, caption: str, colour: str = "black") -> None:
        x = GAP + column * (size + GAP) + (SEPARATOR if column else 0)
        y = top + GAP + row * (size + CAPTION + GAP)
        sheet.paste(to_pil(image).convert("RGB").resize((size, size), Image.NEAREST), (x, y))
        draw.text((x, y + size + 1), caption, fill=colour, font=font)

    for row in range(q):
        place(generated[row], 0, row, f"generated {row}")
        for column in range(k):
            d = float(distances[row, column])
            close = threshold is not None and d < threshold
            place(training[int(indices[row, column])], column + 1, row, f"#{int(indices[row, column])} d={d:.3g}",
                 "red" if close else "black")
    with atomic_path(path) as tmp:
        sheet.save(tmp, format="PNG")
    return path
