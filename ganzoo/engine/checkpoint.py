"""Checkpoints: weights as safetensors (no code runs on load), the rest via weights_only torch.load.

A checkpoint is two files named by step, written to temporary files and renamed,
then ``latest.json`` is switched to them. A crash at any moment leaves the
previous checkpoint intact and pointed to.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from ganzoo.errors import GanzooError
from ganzoo.fileio import atomic_path, write_json

FORMAT = "ganzoo-checkpoint/1"
NETWORKS = ("generator", "discriminator", "generator_ema")


@dataclass(frozen=True)
class CheckpointFiles:
    step: int
    weights: Path
    state: Path


def save(directory: Path, step: int, networks: dict[str, nn.Module], metadata: dict[str, Any],
         state: dict[str, Any], keep: int) -> CheckpointFiles:
    directory.mkdir(parents=True, exist_ok=True)
    files = CheckpointFiles(step, directory / f"step-{step:08d}.safetensors", directory / f"step-{step:08d}.state.pt")
    tensors = {f"{name}.{key}": value.detach().contiguous().cpu()
               for name, module in networks.items() for key, value in module.state_dict().items()}
    meta = {"format": FORMAT, "step": str(step), **{k: json.dumps(v) for k, v in metadata.items()}}
    with atomic_path(files.weights) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    with atomic_path(files.state) as tmp:
        torch.save(state, tmp)
    write_json(directory / "latest.json", {"step": step, "weights": files.weights.name, "state": files.state.name})
    _prune(directory, keep)
    return files


def _prune(directory: Path, keep: int) -> None:
    weights = sorted(directory.glob("step-*.safetensors"))
    for old in weights[:-keep]:
        old.unlink(missing_ok=True)
        old.with_name(old.name.replace(".safetensors", ".state.pt")).unlink(missing_ok=True)


def latest(directory: Path) -> CheckpointFiles | None:
    pointer = directory / "latest.json"
    if not pointer.exists():
        return None
    try:
        info = json.loads(pointer.read_text())
        files = CheckpointFiles(int(info["step"]), directory / info["weights"], directory / info["state"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GanzooError(f"{pointer} is damaged ({exc}). Delete it to fall back to training from scratch, "
                          f"or point it at an existing step-*.safetensors/.state.pt pair.") from None
    inside = directory.resolve()
    for file in (files.weights, files.state):
        if file.resolve().parent != inside:  # a pointer must never make ganzoo read (or trust) a file elsewhere
            raise GanzooError(f"{pointer} points outside its checkpoint folder ({file}); refusing to read it. "
                              f"Point it at a step-*.safetensors/.state.pt pair in {directory}, or delete it.")
    return files


RESUME_ADVICE = "delete it and its latest.json entry to use an earlier checkpoint"


def _open(weights: Path, advice: str = RESUME_ADVICE):
    """safe_open, with a damaged file (truncated, a header claiming more data than there is) as one line."""
    try:
        return safe_open(str(weights), framework="pt")
    except Exception as exc:  # safetensors raises its own error types
        raise GanzooError(f"Cannot read checkpoint weights {weights}: {exc}. The file is damaged or not a "
                          f"safetensors file; {advice}.") from None


def read_metadata(weights: Path, advice: str = RESUME_ADVICE) -> dict[str, Any]:
    """The metadata the engine wrote (kind, config, image spec, step); ``advice`` ends the message for a
    file that cannot be read."""
    with _open(weights, advice) as handle:
        raw = handle.metadata() or {}
    if raw.get("format") != FORMAT:
        raise GanzooError(f"{weights} is not a ganzoo checkpoint (format {raw.get('format')!r}, expected {FORMAT}).")
    return {k: (v if k in ("format", "step") else json.loads(v)) for k, v in raw.items()}


def load_networks(weights: Path, networks: dict[str, nn.Module], device: torch.device | str = "cpu") -> None:
    """Load the named networks' weights in place (strict: every key must match)."""
    try:
        tensors = load_file(str(weights), device=str(device))
    except Exception as exc:
        raise GanzooError(f"Cannot read checkpoint weights {weights}: {exc}.") from None
    for name, module in networks.items():
        prefix = f"{name}."
        module.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})


def load_state(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise GanzooError(f"Cannot read checkpoint state {path}: {exc}.") from None


def network_names(weights: Path) -> set[str]:
    """Which networks a weights file holds (e.g. {'generator', 'generator_ema', 'discriminator'})."""
    with _open(weights) as handle:
        return {key.split(".", 1)[0] for key in handle.keys()}


def tensor_shapes(weights: Path, advice: str = RESUME_ADVICE) -> dict[str, tuple[int, ...]]:
    """Every tensor's name and shape, read from the header alone (no tensor data is loaded)."""
    with _open(weights, advice) as handle:
        return {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}
