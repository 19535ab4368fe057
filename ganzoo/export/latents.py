"""The latents file: latent codes of images (projected or sampled) as safetensors, with what they belong to.

One tensor, ``latents``: (N, z_dim) in ``z``, (N, w_dim) in ``w``, (N, num_ws, w_dim) in ``w+``. The
metadata (strings, as safetensors keeps them) says the ``space``, the ``run_id`` and architecture ``kind`` they
were made for, the class ``labels`` (a JSON list, absent when unconditional) and the source images' ``names``
(a JSON list). Written atomically, so a crash never leaves half a file under the real name.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch
from safetensors import SafetensorError
from safetensors.torch import save
from torch import nn

from ganzoo.api import Architecture
from ganzoo.errors import UsageError
from ganzoo.fileio import read_safetensors, write_bytes

SPACES = ("z", "w", "w+")
FORMAT = "ganzoo-latents-1"


@dataclass
class Latents:
    latents: torch.Tensor
    space: str
    run_id: Optional[str]
    kind: str
    labels: Optional[list[int]] = None
    names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise ValueError(f"latent space must be one of {', '.join(SPACES)}, not {self.space!r}")
        if self.latents.ndim != (3 if self.space == "w+" else 2):
            raise ValueError(f"{self.space} latents must be {'(N, num_ws, w_dim)' if self.space == 'w+' else '(N, D)'}"
                             f", got shape {tuple(self.latents.shape)}")
        count = len(self.latents)
        if self.labels is not None and len(self.labels) != count:
            raise ValueError(f"{len(self.labels)} labels for {count} latents")
        if not self.names:
            self.names = [f"{i:06d}" for i in range(count)]
        if len(self.names) != count:
            raise ValueError(f"{len(self.names)} names for {count} latents")

    def __len__(self) -> int:
        return len(self.latents)

    def labels_tensor(self) -> Optional[torch.Tensor]:
        return None if self.labels is None else torch.tensor(self.labels, dtype=torch.int64)


def write_latents(path: str | Path, latents: Latents) -> Path:
    metadata = {"format": FORMAT, "space": latents.space, "run_id": latents.run_id or "", "kind": latents.kind,
                "names": json.dumps(latents.names)}
    if latents.labels is not None:
        metadata["labels"] = json.dumps([int(label) for label in latents.labels])
    data = save({"latents": latents.latents.detach().float().cpu().contiguous()}, metadata=metadata)
    write_bytes(path, data)
    return Path(path)


def read_latents(path: str | Path) -> Latents:
    """A latents file, or a UsageError (exit 2) saying what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"Latents file {path} does not exist (relative paths are taken from {Path.cwd()}).")
    try:
        tensors, metadata = read_safetensors(path)
        labels = json.loads(metadata["labels"]) if "labels" in metadata else None
        names = json.loads(metadata.get("names", "[]"))
        return Latents(tensors["latents"], metadata.get("space", ""), metadata.get("run_id") or None,
                       metadata.get("kind", ""), labels, names)
    except (SafetensorError, KeyError, ValueError, TypeError) as exc:
        raise UsageError(f"{path} is not a ganzoo latents file ({type(exc).__name__}: {exc}). Latents files are "
                         f"written by `ganzoo project` (safetensors with one tensor 'latents' and its space, "
                         f"run_id, kind, labels and names in the metadata).") from None


def check_latents_for(latents: Latents, architecture: Architecture, run_id: Optional[str], source: str) -> None:
    """Refuse latents made for another architecture, or in a space this one lacks (UsageError, exit 2).
    Whether another run of the same kind is accepted is the caller's rule (``variants.checked_latents``)."""
    if latents.kind and latents.kind != architecture.kind:
        raise UsageError(f"{source} holds latents of a '{latents.kind}' generator (run {latents.run_id}); this run is "
                         f"'{architecture.kind}'. Project the images with this run instead (`ganzoo project`).")
    if latents.space not in architecture.latent_spaces():
        raise UsageError(f"{source} holds {latents.space} latents, but '{architecture.kind}' offers "
                         f"{', '.join(architecture.latent_spaces())}.")


def synthesise(architecture: Architecture, generator: nn.Module, codes: torch.Tensor, space: str,
               labels: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Images in [-1, 1] from latent codes in ``space`` (z through ``generate``, w and w+ through ``synthesis``)."""
    if space == "z":
        return architecture.generate(generator, codes, labels)
    if space == "w":
        codes = codes[:, None].repeat(1, architecture.num_ws(generator), 1)
    return architecture.synthesis(generator, codes, labels)
