"""The run directory: where a run's recipe, provenance, metrics, grids and checkpoints live.

Everything needed to resume, evaluate or generate is in here, so a run can be
used without the recipe file it came from.
"""
from __future__ import annotations

import json
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import ganzoo
from ganzoo.errors import GanzooError, RecipeError
from ganzoo.fileio import write_json

RECIPE_FILE = "recipe.resolved.json"
RUN_INFO_FILE = "run.json"
STATS_FILE = "stats.jsonl"

# Fields a resumed run may change: its budget, where and how much it exports, its thread count,
# how it is evaluated (evaluation never changes training), what it requires (a check, not a setting),
# and batch-norm synchronisation, which goes with the number of processes (itself free to change).
RESUMABLE_CHANGES = ("train.steps", "train.images", "train.wall_clock", "export", "run.threads", "eval", "requires",
                     "train.sync_batchnorm")


@dataclass(frozen=True)
class RunDir:
    path: Path

    @property
    def recipe_file(self) -> Path:
        return self.path / RECIPE_FILE

    @property
    def info_file(self) -> Path:
        return self.path / RUN_INFO_FILE

    @property
    def stats_file(self) -> Path:
        return self.path / STATS_FILE

    @property
    def grids(self) -> Path:
        return self.path / "grids"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    def has_checkpoint(self) -> bool:
        return (self.checkpoints / "latest.json").exists()

    def read_recipe(self) -> dict[str, Any]:
        try:
            return json.loads(self.recipe_file.read_text())
        except FileNotFoundError:
            raise GanzooError(f"{self.path} is not a ganzoo run directory: it has no {RECIPE_FILE}.") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise GanzooError(f"{self.recipe_file} cannot be read ({exc}); the run directory is damaged.") from None

    def read_info(self) -> dict[str, Any]:
        try:
            return json.loads(self.info_file.read_text())
        except (OSError, json.JSONDecodeError):
            return {}

    def write_info(self, info: dict[str, Any]) -> None:
        write_json(self.info_file, info)


def recipe_differences(old: dict, new: dict, ignore: tuple[str, ...] = RESUMABLE_CHANGES, prefix: str = "") -> list[str]:
    """Dotted paths whose values differ, as 'path: old -> new', skipping ``ignore`` subtrees."""
    diffs = []
    for key in sorted(set(old) | set(new), key=str):
        path = f"{prefix}{key}"
        if any(path == i or path.startswith(i + ".") for i in ignore):
            continue
        a, b = old.get(key, "<absent>"), new.get(key, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += recipe_differences(a, b, ignore, path + ".")
        elif a != b:
            diffs.append(f"{path}: {json.dumps(a)} -> {json.dumps(b)}")
    return diffs


def prepare(run_dir: RunDir, resolved_dict: dict, fresh: bool = False) -> bool:
    """Make ``run_dir`` ready for training. Returns True when an existing run will be resumed.

    A directory with a checkpoint is resumed when its recipe differs only in what
    RESUMABLE_CHANGES allows; otherwise it is refused, or archived when ``fresh``.
    """
    path = run_dir.path
    if path.exists() and any(path.iterdir()):
        if not run_dir.recipe_file.exists():
            raise GanzooError(f"{path} exists and is not a ganzoo run directory (no {RECIPE_FILE}); "
                              f"refusing to write into it. Choose another run.name or run.output_dir.")
        if fresh:
            archived = path.with_name(f"{path.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
            path.rename(archived)
        elif run_dir.has_checkpoint():
            diffs = recipe_differences(run_dir.read_recipe(), resolved_dict)
            if diffs:
                raise RecipeError(
                    f"Run directory {path} was started from a different recipe, so it cannot be resumed with this one. "
                    f"Differences: {'; '.join(diffs)}. Only {', '.join(RESUMABLE_CHANGES)} may change on resume. "
                    f"Use the original recipe, choose another run.name, or pass --fresh to archive the old run "
                    f"and start again."
                )
            return True
        # A run that never reached its first checkpoint: nothing to resume, start over in place.
    path.mkdir(parents=True, exist_ok=True)
    return False


def environment_info() -> dict[str, Any]:
    return {
        "ganzoo": ganzoo.__version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "platform": platform.platform(),
        "command": " ".join(sys.argv),
    }
