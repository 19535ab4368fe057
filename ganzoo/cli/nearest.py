"""`ganzoo nearest`: the copy check (are generated images copies of training images?). The work is in
ganzoo.metrics.copy_check; this module wires and draws."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import List, Optional

import typer

from ganzoo.cli import progress
from ganzoo.cli.common import DeviceOption, console, err_console, exit_on_user_error, plugin_host


@exit_on_user_error
def nearest(run_dir: Path = typer.Argument(..., help="A run directory: its training data is searched."),
            out: Path = typer.Option(..., "--out", help="Folder for the contact sheets, nearest.json and "
                                                        "manifest.json."),
            images: Optional[Path] = typer.Option(None, "--images", help="A folder of generated images to check "
                                                  "instead of images from the run's generator."),
            count: int = typer.Option(1000, "--count", "-n", min=1, help="Images generated from the run."),
            k: int = typer.Option(5, "--k", min=1, help="Nearest training images per generated image."),
            extractor: str = typer.Option("domain", "--extractor", "-e", help="Feature extractor for the feature "
                                          "space (domain: offline, trained on the run's data if needed); "
                                          "'none': pixels only."),
            option: Optional[List[str]] = typer.Option(None, "--option", "-o", help="Feature extractor option "
                                                       "name=value (repeatable)."),
            seed: int = typer.Option(0, "--seed", min=0, help="Latents of the generated images and the training "
                                     "sample behind the threshold."),
            sample: int = typer.Option(1000, "--sample", min=2, help="Training images whose nearest-neighbour "
                                       "distances set the memorisation threshold."),
            percentile: float = typer.Option(5.0, "--percentile", min=0.1, max=50.0, help="The threshold is this "
                                             "percentile of the training-to-training distances."),
            raw: bool = typer.Option(False, "--raw", help="Use the raw generator instead of the EMA one."),
            batch_size: int = typer.Option(64, "--batch-size", min=1),
            device: str = DeviceOption,
            as_json: bool = typer.Option(False, "--json", help="Print the summary (nearest.json) as JSON.")):
    """For each generated image, its k nearest training images in a feature space and in pixels: contact sheets
    and the memorisation figure (share of generated images closer to a training image than training images are
    to each other; docs/variants.md)."""
    from ganzoo.engine.device import pick_device
    from ganzoo.metrics.copy_check import CopyCheckSettings, run_copy_check, write_copy_check
    from ganzoo.metrics.inputs import parse_assignments
    settings = CopyCheckSettings(k=k, count=count, seed=seed, extractor=None if extractor == "none" else extractor,
                                 options=parse_assignments(option or []), training_sample=sample,
                                 percentile=percentile, batch_size=batch_size)
    started = time.monotonic()
    with progress.features("copy check") as report:
        check = run_copy_check(run_dir, plugin_host(), pick_device(device), settings, images, not raw, report,
                               lambda line: err_console.print(f"  {line}", highlight=False, markup=False))
    record = write_copy_check(check, settings, out, time.monotonic() - started)
    if as_json:
        typer.echo(json.dumps(record, indent=2))
        return
    for space, result in record["spaces"].items():
        m = result["memorisation"]
        console.print(f"{space}: {m['share']:.1%} of {len(check.names):,} generated images are closer to a training "
                      f"image than {m['percentile']:g}% of training images are to each other (d < "
                      f"{m['threshold']:.4g}; about {m['expected_share_without_copying']:.0%} expected without "
                      f"copying). Median nearest distance: generated {m['generated_median_distance']:.4g}, "
                      f"training {m['training_median_distance']:.4g}.", highlight=False, soft_wrap=True)
    console.print(f"Wrote {', '.join(record['files'].values())} and manifest.json to {out} "
                  f"({record['seconds']:.1f}s).", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command()(nearest)
