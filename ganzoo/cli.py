"""The `ganzoo` command: wires recipes, plugins, the engine and export, and draws with rich.

This is the only module that prints. Errors the user can fix are one paragraph
and an exit code (2 for bad input), never a traceback.
"""
from __future__ import annotations

import functools
import json
import os
import warnings
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ganzoo import __version__
from ganzoo.errors import GanzooError, GanzooWarning

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="ganzoo: train, evaluate and export GANs for product images from one recipe.")
console = Console()
err_console = Console(stderr=True)

SetOption = typer.Option(None, "--set", help="Override a recipe field, e.g. --set train.steps=200 (repeatable).")


def _show_warning(message, category, filename, lineno, file=None, line=None):
    if issubclass(category, GanzooWarning):
        err_console.print(f"[yellow]warning:[/] {escape(str(message))}", highlight=False)
    else:
        err_console.print(f"[dim]{category.__name__}: {message} ({filename}:{lineno})[/]", highlight=False)


def friendly(command):
    """Turn GanzooError into one printed paragraph and its exit code (2 for bad input)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            try:
                return command(*args, **kwargs)
            except GanzooError as exc:
                err_console.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
                raise typer.Exit(exc.exit_code) from None

    return wrapper


def _host():
    from ganzoo.host import default_host
    return default_host()


def _load(recipe: Path, overrides: list[str]):
    from ganzoo.recipe import load_recipe, resolve
    from ganzoo.rundir import RunDir
    host = _host()
    if recipe.is_dir():  # a run directory: resume or extend it from its own resolved recipe
        from ganzoo.recipe import apply_overrides
        run_dir = RunDir(recipe)
        data = apply_overrides(run_dir.read_recipe(), overrides or [], str(run_dir.recipe_file))
        return resolve(data, host, source=str(run_dir.recipe_file)), host
    return load_recipe(recipe, host, overrides or []), host


@app.command()
@friendly
def run(recipe: Path = typer.Argument(..., help="Recipe YAML, or a run directory to resume."),
        set_: Optional[List[str]] = SetOption,
        fresh: bool = typer.Option(False, "--fresh", help="Archive an existing run directory and start over."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved recipe and stop."),
        nproc: int = typer.Option(1, "--nproc", min=1, help="Train data-parallel in N processes on this machine "
                                  "(one per GPU, or CPU processes) through torchrun; see docs/scaling.md."),
        max_restarts: int = typer.Option(0, "--max-restarts", min=0, help="Through torchrun: when a process "
                                         "fails, restart all from the last checkpoint, up to this many times.")):
    """Train, then export images, as the recipe says. Rerunning resumes from the last checkpoint."""
    from ganzoo import distributed
    from ganzoo.progress import PlainProgress, RichProgress, describe_run_dir
    from ganzoo.runner import run_dir_of, run_recipe
    resolved, host = _load(recipe, set_)
    if dry_run:
        console.print_json(json.dumps(resolved.to_dict()))
        return
    if nproc > 1 or max_restarts:
        from ganzoo.launch import check_nproc, launch
        check_nproc(nproc, resolved.recipe.run.device)
        raise typer.Exit(launch(nproc, max_restarts, recipe, set_, fresh))  # the same command, under torchrun
    main = distributed.is_main()  # under torchrun only rank 0 prints
    progress = RichProgress(console) if console.is_terminal else PlainProgress(console)
    run_dir = run_dir_of(resolved)
    if main:
        console.print(f"Run [bold]{resolved.name}[/]: {resolved.recipe.architecture.kind} on "
                      f"{resolved.recipe.data.kind} -> {run_dir.path}", highlight=False)
    if main and distributed.launched():
        world, batch = int(os.environ["WORLD_SIZE"]), resolved.recipe.train.batch_size
        console.print(f"Data parallel: {world} processes x batch {batch} = global batch {world * batch}",
                      highlight=False)
    try:
        from ganzoo.cli_export import image_progress
        with image_progress(resolved.recipe.export.count, "export") as on_export:  # drawn once export starts
            result = run_recipe(resolved, host, [progress] if main else [], fresh=fresh, on_export=on_export)
    except KeyboardInterrupt:
        err_console.print(f"Interrupted. Run the same command again to resume from the last checkpoint in {run_dir.path}.")
        raise typer.Exit(130)
    if not main:
        return
    console.print(f"Done: step {result.summary['step']}, {result.summary['images_seen']:,} images seen. "
                  f"Run directory {result.run_dir.path} holds:", highlight=False)
    for line in describe_run_dir(result.run_dir.path):
        console.print(f"  {line}", highlight=False)


@app.command()
@friendly
def validate(recipe: Path = typer.Argument(..., help="Recipe YAML to check."), set_: Optional[List[str]] = SetOption):
    """Check a recipe against the installed plugins and its data, without training (exit 2 when invalid)."""
    from ganzoo.data import load_data
    from ganzoo.runner import build_architecture, build_pipeline, check_export
    resolved, host = _load(recipe, set_)
    spec = load_data(resolved, host).spec  # loads the data: finds missing files too
    build_architecture(resolved, host, spec)
    check_export(build_pipeline(resolved, host), spec, resolved.recipe.export.provenance)  # tries it on a test image
    console.print(f"[green]OK[/] {recipe}: " + ", ".join(f"{k} from {v}" for k, v in resolved.providers.items()),
                  highlight=False)


@app.command()
@friendly
def schema(out: Optional[Path] = typer.Option(None, "--out", help="Write to this file instead of printing.")):
    """JSON Schema of recipes, including the installed plugins' configs (for editors)."""
    from ganzoo.fileio import write_bytes
    from ganzoo.recipe import recipe_schema
    text = json.dumps(recipe_schema(_host()), indent=2)
    if out:
        write_bytes(out, (text + "\n").encode())
        console.print(f"Wrote {out}")
    else:
        typer.echo(text)


@app.command()
@friendly
def plugins(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")):
    """List installed plugins: distribution, version, plugin API, what each provides, and whether it loaded."""
    from ganzoo import PLUGIN_API_VERSION
    records = [r.as_dict() for r in _host().records]
    if as_json:
        typer.echo(json.dumps(records, indent=2))
        return
    table = Table(title=f"ganzoo {__version__} plugins (plugin API {PLUGIN_API_VERSION})")
    for column in ("plugin", "distribution", "version", "API", "provides", "status"):
        table.add_column(column, overflow="fold")
    for r in records:
        provides = "\n".join(f"{cat.replace('_', ' ')}: {', '.join(kinds)}" for cat, kinds in r["provides"].items())
        status = "[green]loaded[/]" if r["status"] == "loaded" else f"[red]{r['status']}[/]: {escape(r['error'])}"
        table.add_row(escape(r["name"]), r["distribution"], r["version"], escape(r["api"]) or "-", provides, status)
    console.print(table)


@app.command()
@friendly
def generate(run_dir: Path = typer.Argument(..., help="A run directory."),
             n: int = typer.Option(64, "-n", min=1, help="How many images."),
             out: Path = typer.Option(..., "--out", help="Folder for the images."),
             seed: int = typer.Option(0, "--seed", min=0, help="Latent seed: same seed, same images."),
             raw: bool = typer.Option(False, "--raw", help="Use the raw generator instead of the EMA one."),
             device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps."),
             batch_size: int = typer.Option(64, "--batch-size", min=1),
             class_: Optional[str] = typer.Option(None, "--class", help="Only this class (name or index), "
                                                  "for class-conditional runs."),
             truncation: Optional[float] = typer.Option(None, "--truncation", help="Truncation psi (0..1] for "
                                                        "architectures that support it, e.g. stylegan-lite."),
             postprocess: Optional[Path] = typer.Option(None, "--postprocess", help="Pipeline file (YAML) each image "
                                                        "goes through; see docs/postprocess.md."),
             provenance: bool = typer.Option(True, "--provenance/--no-provenance",
                                             help="Embed machine-readable AI-generated metadata."),
             workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Images post-processed at once "
                                                   "(default: CPU cores).")):
    """Write images from a run's (EMA) generator: PNGs, or whatever the --postprocess pipeline makes."""
    from ganzoo.cli_export import image_progress
    from ganzoo.engine.device import pick_device
    from ganzoo.export import generate_batches, write_images
    from ganzoo.pipeline import Pipeline, load_pipeline
    from ganzoo.runner import check_export, class_labels, load_run, sampling_options
    dev = pick_device(device)
    pipeline = load_pipeline(postprocess, _host()) if postprocess else Pipeline()
    loaded = load_run(run_dir, _host(), dev, prefer_ema=not raw)
    check_export(pipeline, loaded.architecture.image, provenance)  # a bad pipeline fails before anything is written
    labels = class_labels(loaded.architecture, class_, n)
    options = sampling_options(loaded.architecture, truncation=truncation)
    batches = generate_batches(loaded.architecture, loaded.generator, n, seed, dev, batch_size, labels, **options)
    info = loaded.run_dir.read_info()
    meta = {"run_id": info.get("run_id"), "kind": loaded.architecture.kind, "seed": seed,
            "recipe_digest": info.get("recipe_digest") or loaded.resolved.digest()}  # the digest the run recorded
    with image_progress(n, "generate") as on_image:
        written = write_images(batches, out, pipeline, meta, loaded.architecture.image.class_names, on_image,
                               provenance=provenance, workers=workers)
    console.print(f"Wrote {len(written)} images from {loaded.which} at step {loaded.step} to {out}", highlight=False)


@app.command()
@friendly
def version():
    """Print ganzoo's version."""
    typer.echo(__version__)


# Command groups that live in their own modules register themselves on `app` when imported.
from ganzoo import cli_compare, cli_export, cli_metrics, cli_plugins  # noqa: E402,F401


def main() -> None:
    app()
