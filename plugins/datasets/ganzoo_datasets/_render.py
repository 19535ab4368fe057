"""Turns one product :class:`~ganzoo_datasets._products.Design` into a small RGB image.

Everything is drawn binary at 4x the output size and downsampled with LANCZOS,
which gives clean anti-aliased edges far cheaper than drawing anti-aliased.
Above 128 px (``_finish``) outlines are thinner, 2x is enough supersampling, and
the product gets a surface: texture, stitching and shading.
All randomness comes from the ``random.Random`` passed in, so an image depends
only on how that generator was seeded.
"""
from __future__ import annotations

import colorsys
import math
import random
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from ganzoo_datasets._finish import FINE_ABOVE, finish
from ganzoo_datasets._products import INK_WIDTH, Design

SUPERSAMPLE = 4
FINE_SUPERSAMPLE = 2  # above FINE_ABOVE: an edge spans enough pixels; 4x would cost 4x the time at 512 px
WHITE = (255, 255, 255)


def _rgb(h: float, s: float, v: float) -> tuple[int, int, int]:
    return tuple(int(round(c * 255)) for c in colorsys.hsv_to_rgb(h % 1.0, s, v))


def _palette(rng: random.Random) -> dict[str, tuple[int, int, int]]:
    """Colour roles for one product. Values stay below ~0.9 so nothing is white."""
    h = rng.random()
    style = rng.random()
    if style < 0.5:                    # saturated
        s, v = rng.uniform(0.55, 0.95), rng.uniform(0.5, 0.9)
    elif style < 0.85:                 # muted: greys, beiges, olives, dusty tones
        s, v = rng.uniform(0.08, 0.35), rng.uniform(0.35, 0.78)
    else:                              # dark: black, charcoal, navy
        s, v = rng.uniform(0.0, 0.5), rng.uniform(0.1, 0.3)
    second = rng.random()              # the pattern's other colour
    if second < 0.4:
        pattern = _rgb(h, s * 0.25, 0.93)                      # pale version of the main colour
    elif second < 0.7:
        pattern = _rgb(h + rng.uniform(0.3, 0.7), rng.uniform(0.5, 0.9), rng.uniform(0.4, 0.85))
    else:
        pattern = _rgb(h, min(1.0, s + 0.1), v * 0.55)         # darker shade
    return {
        "main": _rgb(h, s, v),
        "pattern": pattern,
        "ink": _rgb(h, min(1.0, s + 0.2), v * 0.4),            # outline: a dark shade, not black
        "accent": _rgb(h + rng.uniform(0.3, 0.7), rng.uniform(0.6, 1.0), rng.uniform(0.6, 0.95)),
        "sole": rng.choice([(232, 232, 228), (60, 60, 64), (196, 150, 96)]),  # white, black or gum
    }


@lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres in unit coordinates, shared by every image of one size."""
    c = (np.arange(size, dtype=np.float32) + 0.5) / size
    return c[None, :], c[:, None]


def _pattern(rng: random.Random, size: int) -> np.ndarray | None:
    """Where the second colour goes (bool, size x size), or None for a solid fill."""
    kind = rng.choices(["solid", "stripes", "dots", "checks"], weights=[4, 3, 1.5, 1.5])[0]
    period = rng.uniform(0.1, 0.17)    # coarse enough to survive 32x32
    phase = rng.random()
    x, y = _grid(size)
    if kind == "stripes":
        angle = rng.choice([0.0, 90.0, 45.0, 135.0])
        a = math.radians(angle)
        return ((x * math.cos(a) + y * math.sin(a)) / period + phase) % 1.0 < rng.uniform(0.35, 0.55)
    if kind == "dots":
        u, v = (x / period + phase) % 1.0 - 0.5, (y / period + phase) % 1.0 - 0.5
        return u * u + v * v < rng.uniform(0.2, 0.3) ** 2
    if kind == "checks":
        return (np.floor(x / period + phase) + np.floor(y / period + phase)) % 2 == 1
    return None


def _erode(mask: np.ndarray, r: int) -> np.ndarray:
    """Binary erosion by a (2r+1)-square, done as two 1-D passes of shifted ANDs."""
    rows = mask.copy()
    for s in range(1, r + 1):
        rows[:, s:] &= mask[:, :-s]
        rows[:, :-s] &= mask[:, s:]
    out = rows.copy()
    for s in range(1, r + 1):
        out[s:, :] &= rows[:-s, :]
        out[:-s, :] &= rows[s:, :]
    return out


class _Pen:
    """Maps unit coordinates to canvas pixels, with the product's scale, shift and flip."""

    def __init__(self, size: int, scale: float, dx: float, dy: float, flip: bool, ink: float = INK_WIDTH):
        self.size, self.scale, self.dx, self.dy, self.flip, self.ink = size, scale, dx, dy, flip, ink

    def pt(self, x: float, y: float) -> tuple[float, float]:
        if self.flip:
            x = 1.0 - x
        return ((0.5 + (x - 0.5) * self.scale + self.dx) * self.size,
                (0.5 + (y - 0.5) * self.scale + self.dy) * self.size)

    def box(self, b) -> list[float]:
        (x0, y0), (x1, y1) = self.pt(b[0], b[1]), self.pt(b[2], b[3])
        return [min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)]

    def px(self, length: float) -> int:
        return max(1, round(length * self.scale * self.size))

    def draw(self, draw: ImageDraw.ImageDraw, op, fill, ink) -> None:
        name, g, _ = op
        if name == "polygon":
            draw.polygon([self.pt(*p) for p in g["points"]], fill=fill)
        elif name == "ellipse":
            draw.ellipse(self.box(g["box"]), fill=fill)
        elif name == "ring":
            draw.ellipse(self.box(g["box"]), outline=fill, width=self.px(g["width"]))
        elif name == "rounded":  # filled detail parts get an outline like the silhouette
            draw.rounded_rectangle(self.box(g["box"]), radius=self.px(g["radius"]), fill=fill,
                                   outline=ink, width=self.px(self.ink) if ink is not None else 0)
        elif name == "line":
            draw.line([self.pt(*p) for p in g["points"]], fill=fill,
                      width=self.px(self.ink * g.get("width", 1)), joint="curve")
        elif name == "arc":
            start, end = (180 - g["end"], 180 - g["start"]) if self.flip else (g["start"], g["end"])
            draw.arc(self.box(g["box"]), start, end, fill=fill, width=self.px(self.ink))
        else:  # pragma: no cover - a typo in _products
            raise ValueError(f"unknown drawing op {name!r}")


def render(design: Design, rng: random.Random, resolution: int) -> np.ndarray:
    """One product on pure white, as a (resolution, resolution, 3) uint8 array."""
    fine = resolution > FINE_ABOVE
    size = resolution * (FINE_SUPERSAMPLE if fine else SUPERSAMPLE)
    # Up to 128 px an outline is about a pixel; above, it thins (4 px at 512) as a photo's edges would.
    ink = INK_WIDTH * (FINE_ABOVE / resolution) ** 0.75 if fine else INK_WIDTH
    colours = _palette(rng)
    pen = _Pen(size, scale=rng.uniform(0.82, 1.0), dx=rng.uniform(-0.05, 0.05),
               dy=rng.uniform(-0.05, 0.05), flip=rng.random() < 0.5, ink=ink)
    angle = rng.uniform(-8.0, 8.0)

    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    for op in design.shape:
        pen.draw(draw, op, op[2], None)
    mask = np.asarray(canvas) > 127
    inside = _erode(mask, pen.px(ink))  # the ring between mask and inside is the outline

    # Index each pixel (0 background, 1 outline, 2 fill, 3 pattern) and let a PIL palette
    # colour it: ~10x faster than numpy's per-channel where/mask assignment.
    index = mask.view(np.uint8) + inside.view(np.uint8)
    second = _pattern(rng, size)
    if second is not None:
        index += (inside & second).view(np.uint8)
    image = Image.frombytes("P", (size, size), index.tobytes())
    image.putpalette([*WHITE, *colours["ink"], *colours["main"], *colours["pattern"]])
    image = image.convert("RGB")
    draw = ImageDraw.Draw(image)
    for op in design.details:
        pen.draw(draw, op, colours[op[2]], colours["ink"] if op[0] == "rounded" else None)
    # NEAREST is enough at 4x (the LANCZOS downsample anti-aliases its steps, just as it
    # does the binary drawing's) and ~20x faster than BICUBIC, the bulk of the time otherwise.
    image = image.rotate(angle, resample=Image.Resampling.NEAREST, fillcolor=WHITE)
    small = np.asarray(image.resize((resolution, resolution), Image.Resampling.LANCZOS))
    if not fine:
        return small
    silhouette = canvas.rotate(angle, resample=Image.Resampling.NEAREST, fillcolor=0)
    coverage = np.asarray(silhouette.resize((resolution, resolution), Image.Resampling.BOX), np.float32) / 255
    return finish(small, coverage, design.material, colours["ink"], max(1, round(ink * resolution)), rng)


def draw(index: int, seed: int, names: tuple[str, ...], resolution: int) -> np.ndarray:
    """Catalogue image ``index``: seeded by ``(seed, index)`` alone (a string seed is hashed with SHA-512 by
    Random: stable across runs and platforms, and, unlike an int seed, keeps -1 and 1 apart)."""
    from ganzoo_datasets._products import PRODUCTS
    rng = random.Random(f"ganzoo-catalogue/{seed}/{index}")
    return render(PRODUCTS[names[index % len(names)]](rng), rng, resolution)
