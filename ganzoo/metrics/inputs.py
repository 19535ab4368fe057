"""What ``ganzoo fid`` and ``ganzoo features train`` accept on the command line, turned into sources.

A side is one of: a statistics ``.npz`` (pytorch-fid's or ganzoo's), a run
directory (images from its generator), a folder of images, a recipe (its
``data`` section) or a dataset spec ``KIND[:field=value,...]`` such as
``fashion-mnist:root=/data/fmnist,split=test,resolution=28``.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal, Optional

import torch
import yaml
from pydantic import ValidationError

from ganzoo.api import ImageData
from ganzoo.errors import GanzooWarning, PluginError
from ganzoo.metrics.errors import InputError
from ganzoo.metrics.sources import ImageSource, dataset_source, folder_source, generator_source
from ganzoo.metrics.stats import FeatureStats
from ganzoo.recipe import (
    COMMON_DATA_FIELDS,
    DATA_LOADING_FIELDS,
    DataSection,
    Document,
    check_plugin_section,
    load_data,
    load_recipe,
    resolve,
    section_fields,
)
from ganzoo.rundir import RECIPE_FILE, RunDir, load_run

KINDS_OF_INPUT = ("an image folder, a run directory, a statistics .npz, a recipe .yaml or a dataset spec "
                  "KIND[:field=value,...] (e.g. catalogue:size=2000,resolution=32)")


def parse_assignments(items: list[str], what: str = "--option") -> dict[str, Any]:
    """``["k=v", ...]`` -> ``{k: v}``, values parsed as YAML (200, true, [a, b])."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{what} '{item}' is not of the form name=value (for example weights=/path/file.pth).")
        try:
            out[key.strip()] = yaml.safe_load(raw)
        except yaml.YAMLError:
            out[key.strip()] = raw
    return out


def load_dataset_spec(spec: str, host) -> tuple[ImageData, dict[str, Any]]:
    """Load ``KIND[:field=value,...]`` through its dataset plugin (data.resolution defaults to 32, as in recipes)."""
    kind, _, rest = spec.partition(":")
    parts = [p for p in re.split(r",(?=\s*[A-Za-z_][A-Za-z0-9_]*\s*=)", rest) if p.strip()]
    fields = parse_assignments(parts, what=f"Dataset spec '{spec}': field")
    document = Document("Dataset spec", f"'{spec}'", error=InputError)
    try:
        section = DataSection.model_validate({"kind": kind, **fields})
    except ValidationError as exc:
        raise document.explain(exc, DataSection) from None
    _, config = check_plugin_section(kind, section_fields(section, COMMON_DATA_FIELDS), host.datasets, document,
                                     also_accepted=COMMON_DATA_FIELDS)
    data = load_data(SimpleNamespace(recipe=SimpleNamespace(data=section), data_config=config, source=spec), host)
    described = {"kind": kind, "resolution": section.resolution, "channels": section.channels,
                 **config.model_dump(mode="json")}
    return data, {"kind": kind, "split": getattr(config, "split", None), "data": described}


def load_recipe_data(resolved, host) -> tuple[ImageData, dict[str, Any]]:
    """A resolved recipe's data, as training saw it, and what to record about it."""
    data = load_data(resolved, host)
    described = {k: v for k, v in resolved.to_dict()["data"].items() if k not in DATA_LOADING_FIELDS}
    return data, {"kind": described["kind"], "split": getattr(resolved.data_config, "split", None), "data": described}


def load_run_data(run_dir: RunDir, host) -> tuple[Any, ImageData, dict[str, Any]]:
    """(resolved recipe, data, info) of a run directory; warns when the data changed since training."""
    resolved = resolve(run_dir.read_recipe(), host, source=str(run_dir.recipe_file))
    data, info = load_recipe_data(resolved, host)
    trained_on = run_dir.read_info().get("data", {}).get("content_sha256")
    if trained_on and trained_on != data.content_hash():
        warnings.warn(f"The data of {run_dir.path} has changed since the run trained on it (content SHA-256 "
                      f"{trained_on[:12]}... then, {data.content_hash()[:12]}... now); the reference statistics "
                      f"are those of the data as it is now.", GanzooWarning, stacklevel=2)
    return resolved, data, info


def load_real_source(arg: str, host) -> tuple[ImageData, dict[str, Any]]:
    """Real images in memory, for ``ganzoo features train`` and ``ganzoo metric-check``.

    A run directory, a recipe, a dataset spec, or a folder of same-sized images (unlabelled).
    """
    path = Path(arg)
    if path.is_dir() and (path / RECIPE_FILE).exists():
        _, data, info = load_run_data(RunDir(path), host)
        return data, info
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise InputError(f"Recipe '{path}' does not exist.")
        return load_recipe_data(load_recipe(path, host), host)
    if path.is_dir():
        return _folder_in_memory(path)
    if path.exists():
        raise InputError(f"'{arg}' is a file, not a run directory, recipe, dataset spec or folder of images.")
    return _spec(arg, host)


def _folder_in_memory(path: Path) -> tuple[ImageData, dict[str, Any]]:
    try:
        source = folder_source(path)
    except InputError as exc:
        raise InputError(f"{exc} Photos of different sizes, or with class sub-folders: read them through a "
                         f"dataset plugin that resizes them, e.g. the spec 'folder:path={path},resolution=64' "
                         f"(ganzoo-datasets).") from None
    images = torch.cat(list(source.batches(256)))
    return ImageData(images), {"kind": "folder", "split": None, "data": {"path": str(path.resolve())}}


def _spec(arg: str, host) -> tuple[ImageData, dict[str, Any]]:
    kind, colon, _ = arg.partition(":")
    if kind not in host.datasets:
        if not colon:
            raise InputError(f"'{arg}' does not exist. Give {KINDS_OF_INPUT}.")
        try:
            host.datasets.get(kind)
        except PluginError as exc:
            raise InputError(f"'{arg}' is not a file or folder, nor a dataset spec: {exc}") from None
    return load_dataset_spec(arg, host)


@dataclass
class Side:
    """One side of a comparison: saved statistics, or images to extract features from."""

    label: str
    stats: Optional[FeatureStats] = None
    source: Optional[ImageSource] = None
    generator: Optional[Literal["ema", "raw"]] = None  # when the images come from a run's generator


def open_side(arg: str, host, device: torch.device, n_fake: int, n_real: Optional[int], seed: int,
              prefer_ema: bool = True) -> Side:
    path = Path(arg)
    if path.suffix == ".npz":
        if not path.is_file():
            raise InputError(f"Statistics file '{path}' does not exist.")
        return Side(f"'{path}'", stats=FeatureStats.load(path))
    if path.is_dir() and (path / RECIPE_FILE).exists():
        run = load_run(path, host, device, prefer_ema=prefer_ema)
        which = "ema" if run.which == "generator_ema" else "raw"
        info = {"type": "generator", "run": str(path), "run_id": run.run_dir.read_info().get("run_id"),
                "step": run.step, "generator": which}
        label = f"run {path} ({'EMA' if which == 'ema' else 'raw'} generator, step {run.step})"
        return Side(label, source=generator_source(run.architecture, run.generator, n_fake, seed, device, label, info),
                    generator=which)
    if path.is_dir():
        source = folder_source(path)
        return Side(source.label, source=source)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise InputError(f"Recipe '{path}' does not exist.")
        data, info = load_recipe_data(load_recipe(path, host), host)
        label = f"data of recipe {path}"
        return Side(label, source=dataset_source(data, label, {"type": "dataset", **info}, n_real))
    if path.exists():
        raise InputError(f"'{path}' is a file that ganzoo cannot evaluate. Give {KINDS_OF_INPUT}.")
    data, info = _spec(arg, host)
    label = f"dataset {arg}"
    return Side(label, source=dataset_source(data, label, {"type": "dataset", **info}, n_real))
