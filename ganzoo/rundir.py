"""The run directory: where a run's recipe, provenance, metrics, grids and checkpoints live.

Everything needed to resume, evaluate or generate is in here, so a run can be
used without the recipe file it came from: ``load_run`` rebuilds its generator.
"""
from __future__ import annotations

import json
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional

import torch
from torch import nn

import ganzoo
from ganzoo.api import Architecture, ImageData, ImageSpec
from ganzoo.engine import checkpoint
from ganzoo.engine.images import save_grid
from ganzoo.errors import GanzooError, RecipeError
from ganzoo.fileio import write_json
from ganzoo.host import Host
from ganzoo.recipe import ResolvedRecipe, build_architecture, resolve

RECIPE_FILE = "recipe.resolved.json"
RUN_INFO_FILE = "run.json"
STATS_FILE = "stats.jsonl"

# Fields a resumed run may change: its budget, where and how much it exports, its thread count,
# how it is evaluated (evaluation never changes training), what it requires (a check, not a setting),
# and batch-norm synchronisation, which goes with the number of processes (itself free to change).
RESUMABLE_CHANGES = ("train.steps", "train.images", "train.wall_clock", "export", "run.threads", "eval", "requires",
                     "train.sync_batchnorm", "data.cache", "data.memory_share", "data.decode_workers")


@dataclass(frozen=True)
class RunDir:
    """A run directory; also the engine's ``RunWriter`` (records, grids and checkpoints go here)."""

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

    def prepare(self, resolved_dict: dict, fresh: bool = False) -> bool:
        """Make the directory ready for training. Returns True when an existing run will be resumed.

        A directory with a checkpoint is resumed when its recipe differs only in what
        RESUMABLE_CHANGES allows; otherwise it is refused, or archived when ``fresh``. A file system
        that refuses (a name too long, no permission, a file where a folder should be) is a RecipeError.
        """
        try:
            return self._prepare(resolved_dict, fresh)
        except OSError as exc:
            raise RecipeError(f"The run directory {self.path} cannot be prepared: {exc.strerror or exc} "
                              f"({exc.filename or self.path}). Choose another run.name or run.output_dir, or fix "
                              f"the folder's permissions.") from None

    def _prepare(self, resolved_dict: dict, fresh: bool) -> bool:
        path = self.path
        if path.exists() and any(path.iterdir()):
            if not self.recipe_file.exists():
                raise GanzooError(f"{path} exists and is not a ganzoo run directory (no {RECIPE_FILE}); "
                                  f"refusing to write into it. Choose another run.name or run.output_dir.")
            if fresh:
                archived = path.with_name(f"{path.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
                path.rename(archived)
            elif self.has_checkpoint():
                diffs = recipe_differences(self.read_recipe(), resolved_dict)
                if diffs:
                    raise RecipeError(
                        f"Run directory {path} was started from a different recipe, so it cannot be resumed with "
                        f"this one. Differences: {'; '.join(diffs)}. Only {', '.join(RESUMABLE_CHANGES)} may change "
                        f"on resume. Use the original recipe, choose another run.name, or pass --fresh to archive "
                        f"the old run and start again."
                    )
                return True
            # A run that never reached its first checkpoint: nothing to resume, start over in place.
        path.mkdir(parents=True, exist_ok=True)
        return False

    # -- run.json: who ran what, where, on which data
    def start_session(self, resolved: ResolvedRecipe, host: Host, data: ImageData, resuming: bool,
                      session: dict[str, Any]) -> None:
        """Write the resolved recipe and add this session (device, threads, versions...) to run.json."""
        write_json(self.recipe_file, resolved.to_dict())
        info = self.read_info() if resuming else {}
        info.update({"run_id": info.get("run_id") or f"{resolved.name}-{time.strftime('%Y%m%d-%H%M%S')}",
                     "seed": resolved.recipe.run.seed, "recipe_source": resolved.source,
                     "recipe_digest": resolved.digest(), "plugins": host.versions(), "providers": resolved.providers,
                     "data": {"images": len(data), "resolution": data.spec.resolution, "channels": data.spec.channels,
                              "class_names": list(data.class_names), "content_sha256": data.content_hash()}})
        info.setdefault("sessions", []).append({"started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **session,
                                                "resumed": resuming, **environment_info()})
        self.write_info(info)

    def end_session(self, **facts: Any) -> None:
        """Add facts known at the end (e.g. peak memory) to this session's entry in run.json."""
        info = self.read_info()
        info["sessions"][-1].update(facts)
        self.write_info(info)

    # -- the engine's RunWriter
    @property
    def tensorboard_dir(self) -> Path:
        return self.path / "tensorboard"

    def append_stats(self, record: dict[str, Any]) -> None:
        with open(self.stats_file, "a") as handle:
            handle.write(json.dumps(record) + "\n")

    def stats_size(self) -> int:
        return self.stats_file.stat().st_size if self.stats_file.exists() else 0

    def truncate_stats(self, size: int) -> None:
        with open(self.stats_file, "ab") as handle:  # creates the file when missing
            handle.truncate(size)

    def save_grid(self, images: torch.Tensor, name: str) -> Path:
        return save_grid(images, self.grids / f"{name}.png")


def recipe_differences(old: dict, new: dict, ignore: tuple[str, ...] = RESUMABLE_CHANGES,
                       prefix: str = "") -> list[str]:
    """Dotted paths whose values differ, as 'path: old -> new', skipping ``ignore`` subtrees.

    A field that one side lacks and the other has switched off (None, 0, false, empty) is no difference:
    a recipe written before the field existed (``init``, ``train.freeze_discriminator``) meant "off", and
    its runs must still resume and sit in the same compare.
    """
    diffs = []
    for key in sorted(set(old) | set(new), key=str):
        path = f"{prefix}{key}"
        if any(path == i or path.startswith(i + ".") for i in ignore):
            continue
        if (key not in old and _off(new[key])) or (key not in new and _off(old[key])):
            continue
        a, b = old.get(key, "<absent>"), new.get(key, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += recipe_differences(a, b, ignore, path + ".")
        elif a != b:
            diffs.append(f"{path}: {json.dumps(a)} -> {json.dumps(b)}")
    return diffs


def _off(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and value in (0, False, [], {}))


def environment_info() -> dict[str, Any]:
    return {
        "ganzoo": ganzoo.__version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "platform": platform.platform(),
        "command": " ".join(sys.argv),
    }


@dataclass
class LoadedRun:
    run_dir: RunDir
    resolved: ResolvedRecipe
    architecture: Architecture
    generator: nn.Module
    step: int
    which: Literal["generator_ema", "generator"]


def load_run(path: str | Path, host: Host, device: torch.device, prefer_ema: bool = True) -> LoadedRun:
    """Rebuild a run's generator from its directory alone (recipe.resolved.json + latest checkpoint)."""
    run_dir = RunDir(Path(path))
    resolved = resolve(run_dir.read_recipe(), host, source=str(run_dir.recipe_file), architecture_only=True)
    files = checkpoint.latest(run_dir.checkpoints)
    if files is None:
        raise GanzooError(f"{run_dir.path} has no checkpoint yet; train it first with `ganzoo run`.")
    meta = checkpoint.read_metadata(files.weights)
    image = ImageSpec(meta["image"]["resolution"], meta["image"]["channels"], tuple(meta["image"]["class_names"]))
    architecture = build_architecture(resolved, host, image)
    generator = architecture.build_generator().to(device)
    names = checkpoint.network_names(files.weights)
    which = "generator_ema" if prefer_ema and "generator_ema" in names else "generator"
    checkpoint.load_networks(files.weights, {which: generator}, device)
    return LoadedRun(run_dir, resolved, architecture, generator.eval(), files.step, which)


def run_facts(loaded: LoadedRun) -> dict[str, Any]:
    """What a model card says of a loaded run: run.json, real images seen at the loaded step, the recipe
    digest and the latest evaluation at or before that step (periodic, in stats.jsonl, or `ganzoo eval`,
    in metrics.jsonl; None when the run was never evaluated)."""
    info = loaded.run_dir.read_info()
    images_seen, evaluations = None, []
    for record in _records(loaded.run_dir.stats_file):
        if record.get("step", -1) <= loaded.step:
            images_seen = record.get("images_seen", images_seen)
            if "eval/protocol" in record:
                evaluations.append({"step": record["step"], "images_seen": record.get("images_seen"),
                                    **{k[5:]: v for k, v in record.items() if k.startswith("eval/")}})
    for record in _records(loaded.run_dir.path / "metrics.jsonl"):
        if record.get("protocol", {}).get("fake", {}).get("step", -1) <= loaded.step:
            evaluations.append({"step": record["protocol"]["fake"].get("step"), **record})
    latest = max(evaluations, key=lambda r: r.get("step") or 0, default=None)
    return {"info": info, "images_seen": images_seen, "metrics": latest,
            "recipe_digest": info.get("recipe_digest") or loaded.resolved.digest()}


def _records(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [r for r in map(_json_or_none, path.read_text().splitlines()) if r]


def _json_or_none(line: str) -> Optional[dict[str, Any]]:
    try:
        value = json.loads(line)
    except ValueError:  # a line cut short by a crash
        return None
    return value if isinstance(value, dict) else None
