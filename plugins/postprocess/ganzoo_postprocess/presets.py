"""``preset``: a named, ready-made list of steps kept as a YAML file (marketplace rules as data).

A preset file is ``{description: ..., steps: [{kind: ..., ...}, ...]}`` using this
distribution's post-processors. ``name: NAME`` finds ``NAME.yaml`` in, first to last:
the folders in ``$GANZOO_PRESET_PATH`` (separated like ``PATH``), the user's
``$XDG_CONFIG_HOME/ganzoo/presets`` (``~/.config/ganzoo/presets``), and the presets
bundled here. ``path: FILE`` uses one file directly. ``set: {encode.quality: 85}``
changes fields of the preset's steps (every step of that kind).
"""
from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, Optional

import yaml
from pydantic import Field, PrivateAttr, ValidationError, model_validator

from ganzoo.api import GanzooError, PluginConfig, PostProcessor
from ganzoo.fileio import YamlError, parse_yaml
from ganzoo_postprocess._common import existing_file
from ganzoo_postprocess.encode import Encode, Provenance
from ganzoo_postprocess.geometry import CenterCrop, PadSquare, Resize
from ganzoo_postprocess.pixels import Sharpen, WhitenBackground
from ganzoo_postprocess.watermark import Watermark

STEPS: dict[str, type[PostProcessor]] = {
    cls.kind: cls for cls in (Resize, PadSquare, CenterCrop, WhitenBackground, Watermark, Sharpen, Encode, Provenance)
}
BUNDLED = Path(__file__).resolve().parent / "presets"


def preset_dirs() -> list[Path]:
    """Where ``name:`` looks, first match wins."""
    dirs = [Path(p).expanduser() for p in os.environ.get("GANZOO_PRESET_PATH", "").split(os.pathsep) if p]
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return dirs + [config_home / "ganzoo" / "presets", BUNDLED]


def available_presets() -> dict[str, Path]:
    """Preset name -> file, user folders shadowing bundled presets of the same name."""
    found: dict[str, Path] = {}
    for folder in preset_dirs():
        if folder.is_dir():
            for file in sorted(folder.glob("*.y*ml")):
                if file.suffix in (".yaml", ".yml"):
                    found.setdefault(file.stem, file)
    return found


def read_preset(file: Path) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """(description, [(kind, fields), ...]) from a preset file; ValueError naming the problem."""
    try:  # parse_yaml: duplicate keys and alias bombs refused, as in recipes and pipelines
        data, _ = parse_yaml(Path(file).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, YamlError) as exc:
        raise ValueError(f"preset file {file} cannot be read: "
                         f"{str(exc).splitlines()[0] if str(exc) else exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list) or set(data) - {"description", "steps"}:
        raise ValueError(f"preset file {file} must be a mapping with a 'steps' list (and optionally a 'description')")
    steps = []
    for i, step in enumerate(data["steps"]):
        kind = step.get("kind") if isinstance(step, dict) else None
        if kind not in STEPS:
            hint = difflib.get_close_matches(str(kind), list(STEPS), n=1)
            raise ValueError(f"preset file {file} step {i}: kind {kind!r} is not one a preset can use"
                             f"{f' (did you mean {hint[0]!r}?)' if hint else ''}; presets use {', '.join(STEPS)} "
                             f"(list other plugins' steps in the pipeline itself)")
        steps.append((kind, {k: v for k, v in step.items() if k != "kind"}))
    return str(data.get("description") or ""), steps


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg'].removeprefix('Value error, ')}"
                     for e in exc.errors())


class PresetConfig(PluginConfig):
    name: Optional[str] = Field(None, min_length=1, description="Preset name, e.g. marketplace-white-1000 (see "
                                                                "docs/postprocess.md for where presets are found).")
    path: Optional[str] = Field(None, description="Instead of name: a preset file.")
    set: dict[str, Any] = Field(default_factory=dict, description="Change fields of the preset's steps, e.g. "
                                                                  "{encode.quality: 85, resize.longest_side: 1600}.")
    _steps: list[PostProcessor] = PrivateAttr(default_factory=list)
    _description: str = PrivateAttr("")

    @model_validator(mode="after")
    def _load(self) -> "PresetConfig":
        if (self.name is None) == (self.path is None):
            raise ValueError("give exactly one of name (e.g. marketplace-white-1000) or path (a preset YAML file)")
        if self.path is not None:
            self.path = existing_file(self.path, "preset")
            file, label = Path(self.path), f"preset file {self.path}"
        else:
            presets = available_presets()
            if self.name not in presets:
                hint = difflib.get_close_matches(self.name, list(presets), n=1)
                raise ValueError(f"unknown preset {self.name!r}{f' (did you mean {hint[0]!r}?)' if hint else ''}; "
                                 f"available: {', '.join(sorted(presets)) or 'none'} (folders searched: "
                                 f"{', '.join(map(str, preset_dirs()))})")
            file, label = presets[self.name], f"preset '{self.name}' ({presets[self.name]})"
        self._description, steps = read_preset(file)
        kinds = [kind for kind, _ in steps]
        for key, value in self.set.items():
            kind, _, field = key.partition(".")
            if not field or kind not in kinds:
                raise ValueError(f"set: {key!r} must be KIND.FIELD naming one of the {label} steps: {', '.join(kinds)}")
            for _, fields in (s for s in steps if s[0] == kind):
                fields[field] = value
        built = []
        for i, (kind, fields) in enumerate(steps):
            try:
                built.append(STEPS[kind](STEPS[kind].Config.model_validate(fields)))
            except ValidationError as exc:
                raise ValueError(f"{label} step {i} ({kind}): {_problems(exc)}") from None
        self._steps = built
        return self


class Preset(PostProcessor):
    """Run a preset's steps in order."""

    kind = "preset"
    Config = PresetConfig
    description = "A named list of steps from a YAML file, e.g. marketplace-white-1000"

    def __call__(self, image, meta):
        for i, step in enumerate(self.config._steps):
            try:
                image = step(image, meta)
            except GanzooError as exc:
                raise GanzooError(f"preset {self.config.name or self.config.path} "
                                  f"step {i} ({step.kind}): {exc}") from exc
        return image
