"""The augmentation pipeline of ADA (Karras et al. 2020, "Training Generative Adversarial Networks with
Limited Data", https://arxiv.org/abs/2006.06676, appendix B: the "bgc" pipeline plus cutout).

Each transform applies to each image with probability ``p`` and its own random
parameters (the paper's defaults, as NVlabs' ``augment.py``). The geometric ones
compose into one 3x3 matrix per image and one ``grid_sample`` (bilinear, reflection
padding), the colour ones into one 3x4 matrix per image and one matmul, then cutout
multiplies by a mask: three differentiable operations, whatever ``p``. An image a
transform skips gets its identity, so integer moves (flip, 90 degrees, whole-pixel
shifts) still land on pixel centres and are exact.

Random numbers come from torch's global generator, which the engine seeds and
restores on resume; any ``p > 0`` draws the same ones, so ``p`` only decides which
images change. ``p == 0`` returns the images untouched and draws nothing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Collection

import torch
import torch.nn.functional as F

GEOMETRIC = ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac")
COLOUR = ("brightness", "contrast", "lumaflip", "hue", "saturation")
TRANSFORMS = GEOMETRIC + COLOUR + ("cutout",)

# One column of random numbers per slot, in the paper's order (its arbitrary rotation comes twice, around aniso).
_SLOTS = ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "rotate2", "xfrac",
          "brightness", "contrast", "lumaflip", "hue", "saturation", "cutout")
_COLUMN = {name: i for i, name in enumerate(_SLOTS)}
# The grey axis v = (1, 1, 1) / sqrt(3): hue turns about it, lumaflip mirrors along it, saturation scales away from it.
_A = 3 ** -0.5
_VV = torch.full((3, 3), 1 / 3)  # v v^T
_VCROSS = torch.tensor([[0.0, -_A, _A], [_A, 0.0, -_A], [-_A, _A, 0.0]])  # v x (.)


@dataclass
class _Draws:
    """One call's random numbers: whether each slot applies to each image, and two uniform and two normal
    numbers per image and slot for its parameters."""

    applied: torch.Tensor  # (N, slots) bool
    uniform: torch.Tensor  # (N, slots, 2)
    normal: torch.Tensor  # (N, slots, 2)

    def on(self, slot: str) -> torch.Tensor:
        return self.applied[:, _COLUMN[slot]]

    def u(self, slot: str) -> torch.Tensor:
        return self.uniform[:, _COLUMN[slot]]

    def g(self, slot: str) -> torch.Tensor:
        return self.normal[:, _COLUMN[slot]]


def _matrices(*rows: list) -> torch.Tensor:
    """A batch of matrices (N, rows, cols) from rows whose entries are per-image tensors (N,) or numbers."""
    ref = next(e for row in rows for e in row if torch.is_tensor(e))
    entries = [e if torch.is_tensor(e) else torch.full_like(ref, e) for row in rows for e in row]
    return torch.stack(entries, dim=-1).view(len(ref), len(rows), len(rows[0]))


def _translate(tx, ty):
    return _matrices([1, 0, tx], [0, 1, ty], [0, 0, 1])


def _scale(sx, sy):
    return _matrices([sx, 0, 0], [0, sy, 0], [0, 0, 1])


def _rotate(theta):
    c, s = torch.cos(theta), torch.sin(theta)
    return _matrices([c, -s, 0], [s, c, 0], [0, 0, 1])


def _geometric(x: torch.Tensor, r: _Draws) -> torch.Tensor:
    """Compose where each output pixel samples its input (centred pixel units), then one grid_sample.

    This is the inverse of the image's transform, drawn directly, as NVlabs' ``G_inv``: each of
    the paper's distributions is symmetric, so a transform and its inverse are equally likely."""
    n, _, h, w = x.shape
    flip = torch.where(r.on("xflip"), (r.u("xflip")[:, 0] < 0.5).float(), 0.0)
    m = _scale(1 - 2 * flip, 1)
    quarter = torch.where(r.on("rotate90"), torch.floor(r.u("rotate90")[:, 0] * 4), 0.0)
    m = m @ _rotate(quarter * (math.pi / 2))
    shift = torch.where(r.on("xint")[:, None], (r.u("xint") * 2 - 1) * 0.125, 0.0)
    m = m @ _translate(torch.round(shift[:, 0] * w), torch.round(shift[:, 1] * h))
    s = torch.where(r.on("scale"), torch.exp2(r.g("scale")[:, 0] * 0.2), 1.0)
    m = m @ _scale(s, s)
    m = m @ _rotate(torch.where(r.on("rotate"), (r.u("rotate")[:, 0] * 2 - 1) * math.pi, 0.0))
    s = torch.where(r.on("aniso"), torch.exp2(r.g("aniso")[:, 0] * 0.2), 1.0)
    m = m @ _scale(s, 1 / s)
    m = m @ _rotate(torch.where(r.on("rotate2"), (r.u("rotate2")[:, 0] * 2 - 1) * math.pi, 0.0))
    shift = torch.where(r.on("xfrac")[:, None], r.g("xfrac") * 0.125, 0.0)
    m = m @ _translate(shift[:, 0] * w, shift[:, 1] * h)
    # grid_sample works in [-1, 1] units: conjugate by d = pixels per unit, theta_ij = m_ij * d_j / d_i.
    d = torch.tensor([w / 2, h / 2, 1.0], device=x.device)
    theta = (m * d.view(1, 1, 3) / d.view(1, 3, 1))[:, :2].transpose(1, 2).reshape(n, 1, 1, 3, 2)
    # F.affine_grid's sampling grid, by broadcasting: its batched matmul is slower on small images.
    xs = (torch.arange(w, device=x.device) * 2 + 1) / w - 1
    ys = (torch.arange(h, device=x.device) * 2 + 1) / h - 1
    grid = xs.view(1, 1, w, 1) * theta[..., 0, :] + ys.view(1, h, 1, 1) * theta[..., 1, :] + theta[..., 2, :]
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _colour(x: torch.Tensor, r: _Draws) -> torch.Tensor:
    """Brightness, contrast, luma flip, hue and saturation as one affine colour map per image, in [-1, 1]."""
    n, c = x.shape[:2]
    brightness = torch.where(r.on("brightness"), r.g("brightness")[:, 0] * 0.2, 0.0).view(n, 1, 1)
    contrast = torch.where(r.on("contrast"), torch.exp2(r.g("contrast")[:, 0] * 0.5), 1.0).view(n, 1, 1)
    if c != 3:  # hue and saturation need colour: grey images get brightness and contrast only
        return (x + brightness.unsqueeze(1)) * contrast.unsqueeze(1)
    vv, vcross, eye = _VV.to(x.device), _VCROSS.to(x.device), torch.eye(3, device=x.device)
    flip = torch.where(r.on("lumaflip"), (r.u("lumaflip")[:, 0] < 0.5).float(), 0.0).view(n, 1, 1)
    hue = torch.where(r.on("hue"), (r.u("hue")[:, 0] * 2 - 1) * math.pi, 0.0).view(n, 1, 1)
    saturation = torch.where(r.on("saturation"), torch.exp2(r.g("saturation")[:, 0]), 1.0).view(n, 1, 1)
    hue_turn = hue.cos() * eye + hue.sin() * vcross + (1 - hue.cos()) * vv  # Rodrigues, about the grey axis
    matrix = contrast * (vv + (eye - vv) * saturation) @ hue_turn @ (eye - 2 * vv * flip)
    offset = matrix.sum(2, keepdim=True) * brightness  # brightness comes first, as in the paper
    return torch.baddbmm(offset, matrix, x.flatten(2)).view_as(x)


def _cutout(x: torch.Tensor, r: _Draws) -> torch.Tensor:
    """Zero (mid-grey) a square of half the image size centred at a uniform random point."""
    n, _, h, w = x.shape
    centre = r.u("cutout")
    ys = (torch.arange(h, device=x.device) + 0.5) / h
    xs = (torch.arange(w, device=x.device) + 0.5) / w
    outside = ((ys.view(1, h, 1) - centre[:, 1].view(n, 1, 1)).abs() >= 0.25) | \
              ((xs.view(1, 1, w) - centre[:, 0].view(n, 1, 1)).abs() >= 0.25)
    keep = outside | ~r.on("cutout").view(n, 1, 1)
    return x * keep.unsqueeze(1).to(x.dtype)


def ada_augment(images: torch.Tensor, p: float, transforms: Collection[str] = TRANSFORMS) -> torch.Tensor:
    """Apply each of ``transforms`` to each image with probability ``p``; differentiable in ``images``.

    ``images`` are float (N, C, H, W) in [-1, 1]; the work runs in float32 (autocast off)
    and the result has the input's dtype.
    """
    unknown = set(transforms) - set(TRANSFORMS)
    if unknown:
        raise ValueError(f"unknown ADA transform(s) {sorted(unknown)}; choose from {', '.join(TRANSFORMS)}")
    if p <= 0:
        return images
    n, device = images.shape[0], images.device
    chance = {slot: p if slot in transforms else 0.0 for slot in _SLOTS}
    # Arbitrary rotation twice with 1 - sqrt(1 - p) each, so some rotation happens with p (the paper's choice).
    chance["rotate"] = chance["rotate2"] = 1 - math.sqrt(max(1 - p, 0.0)) if "rotate" in transforms else 0.0
    with torch.autocast(device.type, enabled=False):
        draws = _Draws(torch.rand(n, len(_SLOTS), device=device) < torch.tensor(list(chance.values()), device=device),
                       torch.rand(n, len(_SLOTS), 2, device=device), torch.randn(n, len(_SLOTS), 2, device=device))
        x = _cutout(_colour(_geometric(images.float(), draws), draws), draws)
    return x.to(images.dtype)
