"""Sheets and animations made from images already written (so from what --postprocess made of them), each
labelled with the provenance record like the images themselves: an interpolation strip, a mixing grid, an
animated WebP."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from PIL import Image

from ganzoo.export.pipeline import write_image

GAP = 2
FRAME_MS = 80  # 12.5 frames per second


def _open(paths: list[Path]) -> list[Image.Image]:
    images = []
    for path in paths:
        with Image.open(path) as opened:
            images.append(opened.convert("RGBA" if "A" in opened.getbands() else "RGB"))
    return images


def _meta(fmt: str, record: Optional[dict[str, Any]], **save_options: Any) -> dict[str, Any]:
    return {"format": fmt, "save_options": save_options, "provenance": record}


def write_sheet(paths: list[Path], columns: int, out_base: Path, record: Optional[dict[str, Any]],
                blanks: tuple[int, ...] = ()) -> Path:
    """The images in a grid of ``columns`` on white, as PNG (``out_base`` plus .png); the grid cells at
    ``blanks`` stay empty (the images fill the others in order)."""
    images = _open(paths)
    width = max(i.width for i in images)
    height = max(i.height for i in images)
    cells = [n for n in range(len(images) + len(blanks) + 1) if n not in blanks][:len(images)]
    rows = -(-(cells[-1] + 1) // columns)
    mode = "RGBA" if any(i.mode == "RGBA" for i in images) else "RGB"
    sheet = Image.new(mode, (columns * width + (columns - 1) * GAP, rows * height + (rows - 1) * GAP), "white")
    for n, image in zip(cells, images):
        x, y = (n % columns) * (width + GAP), (n // columns) * (height + GAP)
        sheet.paste(image, (x + (width - image.width) // 2, y + (height - image.height) // 2))
    return write_image(sheet, out_base, _meta("png", record))


def write_animation(paths: list[Path], out_base: Path, record: Optional[dict[str, Any]],
                    bounce: bool = True) -> Path:
    """An animated WebP (lossless, looping) of the images in order; ``bounce`` plays them back as well."""
    frames = _open(paths)
    if bounce and len(frames) > 2:
        frames = frames + frames[-2:0:-1]
    size = (max(f.width for f in frames), max(f.height for f in frames))
    frames = [f if f.size == size else f.resize(size) for f in frames]
    return write_image(frames[0], out_base, _meta("webp", record, save_all=True, append_images=frames[1:],
                                                   duration=FRAME_MS, loop=0, lossless=True))
