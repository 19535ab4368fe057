"""`ganzoo generate`, `ganzoo export-onnx`, `ganzoo postprocess`, `ganzoo inspect`: images from a run or an ONNX
file, the ONNX export itself, pipelines over photos, provenance."""
from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from pathlib import Path
from typing import List, Optional, Tuple

import typer
from rich.table import Table

from ganzoo.cli import progress
from ganzoo.cli.common import DeviceOption, JsonOption, WorkersOption, console, exit_on_user_error, plugin_host
from ganzoo.errors import GanzooError, UsageError


@exit_on_user_error
def generate(run_dir: Optional[Path] = typer.Argument(None, help="A run directory (or give --onnx instead)."),
             n: int = typer.Option(64, "-n", min=1, help="How many images."),
             out: Path = typer.Option(..., "--out", help="Folder for the images."),
             onnx: Optional[Path] = typer.Option(None, "--onnx", help="A file from `ganzoo export-onnx`, run with "
                                                 "onnxruntime instead of a run directory."),
             seed: int = typer.Option(0, "--seed", min=0, help="Latent seed: same seed, same images."),
             raw: bool = typer.Option(False, "--raw", help="Use the raw generator instead of the EMA one."),
             device: str = DeviceOption,
             batch_size: int = typer.Option(64, "--batch-size", min=1),
             class_: Optional[str] = typer.Option(None, "--class", help="Only this class (name or index), "
                                                  "for class-conditional runs."),
             truncation: Optional[float] = typer.Option(None, "--truncation", help="Truncation psi (0..1] for "
                                                        "architectures that support it, e.g. stylegan-lite."),
             postprocess: Optional[Path] = typer.Option(None, "--postprocess", help="Pipeline file (YAML) each image "
                                                        "goes through; see docs/postprocess.md."),
             provenance: bool = typer.Option(True, "--provenance/--no-provenance",
                                             help="Embed machine-readable AI-generated metadata."),
             workers: Optional[int] = WorkersOption,
             latents: Optional[Path] = typer.Option(None, "--latents", help="A latents file (`ganzoo project`): one "
                                                    "image per latent, exactly as projected (-n is ignored)."),
             interpolate: Optional[Tuple[str, str]] = typer.Option(None, "--interpolate", help="A B: from A to B, "
                                                                   "each a seed (its first image) or a latents file "
                                                                   "(FILE or FILE:INDEX); also writes strip.png and "
                                                                   "interpolation.webp."),
             frames: int = typer.Option(8, "--frames", min=2, max=1000, help="Images along --interpolate."),
             mix: Optional[str] = typer.Option(None, "--mix", help="Style mixing (stylegan-lite): latents files "
                                               "(FILE or FILE:INDEX) or seeds, comma-separated, whose --layers styles "
                                               "replace those of each image; also writes mixing.png."),
             layers: str = typer.Option("fine", "--layers", help="What --mix takes: coarse (shape, pose), middle or "
                                        "fine (colour, texture), or single resolutions such as 32px; "
                                        "comma-separated for several."),
             edit: Optional[List[str]] = typer.Option(None, "--edit", help="NAME=STRENGTH (repeatable): move along a "
                                                      "direction from `ganzoo directions RUN`, e.g. d0=3."),
             directions: Optional[Path] = typer.Option(None, "--directions", help="Directions file for --edit "
                                                       "(default: directions.safetensors in the run directory)."),
             any_run: bool = typer.Option(False, "--any-run", help="Accept z latents of another run of the same "
                                          "architecture as plain random numbers (they then draw other images).")):
    """Write images from a run's (EMA) generator, or from an exported ONNX file: PNGs, or what --postprocess makes.

    From latents (--latents), along a path (--interpolate), with mixed styles (--mix) or edited (--edit):
    see docs/variants.md."""
    from ganzoo.engine.device import pick_device
    from ganzoo.export import Pipeline, check_export, generate_batches, load_pipeline, write_images
    from ganzoo.export.generate import class_labels, sampling_options
    from ganzoo.export.variant_plan import VariantRequest
    from ganzoo.rundir import load_run
    if (run_dir is None) == (onnx is None):
        raise UsageError("Give either a run directory or --onnx FILE (an exported generator), not "
                         + ("both." if run_dir else "neither."))
    request = VariantRequest(latents, interpolate, frames, mix, layers, list(edit or []), directions, any_run)
    pipeline = load_pipeline(postprocess, plugin_host()) if postprocess else Pipeline()
    if onnx is not None:
        if request.active:
            raise UsageError("--latents, --interpolate, --mix and --edit need the run directory (they use the "
                             "mapping and style layers an ONNX file does not expose); give RUN instead of --onnx.")
        if raw:
            raise UsageError("--raw applies to run directories; an ONNX file holds the one generator it was "
                             "exported from (its card says which).")
        return _generate_onnx(onnx, n, out, seed, batch_size, class_, truncation, pipeline, provenance, workers)
    dev = pick_device(device)
    loaded = load_run(run_dir, plugin_host(), dev, prefer_ema=not raw)
    check_export(pipeline, loaded.architecture.image, provenance)  # a bad pipeline fails before anything is written
    labels = class_labels(loaded.architecture, class_, n)
    options = sampling_options(loaded.architecture, truncation=truncation)
    info = loaded.run_dir.read_info()
    meta = {"run_id": info.get("run_id"), "kind": loaded.architecture.kind, "seed": seed,
            "recipe_digest": info.get("recipe_digest") or loaded.resolved.digest()}  # the digest the run recorded
    if request.active:
        return _generate_variants(loaded, request, n, seed, labels, truncation, dev, batch_size, out, pipeline, meta,
                                  provenance, workers)
    batches = generate_batches(loaded.architecture, loaded.generator, n, seed, dev, batch_size, labels, **options)
    with progress.images(n, "generate") as on_image:
        written = write_images(batches, out, pipeline, meta, loaded.architecture.image.class_names, on_image,
                               provenance=provenance, workers=workers)
    console.print(f"Wrote {len(written)} images from {loaded.which} at step {loaded.step} to {out}", highlight=False)


def _generate_variants(loaded, request, n: int, seed: int, labels, truncation: Optional[float], dev, batch_size: int,
                       out: Path, pipeline, meta: dict, provenance: bool, workers: Optional[int]) -> None:
    """--latents, --interpolate, --mix, --edit: planned (and refused) first, then written like any generated image."""
    from ganzoo.export import write_images
    from ganzoo.export.manifest import loaded_run_section, write_manifest
    from ganzoo.export.sheets import write_animation, write_sheet
    from ganzoo.export.variant_plan import plan_variants
    from ganzoo.export.variants import render_batches
    from ganzoo.provenance import provenance_record
    plan = plan_variants(request, loaded.architecture, loaded.generator, loaded.run_dir.path, meta["run_id"], n,
                         seed, labels)
    if request.latents or request.interpolate:
        meta = {**meta, "seed": None}  # not drawn from --seed: each record's variant.latent says what from
    count = len(plan.latents)
    batches = render_batches(loaded.architecture, loaded.generator, plan.latents, dev, batch_size, truncation)
    batches = itertools.chain([next(batches)], batches)  # the first batch fails (a bad option) before any write
    with progress.images(count, "generate") as on_image:
        written = write_images(batches, out, pipeline, meta, loaded.architecture.image.class_names, on_image,
                               provenance=provenance, workers=workers, record_fields=plan.record_fields)
    made = [p.name for p in written]
    record = provenance_record({**meta, "index": None}, variant=plan.details) if provenance else None
    if plan.sheet:
        made.append(write_sheet(written, plan.columns, out / plan.sheet, record, plan.blanks).name)
    if plan.animate:
        made.append(write_animation(written, out / "interpolation", record).name)
    write_manifest(out, "generate", made, loaded_run_section(loaded),
                   {"space": plan.latents.space, "variant": plan.details, "latents": plan.latents.names})
    console.print(f"Wrote {len(written)} images{' and ' + ', '.join(made[len(written):]) if plan.sheet else ''} "
                  f"from {loaded.which} at step {loaded.step} to {out}", highlight=False, soft_wrap=True)


def _generate_onnx(path: Path, n: int, out: Path, seed: int, batch_size: int, class_: Optional[str],
                   truncation: Optional[float], pipeline, provenance: bool, workers: Optional[int]) -> None:
    from ganzoo.api import ImageSpec
    from ganzoo.export import check_export, write_images
    from ganzoo.export.onnx import OnnxGenerator
    model = OnnxGenerator(path)
    shape = model.card["output"]["shape"]
    check_export(pipeline, ImageSpec(shape[2], shape[1], model.class_names), provenance)
    labels = model.labels_for(class_, n)
    card = model.card
    batches = model.batches(n, seed, batch_size, labels, truncation)  # checks the options first
    meta = {"run_id": card.get("run_id"), "kind": card["architecture"]["kind"], "seed": seed,
            "recipe_digest": card.get("recipe_digest")}
    with progress.images(n, "generate") as on_image:
        written = write_images(batches, out, pipeline, meta, model.class_names, on_image, provenance=provenance,
                               workers=workers)
    console.print(f"Wrote {len(written)} images from {path} ({card['generator']} generator at step {card['step']}, "
                  f"onnxruntime) to {out}", highlight=False)


@exit_on_user_error
def export_onnx(run_dir: Path = typer.Argument(..., help="A run directory with a checkpoint."),
                out: Path = typer.Option(..., "--out", help="The ONNX file to write; its model card goes beside it "
                                                            "as the same name with .json."),
                raw: bool = typer.Option(False, "--raw", help="Export the raw generator instead of the EMA one."),
                uint8: bool = typer.Option(False, "--uint8", help="Bake the conversion to uint8 0..255 in (as "
                                                                   "ganzoo's PNGs); default: float32 in [-1, 1]."),
                force: bool = typer.Option(False, "--force", help="Replace the file and its card if they exist."),
                opset: int = typer.Option(18, "--opset", min=18, help="ONNX opset version.")):
    """Export a run's (EMA) generator to ONNX, with a model card, for use without PyTorch (docs/export.md)."""
    from ganzoo.engine.device import pick_device
    from ganzoo.export.onnx import export_generator, model_card
    from ganzoo.rundir import load_run, run_facts
    try:
        loaded = load_run(run_dir, plugin_host(), pick_device("cpu"), prefer_ema=not raw)
    except UsageError:
        raise
    except GanzooError as exc:  # no checkpoint yet, or not a run directory
        raise UsageError(str(exc)) from None
    facts = run_facts(loaded)
    card = model_card(loaded.architecture, which="ema" if loaded.which == "generator_ema" else "raw",
                      step=loaded.step, images_seen=facts["images_seen"], run=facts["info"],
                      recipe_digest=facts["recipe_digest"], metrics=facts["metrics"], uint8=uint8, opset=opset)
    with console.status("Exporting (torch.export, then a check with onnxruntime)..."):
        card = export_generator(loaded.architecture, loaded.generator, out, card, uint8=uint8, force=force,
                                opset=opset)
    diff = card["checked"]["max_abs_difference"]
    console.print(f"Wrote {out} ({card['generator']} generator at step {card['step']}, inputs "
                  f"{', '.join(i['name'] for i in card['inputs'])}; onnxruntime agrees with PyTorch to {diff:.1e}) "
                  f"and its model card {out.with_suffix('.json')}.", highlight=False, soft_wrap=True)


@exit_on_user_error
def postprocess(in_dir: Path = typer.Argument(..., help="Folder of images (searched recursively) or one image: "
                                                        "generated ones or ordinary photos."),
                out_dir: Path = typer.Argument(..., help="Folder for the results (sub-folders are mirrored)."),
                pipeline: Path = typer.Option(..., "--pipeline", "-p", help="Pipeline file (YAML) listing the steps; "
                                                                         "see docs/postprocess.md."),
                workers: Optional[int] = WorkersOption,
                provenance: bool = typer.Option(True, "--provenance/--no-provenance",
                                                help="Carry the AI-generated label found in an input into its "
                                                     "output.")):
    """Run a folder of images through a post-processing pipeline. A bad pipeline fails before anything is written."""
    from ganzoo.export.pipeline import find_inputs, load_pipeline, process_folder
    steps = load_pipeline(pipeline, plugin_host())
    inputs = find_inputs(in_dir, out_dir)
    started = time.monotonic()
    with progress.images(len(inputs), "postprocess") as on_image:
        written = process_folder(in_dir, out_dir, steps, workers, provenance, on_image, inputs)
    kinds = ", ".join(f"{n} {ext.lstrip('.')}" for ext, n in sorted(Counter(p.suffix for p in written).items()))
    console.print(f"Wrote {len(written)} images ({kinds}) to {out_dir} in {time.monotonic() - started:.1f}s",
                  highlight=False)


@exit_on_user_error
def inspect(image: Path = typer.Argument(..., help="An image file (PNG, JPEG, WebP...)."),
            as_json: bool = JsonOption):
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


def register(app: typer.Typer) -> None:
    app.command()(generate)
    app.command("export-onnx")(export_onnx)
    app.command()(postprocess)
    app.command()(inspect)
