"""A folder of shop-like product photos, made on the spot: tests never need real photos on disk.

What real shop exports have and the built-in catalogue lacks: colours that
depend on the category (a shop's hues are not evenly spread), non-square
pictures, white, grey or busy backgrounds, transparent PNGs, CMYK JPEGs and
phone pictures stored sideways with an EXIF orientation tag. The products are
the catalogue's drawings at 64 px. No class folders: a shop's export is flat.

    python -m tests.photos OUT_DIR [COUNT]   # writes COUNT photos (default 600)
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

# Each category's hues, as a fraction of the colour wheel (start, width): warm shoes, blue shirts, ...
CATEGORY_HUES = ((0.02, 0.08), (0.55, 0.1), (0.95, 0.1), (0.08, 0.06), (0.6, 0.15), (0.3, 0.1))
EXIF_ORIENTATION = 0x0112


def _products(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    from ganzoo.host import default_host
    from ganzoo.metrics.inputs import load_dataset_spec
    data, _ = load_dataset_spec(f"catalogue:size={count},resolution=64,seed={seed}", default_host())
    return data.images, data.labels


def _recolour(image: Image.Image, category: int, rng: np.random.Generator) -> Image.Image:
    """Squeeze the product's hues into its category's range (white stays white: it has no saturation)."""
    start, width = CATEGORY_HUES[category % len(CATEGORY_HUES)]
    h, s, v = (np.asarray(c, np.float64) for c in image.convert("HSV").split())
    offset = rng.uniform(0, width)
    h = ((start + offset + h / 255 * 0.05) % 1.0) * 255
    hsv = np.stack([h, s, v], -1).round().astype(np.uint8)
    return Image.fromarray(hsv, "HSV").convert("RGB")


def _background(size: tuple[int, int], kind: int, rng: np.random.Generator) -> Image.Image:
    w, h = size
    if kind == 0:
        return Image.new("RGB", size, "white")
    if kind == 1:  # a studio's grey sweep
        ramp = np.linspace(235, 190, h)[:, None, None] * np.ones((1, w, 3))
        return Image.fromarray(ramp.astype(np.uint8))
    busy = rng.integers(60, 200, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)  # a cluttered table
    return Image.fromarray(busy).resize(size, Image.Resampling.BILINEAR)


def _product_mask(product: Image.Image) -> Image.Image:
    grey = np.asarray(product.convert("L"))
    return Image.fromarray(((grey < 245) * 255).astype(np.uint8))


def write_shop_photos(folder: Path, count: int = 600, seed: int = 0) -> Path:
    """``count`` photos in ``folder``: PNG, transparent PNG, JPEG, CMYK JPEG, sideways JPEG with EXIF."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images, labels = _products(count, seed)
    for i, (pixels, label) in enumerate(zip(images, labels.tolist())):
        product = _recolour(Image.fromarray(pixels.permute(1, 2, 0).numpy()), label, rng)
        width, height = int(rng.integers(64, 97)), int(rng.integers(64, 97))
        scale = min(width, height) / 64
        product = product.resize((round(64 * scale), round(64 * scale)), Image.Resampling.LANCZOS)
        corner = ((width - product.width) // 2, (height - product.height) // 2)
        style = i % 5
        if style == 1:  # a cut-out: transparent around the product
            canvas = Image.new("RGBA", (width, height), (0, 0, 0, 0))
            canvas.paste(product, corner, _product_mask(product))
            canvas.save(folder / f"photo-{i:05d}.png")
            continue
        canvas = _background((width, height), int(rng.integers(0, 3)) if style != 0 else 0, rng)
        canvas.paste(product, corner, _product_mask(product))
        if style == 0:
            canvas.save(folder / f"photo-{i:05d}.png")
        elif style == 2:
            canvas.save(folder / f"photo-{i:05d}.jpg", quality=92)
        elif style == 3:
            canvas.convert("CMYK").save(folder / f"photo-{i:05d}.jpg", quality=92)
        else:  # stored sideways, as phones do; the tag says how to turn it upright
            exif = Image.Exif()
            exif[EXIF_ORIENTATION] = 6  # "rotate 90 degrees clockwise to view"
            canvas.transpose(Image.Transpose.ROTATE_90).save(folder / f"photo-{i:05d}.jpg", quality=92, exif=exif)
    return folder


if __name__ == "__main__":
    out = write_shop_photos(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 600)
    print(f"wrote {len(list(out.iterdir()))} photos to {out}")
