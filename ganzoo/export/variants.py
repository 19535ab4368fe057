"""Variants from latents: regenerate, interpolate, mix styles, edit along directions, then render.

Everything here maps :class:`~ganzoo.export.latents.Latents` to new ``Latents``; ``render_batches`` turns
them into images the way ``generate_batches`` does, so ``ganzoo generate`` writes them through the same
post-processing and provenance. Spaces only move forward (z -> w -> w+), through the architecture's
``mapping``, so a code is never approximated on the way.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import torch
from torch import nn

from ganzoo.api import Architecture, to_uint8_images
from ganzoo.errors import UsageError
from ganzoo.export.latents import SPACES, Latents, check_latents_for, read_latents, synthesise

GROUPS = ("coarse", "middle", "fine")


# ------------------------------------------------------------------ where latents come from

def seed_latents(architecture: Architecture, seed: int, count: int, run_id: Optional[str],
                 labels: Optional[torch.Tensor] = None) -> Latents:
    """The z (and labels) of images 0..count-1 of ``ganzoo generate --seed SEED``: one seeded CPU stream."""
    rng = torch.Generator().manual_seed(seed)
    z = architecture.sample_latents(count, "cpu", rng)
    if labels is None and architecture.conditional:
        labels = architecture.sample_labels(count, "cpu", rng)
    return Latents(z, "z", run_id, architecture.kind, None if labels is None else labels.tolist(),
                   [f"seed {seed} index {i}" for i in range(count)])


def checked_latents(path: Path, architecture: Architecture, generator: nn.Module, run_id: Optional[str],
                    option: str, any_run: bool = False) -> Latents:
    """A latents file made for this run: its architecture kind, a space and shape it has, and this very run's id
    (a latent only means something to the generator it came from). ``any_run`` also takes z codes of another run
    of the same kind, as plain random numbers: they then give other images than the ones they came from."""
    latents = read_latents(path)
    source = f"{option} {path}"
    check_latents_for(latents, architecture, run_id, source)
    foreign = bool(latents.run_id and run_id and latents.run_id != run_id)
    if foreign and not (any_run and latents.space == "z"):
        plain = (" or pass --any-run to use these z codes as plain random numbers (other images than the ones "
                 "they came from)." if latents.space == "z" else " w and w+ codes cannot be reused elsewhere, "
                 "not even with --any-run.")
        raise UsageError(f"{source} holds {latents.space} latents of run {latents.run_id}, but this is run {run_id}: "
                         f"a latent only means something to the generator it came from, so here it would draw "
                         f"another image. Project the images with this run (`ganzoo project`),{plain}")
    expected = _shape(architecture, generator, latents.space)
    if tuple(latents.latents.shape[1:]) != expected:
        raise UsageError(f"{source} holds {latents.space} latents of shape {tuple(latents.latents.shape[1:])} per "
                         f"image, but this run's generator takes {expected}.")
    if latents.labels is not None and not architecture.conditional:
        latents.labels = None  # labels matter only to a conditional generator
    elif latents.labels is None and architecture.conditional:
        raise UsageError(f"{source} has no class labels, but this run's generator is class-conditional; project "
                         f"the images with this run so that their classes are recorded.")
    return latents


def latent_source(text: str, architecture: Architecture, generator: nn.Module, run_id: Optional[str],
                  option: str, labels: Optional[torch.Tensor] = None, any_run: bool = False) -> Latents:
    """``SEED`` (that seed's first image), ``FILE`` (every latent in it) or ``FILE:INDEX`` (one of them)."""
    if text.isdigit():
        return seed_latents(architecture, int(text), 1, run_id, labels)
    path, index = Path(text), None
    match = re.fullmatch(r"(.+):(\d+)", text)
    if not path.is_file() and match:
        path, index = Path(match.group(1)), int(match.group(2))
    latents = checked_latents(path, architecture, generator, run_id, option, any_run)
    if index is None:
        return latents
    if index >= len(latents):
        raise UsageError(f"{option} {text}: {path} holds {len(latents)} latents (indices 0 to {len(latents) - 1}).")
    return _take(latents, [index])


def _take(latents: Latents, rows: Sequence[int]) -> Latents:
    labels = None if latents.labels is None else [latents.labels[i] for i in rows]
    return Latents(latents.latents[list(rows)], latents.space, latents.run_id, latents.kind, labels,
                   [latents.names[i] for i in rows])


def _shape(architecture: Architecture, generator: nn.Module, space: str) -> tuple[int, ...]:
    if space == "z":
        return (architecture.z_dim,)
    w_dim = int(architecture.style_weights(generator).shape[1])  # its columns are w's entries (plugin API 1.3)
    return (w_dim,) if space == "w" else (architecture.num_ws(generator), w_dim)


# ------------------------------------------------------------------ spaces

@torch.no_grad()
def in_space(latents: Latents, space: str, architecture: Architecture, generator: nn.Module) -> Latents:
    """The same codes in ``space`` (z -> w through the mapping, w -> w+ by repeating w for every layer)."""
    if SPACES.index(space) < SPACES.index(latents.space):
        raise ValueError(f"cannot take {latents.space} latents back to {space}")
    codes = latents.latents
    if latents.space == "z" and space != "z":
        device = next(generator.parameters()).device
        labels = latents.labels_tensor()
        codes = architecture.mapping(generator, codes.to(device),
                                     None if labels is None else labels.to(device)).float().cpu()
    if space == "w+" and codes.ndim == 2:
        codes = codes[:, None].repeat(1, architecture.num_ws(generator), 1)
    return Latents(codes, space, latents.run_id, latents.kind, latents.labels, list(latents.names))


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of rows ``a`` and ``b`` (D,) at fractions ``t`` (T,): Gaussian z keeps its norm on
    the way, where a straight line would pass through unlikely short vectors (White 2016)."""
    a_unit, b_unit = a / a.norm(), b / b.norm()
    omega = torch.acos((a_unit * b_unit).sum().clamp(-1.0, 1.0))
    if float(omega) < 1e-6:
        return torch.lerp(a, b, t[:, None])
    t = t[:, None]
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def interpolate(a: Latents, b: Latents, frames: int, architecture: Architecture, generator: nn.Module) -> Latents:
    """``frames`` codes from ``a`` to ``b`` (the first of each), ends included: slerp in z when both are z,
    otherwise lerp in the later of the two spaces (w or w+), where StyleGAN's paths are straight."""
    space = max(a.space, b.space, key=SPACES.index)
    a, b = in_space(_take(a, [0]), space, architecture, generator), in_space(_take(b, [0]), space, architecture,
                                                                               generator)
    t = torch.linspace(0.0, 1.0, frames)
    if space == "z":
        codes = slerp(a.latents[0], b.latents[0], t)
    else:
        codes = torch.lerp(a.latents[0][None], b.latents[0][None], t.view(-1, *[1] * a.latents[0].ndim))
    labels = None if a.labels is None else a.labels * frames
    names = [f"{a.names[0]} -> {b.names[0]} at {float(x):.3f}" for x in t]
    return Latents(codes, space, a.run_id, a.kind, labels, names)


def style_layer_table(architecture: Architecture, generator: nn.Module) -> dict[str, list[int]]:
    """What ``--layers`` may name: the architecture's groups (coarse, middle, fine), then, when it says which
    resolution each w+ index styles (plugin API 1.5), every resolution as ``NNpx``."""
    table = {name: list(indices) for name, indices in architecture.style_groups(generator).items()}
    resolutions = architecture.style_resolutions(generator)
    if resolutions is not None:
        for resolution in sorted(set(resolutions)):
            table[f"{resolution}px"] = [i for i, r in enumerate(resolutions) if r == resolution]
    return table


def mix(base: Latents, styles: Latents, groups: Sequence[str], architecture: Architecture,
        generator: nn.Module) -> Latents:
    """Style mixing: every base code (rows) with the layers of ``groups`` taken from every style code (columns),
    row-major, in w+. Coarse layers hold shape and pose, fine ones colour and texture (Karras et al. 2019)."""
    if "w+" not in architecture.latent_spaces():
        raise UsageError(f"--mix: '{architecture.kind}' has no per-layer styles (its latent spaces are "
                         f"{', '.join(architecture.latent_spaces())}); style mixing needs an architecture with a w+ "
                         f"space, such as stylegan-lite.")
    table = style_layer_table(architecture, generator)
    groups = [f"{g}px" if g.isdigit() else g for g in groups]  # "32" means 32px
    unknown = [g for g in groups if g not in table]
    if unknown or not groups:
        raise UsageError(f"--layers {','.join(groups)}: choose from {', '.join(table)} (comma-separated for more "
                         f"than one).")
    layers = sorted({i for g in groups for i in table[g]})
    base_plus = in_space(base, "w+", architecture, generator).latents
    style_plus = in_space(styles, "w+", architecture, generator).latents
    mixed = base_plus[:, None].repeat(1, len(style_plus), 1, 1)
    mixed[:, :, layers] = style_plus[None, :, layers]
    rows, columns = len(base_plus), len(style_plus)
    labels = None if base.labels is None else [base.labels[i] for i in range(rows) for _ in range(columns)]
    names = [f"{base.names[i]} with the {'+'.join(groups)} styles of {styles.names[j]}"
             for i in range(rows) for j in range(columns)]
    return Latents(mixed.reshape(rows * columns, *base_plus.shape[1:]), "w+", base.run_id, base.kind, labels, names)


def edit(latents: Latents, directions: torch.Tensor, space: str, strengths: dict[int, float],
         architecture: Architecture, generator: nn.Module) -> Latents:
    """Move every code by sum(strength * direction) in ``space`` (each direction a unit vector there); w+ codes
    move in every layer. z codes are mapped to w first when the directions live in w."""
    if SPACES.index(latents.space) < SPACES.index(space):
        latents = in_space(latents, space, architecture, generator)
    elif space == "z" and latents.space != "z":
        raise UsageError(f"--edit: these directions act on z, but the latents are {latents.space} codes.")
    delta = sum(strength * directions[index] for index, strength in strengths.items())
    codes = latents.latents + (delta if latents.latents.ndim == 2 else delta[None, None])
    return Latents(codes, latents.space, latents.run_id, latents.kind, latents.labels, list(latents.names))


# ------------------------------------------------------------------ rendering

@torch.no_grad()
def render_batches(architecture: Architecture, generator: nn.Module, latents: Latents, device: torch.device,
                   batch_size: int = 64, truncation: Optional[float] = None
                   ) -> Iterator[tuple[int, torch.Tensor, Optional[torch.Tensor]]]:
    """Yield (first_index, uint8 images, labels) as ``generate_batches`` does. ``truncation`` psi: z codes
    through ``generate``'s own option, w and w+ codes pulled towards ``w_avg`` (the same thing)."""
    generator.eval()
    labels = latents.labels_tensor()
    w_avg = architecture.w_avg(generator).to(device) if truncation is not None and latents.space != "z" else None
    if w_avg is not None and not 0.0 <= truncation <= 1.0:
        raise UsageError(f"--truncation {truncation}: give a value between 0 and 1.")
    for start in range(0, len(latents), batch_size):
        codes = latents.latents[start:start + batch_size].to(device)
        y = None if labels is None else labels[start:start + batch_size].to(device)
        try:
            if latents.space == "z":
                options: dict[str, Any] = {} if truncation is None else {"truncation": truncation}
                images = architecture.generate(generator, codes, y, **options)
            else:
                if w_avg is not None:
                    codes = w_avg.lerp(codes, truncation)
                images = synthesise(architecture, generator, codes, latents.space, y)
        except ValueError as exc:  # a sampling option out of range
            raise UsageError(f"Sampling options for '{architecture.kind}': {exc}.") from None
        yield start, to_uint8_images(images).cpu(), (None if y is None else y.cpu())
