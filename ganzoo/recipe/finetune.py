"""A recipe's fine-tuning settings checked against its architecture: ``init`` (a parent's weights) and
``train.freeze_discriminator`` (FreezeD).

Both are checked by ``ganzoo validate`` and before ``ganzoo run`` creates anything: the parent
checkpoint is found, its header read (kind, config, image spec, tensor shapes) and matched
tensor by tensor against networks built on the meta device (no memory, no random numbers).
"""
from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Any, Literal, Optional

import torch
from safetensors.torch import load_file
from torch import nn

from ganzoo.api import Architecture
from ganzoo.engine import checkpoint
from ganzoo.engine.finetune import InitialWeights, Mismatch, match, shapes
from ganzoo.errors import GanzooError, GanzooWarning
from ganzoo.recipe.models import InitSection, ResolvedRecipe
from ganzoo.recipe.validation import Document

SHOWN = 12  # mismatched tensors listed by name; the rest are counted


def check_finetune(resolved: ResolvedRecipe, architecture: Architecture,
                   parent: Literal["load", "check", "skip"] = "load") -> Optional[InitialWeights]:
    """Check ``train.freeze_discriminator`` and ``init``; the parent's matched weights, or None without ``init``.

    ``parent``: ``check`` reads the parent's header, shapes and state but not its tensors (``ganzoo
    validate``); ``skip`` leaves it alone (a run that resumes has weights of its own). Raises
    ``RecipeError`` (exit 2) for anything that cannot work.
    """
    document = Document("Recipe", resolved.source)
    recipe = resolved.recipe
    if not recipe.train.freeze_discriminator and (recipe.init is None or parent == "skip"):
        return None  # nothing to check: no networks built (a meta-device build costs ~1 s of torch imports)
    networks = _meta_networks(architecture)
    check_freeze(recipe.train.freeze_discriminator, architecture, networks["discriminator"], document)
    init = recipe.init
    if recipe.train.freeze_discriminator and not (init and init.discriminator):
        warnings.warn(f"{document.name}: train.freeze_discriminator keeps {recipe.train.freeze_discriminator} "
                      f"block(s) of a randomly initialised discriminator fixed; FreezeD is meant for fine-tuning "
                      f"(init with discriminator: true).", GanzooWarning)
    if init is None or parent == "skip":
        return None
    return read_parent(init, architecture, networks, document, recipe.train.ema.enabled, parent == "load")


def check_freeze(count: int, architecture: Architecture, discriminator: nn.Module, document: Document) -> None:
    if not count:
        return
    blocks = architecture.discriminator_blocks(discriminator)
    if blocks is None:
        raise document.invalid(("train", "freeze_discriminator"),
                               f"architecture '{architecture.kind}' does not name its discriminator blocks "
                               f"(Architecture.discriminator_blocks, plugin API 1.3), so none can be frozen. "
                               f"Set train.freeze_discriminator: 0.")
    if count > len(blocks):
        raise document.invalid(("train", "freeze_discriminator"),
                               f"got {count}, but the '{architecture.kind}' discriminator has {len(blocks)} blocks "
                               f"at this resolution; choose 0 to {len(blocks)}.")


def _meta_networks(architecture: Architecture) -> dict[str, nn.Module]:
    """The networks as built for training, on the meta device: shapes without memory or random draws."""
    try:
        with torch.device("meta"):
            generator, discriminator = architecture.build_generator(), architecture.build_discriminator()
    except Exception:  # a plugin whose constructor needs real tensors: build them for real, once
        generator, discriminator = architecture.build_generator(), architecture.build_discriminator()
    return {"generator": generator, "discriminator": discriminator, "generator_ema": generator}


def parent_files(init: InitSection, document: Document) -> tuple[Path, Optional[Path]]:
    """The parent's weights file and its state file (None when a bare weights file has none)."""
    path = Path(init.path)
    where = ("init", "path")
    if not path.exists():
        raise document.invalid(where, f"'{init.path}' does not exist (looked for {path.resolve()}; a relative path "
                                      f"is taken from the working directory, as run.output_dir is). Give a run "
                                      f"directory or a checkpoint's .safetensors file.")
    if path.is_file():
        state = path.with_name(path.name.removesuffix(".safetensors") + ".state.pt")
        return path, state if state.is_file() else None
    try:
        files = checkpoint.latest(path / "checkpoints")
    except GanzooError as exc:
        raise document.invalid(where, str(exc)) from None
    if files is None:
        raise document.invalid(where, f"'{init.path}' is a folder but no run directory with a checkpoint (it has "
                                      f"no checkpoints/latest.json): train the parent first, or give a checkpoint's "
                                      f".safetensors file.")
    return files.weights, files.state


def read_parent(init: InitSection, architecture: Architecture, networks: dict[str, nn.Module], document: Document,
                ema_enabled: bool, load: bool) -> InitialWeights:
    weights, state_file = parent_files(init, document)
    where = ("init", "path")
    advice = "init needs a ganzoo checkpoint: a run directory or its checkpoints/step-*.safetensors"
    try:
        meta = checkpoint.read_metadata(weights, advice)
        saved = checkpoint.tensor_shapes(weights, advice)
        state = checkpoint.load_state(state_file) if state_file else {}
    except GanzooError as exc:
        raise document.invalid(where, str(exc)) from None
    if meta.get("kind") != architecture.kind:
        raise document.invalid(where, f"{weights} holds a '{meta.get('kind')}' run, but this recipe's "
                                      f"architecture is '{architecture.kind}'. Fine-tuning loads weights tensor by "
                                      f"tensor, so it needs the same architecture and config as the parent.")
    image = meta.get("image", {})
    for field, have in (("resolution", architecture.image.resolution), ("channels", architecture.image.channels)):
        if image.get(field) != have:
            raise document.invalid(where, f"the parent was trained on {field} {image.get(field)}, this recipe's "
                                          f"data has {have}; fine-tuning keeps the image shape (set data.{field}: "
                                          f"{image.get(field)}).")
    wanted = _wanted(init, ema_enabled, set(key.split(".", 1)[0] for key in saved), document)
    old_names, new_names = tuple(image.get("class_names", ())), architecture.image.class_names
    mismatches, fresh = [], []
    for name in wanted:
        theirs = {k: v for k, v in saved.items() if k.startswith(name + ".")}
        bad, classes = match(theirs, shapes(networks[name], name + "."), len(old_names), len(new_names))
        mismatches += bad
        fresh += classes
    if mismatches:
        raise document.invalid(where, _mismatch_message(weights, mismatches, meta, architecture))
    if fresh:
        warnings.warn(f"{document.name}: the parent was trained on {len(old_names)} classes "
                      f"({', '.join(old_names)}), this data has {len(new_names)} ({', '.join(new_names)}); these "
                      f"class-embedding tensors start from fresh weights, every other one is loaded: "
                      f"{', '.join(fresh)}.", GanzooWarning)
    record = {"source": init.path, "checkpoint": str(weights.resolve()), "sha256": _sha256(weights),
              "kind": meta["kind"], "step": int(meta["step"]), "images_seen": state.get("images_seen"),
              "networks": wanted, "reinitialised": fresh}
    tensors: dict[str, dict[str, torch.Tensor]] = {}
    if load:
        try:
            everything = load_file(str(weights))
        except Exception as exc:  # safetensors' own errors: a file cut short after its header
            raise document.invalid(where, f"cannot read the weights in {weights}: {exc}. The file is "
                                          f"damaged.") from None
        for name in wanted:
            tensors[name] = {key[len(name) + 1:]: value for key, value in everything.items()
                             if key.startswith(name + ".") and key not in fresh}
    return InitialWeights(tensors, fresh, record)


def _wanted(init: InitSection, ema_enabled: bool, present: set[str], document: Document) -> list[str]:
    """The networks to load, each checked to be in the parent (and, for the EMA, kept by this run)."""
    wanted = [name for name, chosen in (("generator", init.generator), ("discriminator", init.discriminator),
                                        ("generator_ema", init.ema)) if chosen]
    if not wanted:
        raise document.invalid(("init",), "generator, discriminator and ema are all false, so nothing would be "
                                          "loaded; set one to true or remove init.")
    if init.ema and not ema_enabled:
        raise document.invalid(("init", "ema"), "this run keeps no EMA generator (train.ema.enabled: false); set "
                                                "init.ema: false.")
    for name in wanted:
        if name not in present:
            field = "ema" if name == "generator_ema" else name
            raise document.invalid(("init", field), f"the parent checkpoint holds no {name.replace('_', ' ')} "
                                                    f"(it has {', '.join(sorted(present))}); set init.{field}: false.")
    return wanted


def _mismatch_message(weights: Path, mismatches: list[Mismatch], meta: dict[str, Any],
                      architecture: Architecture) -> str:
    listed = "; ".join(map(str, mismatches[:SHOWN]))
    more = f"; and {len(mismatches) - SHOWN} more" if len(mismatches) > SHOWN else ""
    theirs, ours = meta.get("architecture_config", {}), architecture.config.model_dump(mode="json")
    differences = [f"{key}: {theirs.get(key)!r} in the parent, {ours.get(key)!r} here"
                   for key in sorted(set(theirs) | set(ours)) if theirs.get(key) != ours.get(key)]
    cause = (f" The architecture config differs: {'; '.join(differences)}." if differences else "")
    return (f"the weights in {weights} do not fit this recipe's '{architecture.kind}' networks, "
            f"{len(mismatches)} tensor(s) differ: {listed}{more}.{cause} Use the parent's architecture config "
            f"(its recipe.resolved.json); only a different number of classes is allowed.")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
