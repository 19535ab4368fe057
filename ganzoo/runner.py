"""From a resolved recipe to a finished run directory: data, architecture, training, export.

The CLI calls these; so can Python code and tests. Nothing here draws on the terminal.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import nn

from ganzoo import distributed
from ganzoo.api import Architecture, ImageData, ImageSpec
from ganzoo.data import load_data
from ganzoo.engine import checkpoint, memory
from ganzoo.engine.device import check_amp, set_threads
from ganzoo.engine.loop import Callback, Trainer, rank
from ganzoo.errors import GanzooError, RecipeError, UsageError
from ganzoo.export import generate_batches, write_images
from ganzoo.fileio import write_json
from ganzoo.host import Host
from ganzoo.metrics import periodic
from ganzoo.pipeline import Pipeline, check_pipeline, probe_images
from ganzoo.recipe import ResolvedRecipe, resolve
from ganzoo.rundir import RunDir, environment_info, prepare


def run_dir_of(resolved: ResolvedRecipe) -> RunDir:
    return RunDir(Path(resolved.recipe.run.output_dir) / resolved.name)


def build_architecture(resolved: ResolvedRecipe, host: Host, image: ImageSpec) -> Architecture:
    kind = resolved.recipe.architecture.kind
    try:
        return host.architectures.get(kind).obj(resolved.architecture_config, image)
    except ValueError as exc:
        raise RecipeError(f"Recipe {resolved.source}: architecture '{kind}' cannot be built for the data "
                          f"(data.resolution {image.resolution}, {image.channels} channel(s)): {exc}.") from None


def build_pipeline(resolved: ResolvedRecipe, host: Host) -> Pipeline:
    steps = resolved.recipe.export.postprocess
    return Pipeline([host.postprocessors.get(step.kind).obj(cfg) for step, cfg in zip(steps, resolved.postprocess_configs)],
                    [f"export.postprocess.{i} ({step.kind})" for i, step in enumerate(steps)], f"Recipe {resolved.source}")


def check_export(pipeline: Pipeline, image: ImageSpec, provenance: bool, meta: Optional[dict] = None) -> None:
    """Try the export pipeline on a test image like the generator's output (raises PipelineError, exit 2)."""
    size = (image.resolution, image.resolution)
    meta = {"run_id": None, "kind": None, "seed": None, **(meta or {})}
    check_pipeline(pipeline, probe_images(["L" if image.channels == 1 else "RGB"], size), meta, provenance)


@dataclass
class RunResult:
    run_dir: RunDir
    summary: dict[str, Any]
    exported: list[Path] = field(default_factory=list)


def run_recipe(resolved: ResolvedRecipe, host: Host, callbacks: list[Callback] = (), fresh: bool = False,
               on_export: Optional[Callable[[Path], None]] = None, data: Optional[ImageData] = None) -> RunResult:
    """Train (or resume) the recipe's run and export its images.

    ``data`` is the recipe's data when the caller has loaded it already (``ganzoo compare`` trains
    several runs on one dataset); it must be what ``load_data(resolved, host)`` returns.
    """
    recipe = resolved.recipe
    run_dir = run_dir_of(resolved)
    threads = set_threads(recipe.run.threads if recipe.run.threads is not None else distributed.default_threads())
    device = distributed.setup(recipe.run.device)  # under torchrun: this rank's device, in the process group
    check_amp(device, recipe.train.amp)
    pipeline = build_pipeline(resolved, host)
    main = rank() == 0
    # Everything that can reject the recipe runs before the run directory is touched.
    with distributed.main_first():  # a dataset or extractor that fills a cache does it once
        data = data if data is not None else load_data(resolved, host)
        architecture = build_architecture(resolved, host, data.spec)
        check_export(pipeline, data.spec, recipe.export.provenance,
                     {"kind": architecture.kind, "seed": recipe.run.seed})
        evaluation = periodic.from_recipe(resolved, host, data, device, run_dir)  # every process extracts a share
    if main:
        # torchrun restarts a failed job with the same command line: it resumes, whatever --fresh said.
        resuming = prepare(run_dir, resolved.to_dict(), fresh and not distributed.restarted())
        write_json(run_dir.recipe_file, resolved.to_dict())
        info = run_dir.read_info() if resuming else {}
        info.update({"run_id": info.get("run_id") or f"{resolved.name}-{time.strftime('%Y%m%d-%H%M%S')}",
                     "seed": recipe.run.seed, "recipe_source": resolved.source, "recipe_digest": resolved.digest(),
                     "plugins": host.versions(), "providers": resolved.providers,
                     "data": {"images": len(data), "resolution": data.spec.resolution, "channels": data.spec.channels,
                              "class_names": list(data.class_names), "content_sha256": data.content_hash()}})
        world = distributed.world_size()  # processes under torchrun; train.batch_size is each one's
        scale = {"world_size": world, "global_batch_size": recipe.train.batch_size * world,
                 **({"backend": distributed.backend()} if world > 1 else {})}
        info.setdefault("sessions", []).append({"started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                                "device": str(device), "threads": threads, **scale,
                                                "resumed": resuming, **environment_info()})
        write_json(run_dir.info_file, info)
    trainer = Trainer(architecture, data, recipe.train, recipe.run.seed, device, run_dir,
                      list(callbacks) + ([evaluation] if evaluation else []))
    if evaluation:
        evaluation.attach(trainer)
    measured = memory.reset_peak(device)
    summary = trainer.run()
    if main:  # this session's peak memory, beside its device and versions
        info = run_dir.read_info()
        info["sessions"][-1]["peak_memory"] = memory.peak(device, measured)
        write_json(run_dir.info_file, info)
    exported: list[Path] = []
    export = recipe.export
    if main and export.count:
        out = run_dir.path / export.dir
        seed = recipe.run.seed if export.seed is None else export.seed
        batches = generate_batches(architecture, trainer.sampling_generator, export.count, seed, device)
        meta = {"run_id": run_dir.read_info().get("run_id"), "kind": architecture.kind, "seed": seed,
                "recipe_digest": resolved.digest()}
        exported = write_images(batches, out, pipeline, meta, architecture.image.class_names, on_export,
                                provenance=export.provenance, workers=export.workers)
    return RunResult(run_dir, summary, exported)


@dataclass
class LoadedRun:
    run_dir: RunDir
    resolved: ResolvedRecipe
    architecture: Architecture
    generator: nn.Module
    step: int
    which: str  # generator_ema or generator


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


def class_labels(architecture: Architecture, value: Optional[str], count: int) -> Optional[torch.Tensor]:
    """Labels for ``--class NAME|INDEX``: all ``count`` images of that class (None: classes drawn at random)."""
    if value is None:
        return None
    names = architecture.image.class_names
    if not architecture.conditional:
        raise UsageError(f"--class {value}: this run's '{architecture.kind}' generator is not class-conditional "
                          f"(train with architecture.conditional: true on labelled data).")
    if value in names:
        index = names.index(value)
    elif value.isdigit() and int(value) < len(names):
        index = int(value)
    else:
        listing = ", ".join(f"{i} {name}" for i, name in enumerate(names))
        raise UsageError(f"--class {value} is not a class of this run. Classes: {listing}.")
    return torch.full((count,), index, dtype=torch.int64)


def sampling_options(architecture: Architecture, **options: Any) -> dict[str, Any]:
    """The sampling knobs that were set, refused when the architecture does not offer them."""
    chosen = {k: v for k, v in options.items() if v is not None}
    for name in chosen:
        if name not in architecture.sampling_options:
            offered = ", ".join(architecture.sampling_options) or "none"
            raise UsageError(f"--{name}: '{architecture.kind}' does not offer this sampling option "
                              f"(it offers: {offered}).")
    return chosen
