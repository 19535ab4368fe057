"""Running a compare: check everything first, then train what is not finished.

Before the first step of the first run the data is loaded, every entry's architecture is built
for it, the feature extractor is loaded (a trainable one with no model for this data yet is
trained now, once) and checked on corrupted real data (``ganzoo metric-check``, into
OUTPUT/sanity.json), and existing run directories are checked against the runs the compare makes.
Each run is then trained by ``ganzoo.runner.run_recipe``, the code behind ``ganzoo run``: one
after another in this process on a CPU or a single GPU, or as ``ganzoo run`` subprocesses, one
per GPU, when several GPUs are visible.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Optional

import torch
import yaml

from ganzoo.api import ImageData
from ganzoo.compare.caveats import SANITY_FILE
from ganzoo.compare.recipe import Compare, PlannedRun
from ganzoo.engine import checkpoint
from ganzoo.engine.device import check_amp, pick_device
from ganzoo.engine.loop import Callback
from ganzoo.errors import GanzooError, RecipeError
from ganzoo.fileio import write_bytes, write_json
from ganzoo.host import Host
from ganzoo.metrics.check import MIN_PER_SIDE, check_feature_space
from ganzoo.metrics.evaluate import LoadedExtractor, load_or_train_extractor
from ganzoo.recipe import build_architecture, load_data
from ganzoo.recipe.finetune import check_finetune
from ganzoo.recipe.memory_check import check_memory
from ganzoo.rundir import recipe_differences
from ganzoo.runner import run_dir_of, run_recipe

# What may differ between a run directory and the run the compare makes now: the budget (a larger
# one extends finished runs), export and threads. Unlike `ganzoo run`, not eval: numbers measured
# under another protocol must not be set beside new ones.
COMPARE_RESUMABLE = ("train.steps", "train.images", "train.wall_clock", "export", "run.threads")
Log = Callable[[str], None]


@dataclass
class RunStatus:
    run: PlannedRun
    state: Literal["new", "partial", "finished"]  # partial resumes from its checkpoint; finished is skipped
    detail: str = ""  # where a partial or finished run stands


@dataclass
class Prepared:
    data: ImageData
    statuses: list[RunStatus]
    gpus: list[str]   # CUDA devices for one run per GPU at once; empty: one after another in this process
    sanity: Optional[dict[str, Any]] = None  # the feature-space check (OUTPUT/sanity.json), when made

    @property
    def todo(self) -> list[RunStatus]:
        return [s for s in self.statuses if s.state != "finished"]


@dataclass
class Outcome:
    name: str
    ok: bool
    message: str = ""


def recipe_file(compare: Compare, run: PlannedRun) -> Path:
    return compare.output / "recipes" / f"{run.name}.yaml"


def status_of(compare: Compare, run: PlannedRun) -> RunStatus:
    files = checkpoint.latest(run_dir_of(run.resolved).checkpoints)
    if files is None:
        return RunStatus(run, "new")
    state = checkpoint.load_state(files.state)
    detail = f"step {state['step']}, {state['images_seen']:,} images"
    return RunStatus(run, "finished" if compare.budget.reached_at(state) else "partial", detail)


def check_existing(compare: Compare) -> None:
    """Refuse run directories that this compare would resume but that were made with other settings."""
    problems = []
    for run in compare.runs:
        run_dir = run_dir_of(run.resolved)
        if not run_dir.path.is_dir() or not any(run_dir.path.iterdir()):
            continue
        if not run_dir.recipe_file.exists():
            problems.append(f"{run_dir.path} is not a ganzoo run directory")
        elif run_dir.has_checkpoint():
            diffs = recipe_differences(run_dir.read_recipe(), run.resolved.to_dict(), ignore=COMPARE_RESUMABLE)
            if diffs:
                problems.append(f"{run.name}: {'; '.join(diffs)}")
    if problems:
        raise RecipeError(
            f"Compare {compare.source}: run directories under {compare.output / 'runs'} were made with other "
            f"settings than this compare makes now, so their numbers could not be set beside new ones: "
            f"{' | '.join(problems)}. Choose another `output` folder, or pass --fresh to archive them and train "
            f"every run again.")


def ensure_extractor(compare: Compare, host: Host, data: ImageData, device: torch.device, log: Log,
                     train: bool = True) -> Optional[LoadedExtractor]:
    """Load the evaluation's feature extractor now, so missing weights stop the compare before it trains.

    A trainable extractor (e.g. one learned from the real data) with no model for this data yet is
    trained here, once, on the compare's data (unless ``train`` is False: a dry run only says so);
    the runs then find it by the data's hash.
    """
    resolved = compare.runs[0].resolved
    kind = resolved.recipe.eval.extractor.kind
    options = resolved.extractor_config.model_dump(mode="json")
    loaded = load_or_train_extractor(host, kind, options, device, data, log, where="eval.extractor options",
                                     train=train)
    if loaded is None:
        log(f"No '{kind}' feature extractor has been trained on this data yet; the compare will train it first.")
    return loaded


def ensure_sanity(compare: Compare, loaded: LoadedExtractor, data: ImageData, log: Log) -> Optional[dict[str, Any]]:
    """The feature space checked on the compare's data (OUTPUT/sanity.json; reused while extractor, data and
    sample size are the same). Each half has ``eval.n_fake`` images, so its floor is measured at the runs' size."""
    section = compare.runs[0].resolved.recipe.eval
    per_side = min(section.n_fake, len(data) // 2)
    path = compare.output / SANITY_FILE
    key = {"extractor": {k: v for k, v in loaded.protocol.items() if k != "options"},
           "content_sha256": data.content_hash(), "images_per_side": per_side, "seed": section.seed}
    if path.is_file():
        try:
            previous = json.loads(path.read_text())
            if previous.get("key") == key:
                return previous
        except (OSError, ValueError):
            pass  # unreadable: measured again and replaced
    if per_side < MIN_PER_SIDE:
        log(f"Not checking the feature space: it needs {2 * MIN_PER_SIDE} real images and eval.n_fake >= "
            f"{MIN_PER_SIDE}.")
        return None
    log(f"Checking the '{loaded.protocol['kind']}' feature space on corrupted real images ({per_side:,} per side).")
    report = check_feature_space(loaded, data, {"kind": compare.data["kind"], "data": compare.data}, per_side,
                                 section.seed, section.batch_size)
    result = {**report.to_dict(), "key": key}
    write_json(path, result)
    return result


def gpus_for(device: str) -> list[str]:
    """One entry per visible CUDA device when runs should go one per GPU (device auto or cuda, 2+ GPUs)."""
    if device not in ("auto", "cuda") or not torch.cuda.is_available() or torch.cuda.device_count() < 2:
        return []
    count = torch.cuda.device_count()
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    return (visible or [str(i) for i in range(count)])[:count]


def check_and_plan(compare: Compare, host: Host, fresh: bool, log: Log, dry_run: bool = False) -> Prepared:
    """Everything that can reject the compare, before anything trains; then the plan (``dry_run``: train nothing,
    not even a feature extractor)."""
    device = pick_device(compare.spec.device)
    data = load_data(compare.runs[0].resolved, host)
    seen = set()
    for run in compare.runs:
        if run.entry in seen:
            continue
        seen.add(run.entry)
        check_amp(device, run.resolved.recipe.train.amp)
        architecture = build_architecture(run.resolved, host, data.spec)
        check_finetune(run.resolved, architecture, "check")
        check_memory(run.resolved, architecture, device)
    if not fresh:
        check_existing(compare)
    loaded = ensure_extractor(compare, host, data, device, log, train=not dry_run)
    statuses = [RunStatus(run, "new") if fresh else status_of(compare, run) for run in compare.runs]
    sanity = None
    if loaded is not None and not dry_run:
        compare.output.mkdir(parents=True, exist_ok=True)
        sanity = ensure_sanity(compare, loaded, data, log)
    return Prepared(data, statuses, gpus_for(compare.spec.device), sanity)


def write_plan(compare: Compare) -> None:
    """The compare as resolved, and each run's generated recipe (`ganzoo run` accepts it as it is)."""
    write_json(compare.output / "compare.resolved.json", compare.to_dict())
    for run in compare.runs:
        write_bytes(recipe_file(compare, run), yaml.safe_dump(run.recipe, sort_keys=False).encode())


def train_here(compare: Compare, prepared: Prepared, host: Host, fresh: bool,
               callbacks_for: Callable[[RunStatus, int, int], list[Callback]]) -> list[Outcome]:
    """The unfinished runs, one after another in this process (CPU, or a single GPU)."""
    outcomes = []
    todo = prepared.todo
    for index, status in enumerate(todo):
        try:
            run_recipe(status.run.resolved, host, callbacks_for(status, index, len(todo)), fresh=fresh,
                       data=prepared.data)
            outcomes.append(Outcome(status.run.name, True))
        except GanzooError as exc:  # e.g. a diverged run: the others still train and the report says so
            outcomes.append(Outcome(status.run.name, False, str(exc)))
    return outcomes


def train_on_gpus(compare: Compare, prepared: Prepared, fresh: bool, log: Log, poll: float = 2.0) -> list[Outcome]:
    """The unfinished runs as `ganzoo run` subprocesses, one per GPU at a time; output goes to OUTPUT/logs."""
    queue, active, outcomes = list(prepared.todo), {}, []
    logs = compare.output / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    try:
        while queue or active:
            for gpu in prepared.gpus:
                if gpu in active or not queue:
                    continue
                status = queue.pop(0)
                path = logs / f"{status.run.name}.log"
                handle = open(path, "ab")
                command = [sys.executable, "-m", "ganzoo", "run", str(recipe_file(compare, status.run))]
                process = subprocess.Popen(command + (["--fresh"] if fresh else []), stdout=handle,
                                           stderr=subprocess.STDOUT, env={**os.environ, "CUDA_VISIBLE_DEVICES": gpu})
                active[gpu] = (status, process, handle, path)
                log(f"{status.run.name}: training on GPU {gpu}, output in {path}")
            time.sleep(poll)
            for gpu, (status, process, handle, path) in list(active.items()):
                code = process.poll()
                if code is None:
                    continue
                handle.close()
                del active[gpu]
                message = "" if code == 0 else f"`ganzoo run` exited with {code}; see {path}"
                outcomes.append(Outcome(status.run.name, code == 0, message))
                log(f"{status.run.name}: {'done' if code == 0 else message}")
    except KeyboardInterrupt:
        for status, process, handle, _ in active.values():
            process.terminate()  # each saves nothing more; rerunning the compare resumes from their checkpoints
            process.wait()
            handle.close()
        raise
    return outcomes
