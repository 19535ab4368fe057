"""Surface detail for catalogue images above 128 px: cloth weave or leather grain, stitching, soft shading.

At 16-128 px a pixel is coarser than any of this, and those images stay exactly
as they were (``render`` calls ``finish`` only above ``FINE_ABOVE``). At 256 and
512 px the flat fills of the small drawings would look like an upscaled icon, so
the product gets what a photo of it would show at that size: a weave (fabric) or
grain (leather) a few pixels across, a dashed stitch line just inside the
outline, and light from the top left with the edges falling into shade. Its
random draws come after every draw of the design, so the same product is drawn
at every resolution.
"""
from __future__ import annotations

import math
import random

import numpy as np
from PIL import Image, ImageFilter

FINE_ABOVE = 128


def _erode(mask: np.ndarray, r: int) -> np.ndarray:
    """Binary erosion by a (2r+1)-square (two 1-D passes of shifted ANDs)."""
    out = mask.copy()
    for axis in (1, 0):
        src = out.copy()
        for s in range(1, r + 1):
            if axis:
                out[:, s:] &= src[:, :-s]
                out[:, :-s] &= src[:, s:]
            else:
                out[s:, :] &= src[:-s, :]
                out[:-s, :] &= src[s:, :]
    return out


def _surface(material: str, rng: random.Random, size: int) -> np.ndarray:
    """Brightness factors (size x size) around 1: the material's texture."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    if material == "fabric":
        period = rng.uniform(2.5, 4.0) * size / 256  # a thread every few pixels, as a garment photo shows it
        kind = rng.choice(["plain", "twill", "rib"])
        if kind == "plain":
            wave = np.sin(2 * math.pi * x / period) * np.sin(2 * math.pi * y / period)
        elif kind == "twill":
            wave = np.sin(2 * math.pi * (x + y) / period)
        else:
            wave = np.sin(2 * math.pi * x / period)
        return 1.0 + rng.uniform(0.035, 0.07) * wave
    if material == "leather":  # grain: smoothed noise from the image's own seed
        noise = np.random.default_rng(rng.getrandbits(32)).standard_normal((size, size)).astype(np.float32)
        grain = np.asarray(Image.fromarray(((noise * 40) + 128).clip(0, 255).astype(np.uint8))
                           .filter(ImageFilter.GaussianBlur(size / 400)), np.float32)
        return 1.0 + (grain - 128) / 128 * 0.12
    return np.ones((size, size), np.float32)  # ceramic: smooth, the highlight does the work


def finish(image: np.ndarray, coverage: np.ndarray, material: str, ink: tuple[int, int, int], ink_px: int,
           rng: random.Random) -> np.ndarray:
    """``image`` (R, R, 3 uint8) with texture, stitching and shading on the product (``coverage`` in [0, 1])."""
    size = image.shape[0]
    inside = coverage > 0.5
    factor = _surface(material, rng, size)
    # Light from the top left, and edges in shade: a blurred silhouette is a cheap stand-in for curvature.
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    soft = np.asarray(Image.fromarray((coverage * 255).astype(np.uint8))
                      .filter(ImageFilter.GaussianBlur(size / 40)), np.float32) / 255
    factor = factor * (1.06 - 0.12 * (x + y) / 2) * (0.78 + 0.22 * soft)
    if material == "ceramic":  # a glaze highlight: a soft vertical band left of centre
        centre = rng.uniform(0.3, 0.4)
        factor = factor + 0.35 * np.exp(-((x - centre) / 0.03) ** 2) * soft
    out = image.astype(np.float32)
    weight = coverage[..., None]  # the background keeps its pure white
    out = out * (1 - weight) + np.clip(out * factor[..., None], 0, 255) * weight
    if material != "ceramic":  # stitches: a dashed line one outline-width inside the edge
        ring = _erode(inside, 2 * ink_px) & ~_erode(inside, 2 * ink_px + max(1, ink_px // 2))
        # Dashes along an outline of any direction: three crossing waves, on where their sum is positive.
        k = 2 * math.pi / max(6.0, size / 40)
        yy, xx = y * size, x * size
        ring &= np.sin(k * xx) + np.sin(k * yy) + np.sin(k * (xx + yy) / 1.41) > 0
        out[ring] = 0.35 * out[ring] + 0.65 * np.asarray(ink, np.float32)
    return out.round().clip(0, 255).astype(np.uint8)
