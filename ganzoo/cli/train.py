"""`ganzoo run`, `ganzoo validate`, `ganzoo schema`: recipes in, run directories out."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import List, Optional

import typer

from ganzoo.cli import progress
from ganzoo.cli.common import SetOption, console, err_console, exit_on_user_error, plugin_host


def load(recipe: Path, overrides: Optional[list[str]]):
    """A recipe file, or a run directory (resumed or extended from its own resolved recipe), resolved."""
    from ganzoo.recipe import apply_overrides, load_recipe, resolve
    from ganzoo.rundir import RunDir
    host = plugin_host()
    if recipe.is_dir():
        run_dir = RunDir(recipe)
        data = apply_overrides(run_dir.read_recipe(), overrides or [], str(run_dir.recipe_file))
        return resolve(data, host, source=str(run_dir.recipe_file)), host
    return load_recipe(recipe, host, overrides or []), host


@exit_on_user_error
def run(recipe: Path = typer.Argument(..., help="Recipe YAML, or a run directory to resume."),
        set_: Optional[List[str]] = SetOption,
        fresh: bool = typer.Option(False, "--fresh", help="Archive an existing run directory and start over."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved recipe and stop."),
        nproc: int = typer.Option(1, "--nproc", min=1, help="Train data-parallel in N processes on this machine "
                                  "(one per GPU, or CPU processes) through torchrun; see docs/scaling.md."),
        max_restarts: int = typer.Option(0, "--max-restarts", min=0, help="Through torchrun: when a process "
                                         "fails, restart all from the last checkpoint, up to this many times.")):
    """Train, then export images, as the recipe says. Rerunning resumes from the last checkpoint."""
    from ganzoo.cli.progress import describe_run_dir
    from ganzoo.engine import distributed
    from ganzoo.runner import run_dir_of, run_recipe
    resolved, host = load(recipe, set_)
    if dry_run:
        console.print_json(json.dumps(resolved.to_dict()))
        return
    if nproc > 1 or max_restarts:
        from ganzoo.cli.torchrun import check_nproc, launch
        check_nproc(nproc, resolved.recipe.run.device)
        raise typer.Exit(launch(nproc, max_restarts, recipe, set_, fresh))  # the same command, under torchrun
    main = distributed.is_main()  # under torchrun only rank 0 prints
    run_dir = run_dir_of(resolved)
    if main:
        console.print(f"Run [bold]{resolved.name}[/]: {resolved.recipe.architecture.kind} on "
                      f"{resolved.recipe.data.kind} -> {run_dir.path}", highlight=False)
    if main and distributed.launched():
        world, batch = int(os.environ["WORLD_SIZE"]), resolved.recipe.train.batch_size
        console.print(f"Data parallel: {world} processes x batch {batch} = global batch {world * batch}",
                      highlight=False)
    try:
        with progress.images(resolved.recipe.export.count, "export") as on_export:  # drawn once export starts
            outcome = run_recipe(resolved, host, [progress.training()] if main else [], fresh=fresh,
                                 on_export=on_export)
    except KeyboardInterrupt:
        err_console.print(f"Interrupted. Run the same command again to resume from the last checkpoint in "
                          f"{run_dir.path}.")
        raise typer.Exit(130)
    if not main:
        return
    console.print(f"Done: step {outcome.summary['step']}, {outcome.summary['images_seen']:,} images seen. "
                  f"Run directory {outcome.run_dir.path} holds:", highlight=False)
    for line in describe_run_dir(outcome.run_dir.path):
        console.print(f"  {line}", highlight=False)


@exit_on_user_error
def validate(recipe: Path = typer.Argument(..., help="Recipe YAML to check."), set_: Optional[List[str]] = SetOption,
             data: bool = typer.Option(False, "--data", help="Also decode every image of the dataset (slow for "
                                       "big folders); without it the data is checked without decoding.")):
    """Check a recipe against the installed plugins and its data, without training (exit 2 when invalid).

    The dataset is checked cheaply (files found, a sample of headers read, classes from the folder tree);
    --data decodes all of it, as training would.
    """
    from ganzoo.export import check_export, pipeline_of
    from ganzoo.recipe import build_architecture, check_data, load_data
    from ganzoo.recipe.finetune import check_finetune
    from ganzoo.recipe.memory_check import check_memory, device_here
    resolved, host = load(recipe, set_)
    if data:
        loaded = load_data(resolved, host)
        spec, summary = loaded.spec, f"{len(loaded):,} images decoded"
    else:
        found = check_data(resolved, host)
        spec = found.spec(resolved.recipe.data.resolution)
        summary = f"{found.size:,} images" + "".join(f"; {note}" for note in found.notes)
    architecture = build_architecture(resolved, host, spec)
    init = check_finetune(resolved, architecture, "check")  # the parent's header and shapes, not its data
    memory = check_memory(resolved, architecture, device_here(resolved.recipe.run.device))  # meta tensors only
    check_export(pipeline_of(resolved, host), spec, resolved.recipe.export.provenance)  # tries it on a test image
    classes = f", {spec.num_classes} classes" if spec.num_classes else ", unlabelled"
    console.print(f"[green]OK[/] {recipe}: " + ", ".join(f"{k} from {v}" for k, v in resolved.providers.items()),
                  highlight=False)
    console.print(f"Data: {summary} ({spec.channels} channel(s), {spec.resolution}x{spec.resolution}{classes}).",
                  highlight=False)
    console.print(f"Memory: {memory.summary()}.", highlight=False)
    if init:
        parent = init.record
        console.print(f"Init: {', '.join(parent['networks'])} from {parent['checkpoint']} (step {parent['step']}, "
                      f"sha256 {parent['sha256'][:12]}...)", highlight=False)


@exit_on_user_error
def schema(out: Optional[Path] = typer.Option(None, "--out", help="Write to this file instead of printing.")):
    """JSON Schema of recipes, including the installed plugins' configs (for editors)."""
    from ganzoo.fileio import write_bytes
    from ganzoo.recipe import recipe_schema
    text = json.dumps(recipe_schema(plugin_host()), indent=2)
    if out:
        write_bytes(out, (text + "\n").encode())
        console.print(f"Wrote {out}")
    else:
        typer.echo(text)


def register(app: typer.Typer) -> None:
    app.command()(run)
    app.command()(validate)
    app.command()(schema)
