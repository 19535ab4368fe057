"""Editing directions without labels, in closed form: SeFa (Shen & Zhou 2021, https://arxiv.org/abs/2007.06600).

The layers that read a latent code first (StyleGAN's style affines, or a DCGAN's first layer acting on z) turn
it into features by a matrix A. The unit directions n that change those features most maximise |A n|^2, so
they are the eigenvectors of A^T A with the largest eigenvalues: no sampling, no training, no labels.
As in the paper's code, each row of A is scaled to unit norm first, so no layer dominates by its scale alone.

``directions.safetensors``: tensor ``directions`` (K, D), one unit vector a row (d0 the strongest), and
``eigenvalues`` (K,); metadata ``space`` (w, or z for architectures without styles), ``run_id``, ``kind``,
``names`` (JSON list "d0", "d1", ...).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
from safetensors import SafetensorError
from safetensors.torch import save
from torch import nn

from ganzoo.api import Architecture
from ganzoo.errors import UsageError
from ganzoo.fileio import read_safetensors, write_bytes

FILE_NAME = "directions.safetensors"
FORMAT = "ganzoo-directions-1"


@dataclass
class Directions:
    directions: torch.Tensor   # (K, D) unit rows, strongest first
    eigenvalues: torch.Tensor  # (K,)
    space: str                 # "w" or "z": where they are added
    run_id: Optional[str]
    kind: str

    @property
    def names(self) -> list[str]:
        return [f"d{i}" for i in range(len(self.directions))]


@torch.no_grad()
def sefa(architecture: Architecture, generator: nn.Module, run_id: Optional[str]) -> Directions:
    """Every direction of the generator's first latent-reading layers, strongest first."""
    try:
        weights = architecture.style_weights(generator)
    except NotImplementedError:
        raise UsageError(f"'{architecture.kind}' does not expose the weights that read its latent code "
                         f"(Architecture.style_weights, plugin API 1.3), so SeFa cannot find directions for it. "
                         f"Architectures that do: those with a w space (stylegan-lite), and dcgan and wgan-gp "
                         f"(their first layer acting on z).") from None
    a = weights.detach().double().cpu()
    a = a / a.norm(dim=1, keepdim=True).clamp_min(1e-12)
    values, vectors = torch.linalg.eigh(a.T @ a)  # ascending
    values, vectors = values.flip(0), vectors.flip(1).T.contiguous()
    # An eigenvector's sign is arbitrary: make its largest entry positive so runs of the code agree.
    largest = vectors.gather(1, vectors.abs().argmax(1, keepdim=True))
    vectors = vectors * largest.sign()
    space = "w" if "w" in architecture.latent_spaces() else "z"
    return Directions(vectors.float(), values.float(), space, run_id, architecture.kind)


def write_directions(path: str | Path, found: Directions) -> Path:
    metadata = {"format": FORMAT, "space": found.space, "run_id": found.run_id or "", "kind": found.kind,
                "names": json.dumps(found.names)}
    write_bytes(path, save({"directions": found.directions.contiguous(), "eigenvalues": found.eigenvalues.contiguous()},
                           metadata=metadata))
    return Path(path)


def read_directions(path: str | Path) -> Directions:
    """A directions file, or a UsageError (exit 2) saying what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"Directions file {path} does not exist; find directions first with `ganzoo directions "
                         f"RUN` (it writes {FILE_NAME} into the run directory, or into --out).")
    try:
        tensors, meta = read_safetensors(path)
        if meta.get("format") != FORMAT:
            raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT!r}")
        return Directions(tensors["directions"].float(), tensors["eigenvalues"].float(), meta["space"],
                          meta.get("run_id") or None, meta["kind"])
    except (SafetensorError, KeyError, ValueError, TypeError) as exc:
        raise UsageError(f"{path} is not a ganzoo directions file ({type(exc).__name__}: {exc}); write one with "
                         f"`ganzoo directions RUN`.") from None


def check_directions_for(found: Directions, architecture: Architecture, run_id: Optional[str], source: str) -> None:
    """Directions come from one generator's weights: refuse those of another run or architecture (exit 2)."""
    if found.kind != architecture.kind or (found.run_id and run_id and found.run_id != run_id):
        raise UsageError(f"{source} holds directions of a '{found.kind}' generator (run {found.run_id}), not of this "
                         f"run ('{architecture.kind}', run {run_id}). Find this run's with `ganzoo directions RUN`.")


def parse_edits(items: list[str], found: Directions) -> dict[int, float]:
    """``["d0=2", "d3=-1.5"]`` -> {direction index: strength}; unknown names and bad numbers are refused."""
    strengths: dict[int, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        try:
            strength = float(value) if sep else None
        except ValueError:
            strength = None
        if strength is None or not math.isfinite(strength):
            raise UsageError(f"--edit {item}: give NAME=STRENGTH, for example d0=3 or d2=-1.5.")
        if name not in found.names:
            raise UsageError(f"--edit {item}: there is no direction '{name}'; this directions file has d0 to "
                             f"d{len(found.names) - 1} (d0 the strongest).")
        index = found.names.index(name)
        strengths[index] = strengths.get(index, 0.0) + strength
    return strengths
