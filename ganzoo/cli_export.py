"""CLI commands for post-processing and inspecting exported images (registered on ganzoo.cli.app)."""
from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Iterator, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from ganzoo.cli import _host, app, console, friendly
from ganzoo.errors import GanzooError

WorkersOption = typer.Option(None, "--workers", min=1, help="Images processed at once (default: CPU cores).")


class ImageProgress:
    """Per-image callback: a rich progress bar that appears with the first image (on a terminal only)."""

    def __init__(self, total: int, label: str):
        self.total, self.label = total, label
        self.progress: Optional[Progress] = None

    def __call__(self, path: Path) -> None:
        if not console.is_terminal:
            return
        if self.progress is None:
            self.progress = Progress(TextColumn(f"[bold]{self.label}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=console)
            self.progress.start()
            self.task = self.progress.add_task(self.label, total=self.total)
        self.progress.advance(self.task)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


@contextlib.contextmanager
def image_progress(total: int, label: str) -> Iterator[Callable[[Path], None]]:
    """An ImageProgress that is closed afterwards, whatever happens."""
    bar = ImageProgress(total, label)
    try:
        yield bar
    finally:
        bar.close()


@app.command()
@friendly
def postprocess(in_dir: Path = typer.Argument(..., help="Folder of images (searched recursively) or one image: "
                                                        "generated ones or ordinary photos."),
                out_dir: Path = typer.Argument(..., help="Folder for the results (sub-folders are mirrored)."),
                pipeline: Path = typer.Option(..., "--pipeline", "-p", help="Pipeline file (YAML) listing the steps; "
                                                                         "see docs/postprocess.md."),
                workers: Optional[int] = WorkersOption,
                provenance: bool = typer.Option(True, "--provenance/--no-provenance",
                                                help="Carry the AI-generated label found in an input into its output.")):
    """Run a folder of images through a post-processing pipeline. A bad pipeline fails before anything is written."""
    from ganzoo.pipeline import find_inputs, load_pipeline, process_folder
    steps = load_pipeline(pipeline, _host())
    inputs = find_inputs(in_dir, out_dir)
    started = time.monotonic()
    with image_progress(len(inputs), "postprocess") as on_image:
        written = process_folder(in_dir, out_dir, steps, workers, provenance, on_image, inputs)
    kinds = ", ".join(f"{n} {ext.lstrip('.')}" for ext, n in sorted(Counter(p.suffix for p in written).items()))
    console.print(f"Wrote {len(written)} images ({kinds}) to {out_dir} in {time.monotonic() - started:.1f}s",
                  highlight=False)


@app.command()
@friendly
def inspect(image: Path = typer.Argument(..., help="An image file (PNG, JPEG, WebP...)."),
            as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")):
    """Show whether an image is labelled AI-generated, and its provenance record (generator, run, seed, class...)."""
    from PIL import Image

    from ganzoo.provenance import read_provenance
    if not image.is_file():
        raise GanzooError(f"{image} is not a file (relative paths are taken from {Path.cwd()}).")
    try:
        with Image.open(image) as opened:
            facts = {"file": str(image), "format": (opened.format or "").lower(), "size": list(opened.size),
                     "mode": opened.mode}
            found = read_provenance(opened)
    except (OSError, SyntaxError, ValueError) as exc:
        raise GanzooError(f"{image} cannot be read as an image: {exc}.") from None
    facts.update(found.as_dict())
    if as_json:
        typer.echo(json.dumps(facts, indent=2))
        return
    table = Table(title=str(image), show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    table.add_row("format", f"{facts['format']} {facts['size'][0]}x{facts['size'][1]} {facts['mode']}")
    table.add_row("AI-generated", "[green]yes[/]" if found.ai_generated else "no label found")
    if found.digital_source_type:
        table.add_row("digital source type", found.digital_source_type)
    if found.found_in:
        table.add_row("found in", ", ".join(found.found_in))
    if found.description:
        table.add_row("description", found.description)
    for key, value in (found.record or {}).items():
        if key not in ("ai_generated", "digital_source_type"):
            table.add_row(key, "-" if value is None else str(value))
    console.print(table)
