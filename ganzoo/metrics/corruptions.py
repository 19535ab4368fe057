"""Controlled damage to real images, for checking what a feature space can see (``ganzoo metric-check``).

Each case turns one half of the real data into a stand-in for a generator with
one known fault: colour lost or wrong, detail lost, artefacts, no diversity, no
global structure. All take and return uint8 (N, C, H, W) on the CPU, with the
same N, and draw any randomness from the given generator, so a check is
reproducible.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F
from torchvision.transforms.v2 import functional as TF

# (images, labels or None, generator) -> images of the same shape
Apply = Callable[[torch.Tensor, Optional[torch.Tensor], torch.Generator], torch.Tensor]

LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, as PIL's convert('L')
BLUR_SIGMAS = (0.75, 1.5)
JPEG_QUALITY = 20
NOISE_STD = 0.05             # of the full 0-255 range
PATCH_GRID = 4               # patch shuffling cuts each image into 4 x 4 patches
SUBSET_FRACTION = 0.05
MODE_FRACTION = 0.10         # unlabelled data: the "one mode" is the 10% of images nearest one image


@dataclass(frozen=True)
class Corruption:
    """One case of the check: ``apply`` makes the damaged images; ``milder`` names a case it must score worse than."""

    name: str
    label: str
    apply: Apply
    needs_colour: bool = False
    milder: Optional[str] = None


def greyscale(images: torch.Tensor, labels=None, generator=None) -> torch.Tensor:
    weights = torch.tensor(LUMA).view(1, 3, 1, 1)
    luma = (images.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    return luma.expand(-1, 3, -1, -1).contiguous()


def hue_rotation(images: torch.Tensor, labels=None, generator=None, degrees: float = 120.0) -> torch.Tensor:
    return TF.adjust_hue(images, degrees / 360.0)


def channel_swap(images: torch.Tensor, labels=None, generator=None) -> torch.Tensor:
    return images[:, [2, 1, 0]].contiguous()


def blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    kernel = 2 * math.ceil(3 * sigma) + 1
    return TF.gaussian_blur(images, [kernel, kernel], [sigma, sigma])


def jpeg(images: torch.Tensor, labels=None, generator=None, quality: int = JPEG_QUALITY) -> torch.Tensor:
    """Each image through PIL's JPEG encoder and back (libjpeg, 4:2:0 chroma for colour, as photos are saved)."""
    out = []
    for image in images.permute(0, 2, 3, 1).numpy():
        buffer = io.BytesIO()
        Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).save(buffer, "JPEG", quality=quality)
        decoded = np.asarray(Image.open(buffer))
        out.append(torch.from_numpy(decoded.reshape(image.shape).copy()))
    return torch.stack(out).permute(0, 3, 1, 2).contiguous()


def noise(images: torch.Tensor, labels=None, generator: Optional[torch.Generator] = None,
          std: float = NOISE_STD) -> torch.Tensor:
    grain = torch.randn(images.shape, generator=generator) * (std * 255)
    return (images.float() + grain).round().clamp(0, 255).to(torch.uint8)


def patch_shuffle(images: torch.Tensor, labels=None, generator: Optional[torch.Generator] = None,
                  grid: int = PATCH_GRID) -> torch.Tensor:
    """Each image's grid x grid patches in a random order of its own (a border that does not divide stays put)."""
    n, c, h, w = images.shape
    ph, pw = h // grid, w // grid
    out = images.clone()
    body = images[:, :, :ph * grid, :pw * grid]
    patches = body.reshape(n, c, grid, ph, grid, pw).permute(0, 2, 4, 1, 3, 5).reshape(n, grid * grid, c, ph, pw)
    order = torch.stack([torch.randperm(grid * grid, generator=generator) for _ in range(n)])
    shuffled = patches[torch.arange(n)[:, None], order]
    out[:, :, :ph * grid, :pw * grid] = (shuffled.reshape(n, grid, grid, c, ph, pw).permute(0, 3, 1, 4, 2, 5)
                                         .reshape(n, c, ph * grid, pw * grid))
    return out


def one_class(images: torch.Tensor, labels: Optional[torch.Tensor], generator: torch.Generator) -> torch.Tensor:
    """A collapsed generator: N images drawn (with replacement) from one class, or one mode when unlabelled."""
    members = _largest_class(labels) if labels is not None else _one_mode(images, generator)
    pick = members[torch.randint(len(members), (len(images),), generator=generator)]
    return images[pick]


def _largest_class(labels: torch.Tensor) -> torch.Tensor:
    counts = torch.bincount(labels)
    return torch.nonzero(labels == counts.argmax()).flatten()


def _one_mode(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The images nearest (in 8x8 thumbnails) to one image drawn at random: a mode that needs no labels."""
    thumbs = F.adaptive_avg_pool2d(images.float(), 8).flatten(1)
    anchor = thumbs[torch.randint(len(images), (1,), generator=generator)]
    distance = ((thumbs - anchor) ** 2).sum(1)
    return distance.argsort()[:max(2, round(MODE_FRACTION * len(images)))]


def repeated_subset(images: torch.Tensor, labels=None, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """A memorising generator: 5% of the images, each repeated until there are N."""
    n = len(images)
    keep = torch.randperm(n, generator=generator)[:max(2, round(SUBSET_FRACTION * n))]
    return images[keep.repeat(math.ceil(n / len(keep)))[:n]]


def one_class_label(labels: Optional[torch.Tensor], class_names: tuple[str, ...]) -> str:
    if labels is None:
        return f"one mode only (the {MODE_FRACTION:.0%} of images nearest one image; the data has no labels)"
    name = class_names[int(torch.bincount(labels).argmax())] if class_names else "?"
    return f"one class only ('{name}', drawn with replacement: mode collapse)"


def cases(labels: Optional[torch.Tensor] = None, class_names: tuple[str, ...] = ()) -> list[Corruption]:
    """Every case, mildest first within each pair that must be ordered."""
    weak, strong = BLUR_SIGMAS
    return [
        Corruption("greyscale", "greyscale (colour removed)", greyscale, needs_colour=True),
        Corruption("hue", "hue rotated by 120 degrees", hue_rotation, needs_colour=True),
        Corruption("channel_swap", "red and blue channels swapped", channel_swap, needs_colour=True),
        Corruption("blur_weak", f"Gaussian blur, sigma {weak} px", lambda x, y, g: blur(x, weak)),
        Corruption("blur_strong", f"Gaussian blur, sigma {strong} px", lambda x, y, g: blur(x, strong),
                   milder="blur_weak"),
        Corruption("jpeg", f"JPEG at quality {JPEG_QUALITY}", jpeg),
        Corruption("noise", f"Gaussian noise, std {NOISE_STD:g} of the range", noise),
        Corruption("one_class", one_class_label(labels, class_names), one_class),
        Corruption("subset", f"a {SUBSET_FRACTION:.0%} subset repeated (low diversity, memorisation)",
                   repeated_subset),
        Corruption("patch_shuffle", f"{PATCH_GRID}x{PATCH_GRID} patches shuffled (no global shape)", patch_shuffle),
    ]
