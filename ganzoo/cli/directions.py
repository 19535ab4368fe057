"""`ganzoo directions`: label-free editing directions of a run's generator, in closed form (SeFa); used by
`ganzoo generate --edit NAME=STRENGTH`. The work is in ganzoo.export.sefa."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ganzoo.cli.common import JsonOption, console, exit_on_user_error, plugin_host


@exit_on_user_error
def directions(run_dir: Path = typer.Argument(..., help="A run directory with a checkpoint."),
               out: Optional[Path] = typer.Option(None, "--out", help="Folder for directions.safetensors and "
                                                  "manifest.json (default: the run directory, where --edit looks)."),
               raw: bool = typer.Option(False, "--raw", help="Use the raw generator instead of the EMA one."),
               show: int = typer.Option(8, "--show", min=0, help="Directions listed (all are saved)."),
               as_json: bool = JsonOption):
    """Find editing directions without labels (SeFa, Shen & Zhou 2021): the eigenvectors of the generator's first
    latent-reading weights, strongest first, named d0, d1, ... (docs/variants.md)."""
    from ganzoo.engine.device import pick_device
    from ganzoo.export.manifest import loaded_run_section, write_manifest
    from ganzoo.export.sefa import FILE_NAME, sefa, write_directions
    from ganzoo.rundir import load_run
    loaded = load_run(run_dir, plugin_host(), pick_device("cpu"), prefer_ema=not raw)
    found = sefa(loaded.architecture, loaded.generator, loaded.run_dir.read_info().get("run_id"))
    folder = out or loaded.run_dir.path
    path = write_directions(folder / FILE_NAME, found)
    if out is not None:  # a folder of its own gets a manifest; the run directory has run.json
        write_manifest(folder, "directions", [FILE_NAME], loaded_run_section(loaded), {"space": found.space})
    share = (found.eigenvalues / found.eigenvalues.sum()).tolist()
    summary = {"file": str(path), "space": found.space, "directions": len(found.names), "kind": found.kind,
               "run_id": found.run_id, "step": loaded.step, "generator": loaded.which,
               "eigenvalues": {n: round(float(v), 6) for n, v in zip(found.names, found.eigenvalues)}}
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    listed = ", ".join(f"{n} {s:.1%}" for n, s in zip(found.names[:show], share[:show]))
    console.print(f"Wrote {len(found.names)} directions in {found.space} to {path} (share of the eigenvalue sum: "
                  f"{listed}{', ...' if len(found.names) > show else ''}). Apply them with `ganzoo generate "
                  f"{run_dir}{'' if out is None else f' --directions {path}'} --edit d0=3 --out DIR`.",
                  highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command()(directions)
