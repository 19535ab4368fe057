"""From a resolved recipe to a finished run directory: data, architecture, training, export.

The CLI calls these; so can Python code and tests. Nothing here draws on the terminal.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from ganzoo.api import ImageData
from ganzoo.engine import distributed, memory
from ganzoo.engine.device import check_amp, set_threads
from ganzoo.engine.loop import Callback, Trainer, rank
from ganzoo.export import check_export, generate_batches, pipeline_of, write_images
from ganzoo.host import Host
from ganzoo.metrics import periodic
from ganzoo.recipe import ResolvedRecipe, build_architecture, cheap_spec, load_data
from ganzoo.recipe.finetune import check_finetune
from ganzoo.recipe.memory_check import check_memory
from ganzoo.rundir import RunDir


def run_dir_of(resolved: ResolvedRecipe) -> RunDir:
    return RunDir(Path(resolved.recipe.run.output_dir) / resolved.name)


@dataclass
class RunOutcome:
    """What ``run_recipe`` did: the run directory, the training summary, the exported files."""

    run_dir: RunDir
    summary: dict[str, Any]
    exported: list[Path] = field(default_factory=list)


def run_recipe(resolved: ResolvedRecipe, host: Host, callbacks: list[Callback] = (), fresh: bool = False,
               on_export: Optional[Callable[[Path], None]] = None, data: Optional[ImageData] = None) -> RunOutcome:
    """Train (or resume) the recipe's run and export its images.

    ``data`` is the recipe's data when the caller has loaded it already (``ganzoo compare`` trains
    several runs on one dataset); it must be what ``load_data(resolved, host)`` returns.
    """
    recipe = resolved.recipe
    run_dir = run_dir_of(resolved)
    threads = set_threads(recipe.run.threads if recipe.run.threads is not None else distributed.default_threads())
    device = distributed.setup(recipe.run.device)  # under torchrun: this rank's device, in the process group
    check_amp(device, recipe.train.amp)
    pipeline = pipeline_of(resolved, host)
    main = rank() == 0
    # Everything that can reject the recipe runs before the run directory is touched.
    with distributed.main_first():  # a dataset or extractor that fills a cache does it once
        if data is None:
            cheap = cheap_spec(resolved, host)  # networks that cannot fit are refused before the data is decoded
            if cheap is not None:
                check_memory(resolved, build_architecture(resolved, host, cheap), device)
            data = load_data(resolved, host)
        architecture = build_architecture(resolved, host, data.spec)
        # A run that will resume has its own weights: the parent of init is neither needed nor read.
        resumes = run_dir.has_checkpoint() and not (fresh and not distributed.restarted())
        init = check_finetune(resolved, architecture, "skip" if resumes else "load")
        memory_check = check_memory(resolved, architecture, device)  # before a byte of the networks is allocated
        check_export(pipeline, data.spec, recipe.export.provenance,
                     {"kind": architecture.kind, "seed": recipe.run.seed})
        evaluator = periodic.from_recipe(resolved, host, data, device, run_dir)  # every process extracts a share
    if main:
        # torchrun restarts a failed job with the same command line: it resumes, whatever --fresh said.
        resuming = run_dir.prepare(resolved.to_dict(), fresh and not distributed.restarted())
        world = distributed.world_size()  # processes under torchrun; train.batch_size is each one's
        run_dir.start_session(resolved, host, data, resuming, {
            "device": str(device), "threads": threads, "world_size": world,
            "global_batch_size": recipe.train.batch_size * world,
            "memory_estimate": memory_check.estimate.to_dict(),  # beside the measured peak_memory at the end
            **({"backend": distributed.backend()} if world > 1 else {})})
        if init:  # fine-tuned: which parent checkpoint, by hash, and how much it had seen
            run_dir.write_info({**run_dir.read_info(), "init": init.record})
    trainer = Trainer(architecture, data, recipe.train.to_settings(), recipe.run.seed, device, run_dir,
                      list(callbacks), evaluator, init)
    measured = memory.reset_peak(device)
    summary = trainer.run()
    if main:  # this session's peak memory, beside its device and versions
        run_dir.end_session(peak_memory=memory.peak(device, measured))
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
    return RunOutcome(run_dir, summary, exported)
