"""`ganzoo project` and `ganzoo encoder train`: real images into a run's latent space, through inverter plugins."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List, Optional

import typer
from rich.table import Table

from ganzoo.cli import progress
from ganzoo.cli.common import DeviceOption, JsonOption, console, exit_on_user_error, plugin_host, say
from ganzoo.errors import UsageError

InverterOpt = typer.Option("optimize", "--inverter", help="Inverter kind (`ganzoo plugins` lists them): optimize "
                                                          "(gradient descent), encoder (needs `ganzoo encoder train`).")
OptionOpt = typer.Option(None, "--option", "-o", help="Inverter option name=value (repeatable), e.g. -o lr=0.05.")
SeedOpt = typer.Option(0, "--seed", min=0, help="Seeds the inverter's random draws: same seed, same latents.")
FeaturesOpt = typer.Option("discriminator", "--features", help="The perceptual space of the loss and the score: "
                           "discriminator (the run's own) or a trained perceptual extractor, e.g. domain "
                           "(`ganzoo features train domain RUN` first).")


def _inverter(kind: str, options: list[str], shortcuts: dict[str, Any]):
    """The inverter ``kind`` configured from ``-o`` options and the shortcut flags that were given."""
    from ganzoo.metrics.inputs import parse_assignments
    from ganzoo.recipe.validation import Document, check_plugin_section
    fields = parse_assignments(options, what="--option")
    registry = plugin_host().inverters
    document = Document("Options", f"of inverter '{kind}'", error=UsageError, verb="are")
    provider, _ = check_plugin_section(kind, fields, registry, document)
    for name, value in shortcuts.items():
        if value is None:
            continue
        if name not in provider.obj.Config.model_fields:
            raise UsageError(f"--{name.replace('_', '-')}: inverter '{kind}' has no '{name}' option (it has: "
                             f"{', '.join(provider.obj.Config.model_fields)}).")
        fields[name] = value
    _, config = check_plugin_section(kind, fields, registry, document)
    return provider.obj(config)


def _open(run_dir: Path, device: str, raw: bool, features: str):
    """The run as inverters see it, measuring in the ``--features`` space; and that space's protocol."""
    from ganzoo.engine.device import pick_device
    from ganzoo.errors import GanzooError
    from ganzoo.inversion.feature_space import DISCRIMINATOR, extractor_space, use_space
    from ganzoo.inversion.runview import open_run
    try:
        run, loaded = open_run(run_dir, plugin_host(), pick_device(device), prefer_ema=not raw)
    except UsageError:
        raise
    except GanzooError as exc:  # not a run directory, or no checkpoint yet: the user's input
        raise UsageError(str(exc)) from None
    if features == DISCRIMINATOR:
        return run, loaded, {"kind": DISCRIMINATOR, "space": run.feature_space}
    space = extractor_space(plugin_host(), features, run.load_data(), run.device, str(run_dir))
    return use_space(run, space), loaded, {"kind": features, **space.protocol}


@exit_on_user_error
def project(run_dir: Path = typer.Argument(..., help="A run directory with a checkpoint."),
            images: List[Path] = typer.Argument(..., help="Image files or folders (searched recursively)."),
            out: Path = typer.Option(..., "--out", help="Folder for latents, reconstructions and the manifest."),
            inverter: str = InverterOpt,
            space: Optional[str] = typer.Option(None, "--space", help="z, w, w+ or auto (optimize; default auto: "
                                                                      "w+ where offered, else z)."),
            steps: Optional[int] = typer.Option(None, "--steps", min=1, help="Optimisation steps (optimize; "
                                                                             "default 300)."),
            refine: Optional[int] = typer.Option(None, "--refine", min=0, help="Optimisation steps after the "
                                                                               "encoder's forward pass (encoder)."),
            option: Optional[List[str]] = OptionOpt,
            class_: Optional[str] = typer.Option(None, "--class", help="The images' class (name or index), needed "
                                                 "for class-conditional runs."),
            batch_size: int = typer.Option(8, "--batch-size", min=1, help="Images inverted together."),
            seed: int = SeedOpt,
            raw: bool = typer.Option(False, "--raw", help="Invert into the raw generator instead of the EMA one."),
            features: str = FeaturesOpt,
            force: bool = typer.Option(False, "--force", help="Replace an earlier projection in --out."),
            provenance: bool = typer.Option(True, "--provenance/--no-provenance",
                                            help="Label reconstructions AI-generated (machine-readable)."),
            device: str = DeviceOption, as_json: bool = JsonOption):
    """Find the latents of real images (GAN inversion): writes latents.safetensors (for `generate --latents`),
    reconstructions, the prepared targets, a comparison sheet and per-image PSNR and feature distance."""
    from ganzoo.export.generate import labels_of_class
    from ganzoo.export.manifest import FILE_NAME as MANIFEST
    from ganzoo.export.manifest import loaded_run_section
    from ganzoo.inversion.inputs import find_images, prepare_images, run_dataset
    from ganzoo.inversion.project import invert_all, write_projection
    chosen = _inverter(inverter, option or [], {"space": space, "steps": steps, "refine_steps": refine})
    if (out / MANIFEST).exists() and not force:
        raise UsageError(f"{out} already holds a projection ({MANIFEST}); choose another --out or pass --force to "
                         f"replace it.")
    files = find_images(images)
    run, loaded, feature_protocol = _open(run_dir, device, raw, features)
    architecture = run.architecture
    labels = None
    if architecture.conditional:
        if class_ is None:
            listing = ", ".join(f"{i} {n}" for i, n in enumerate(architecture.image.class_names))
            raise UsageError(f"This run's generator is class-conditional: say the images' class with --class "
                             f"(one of: {listing}).")
        labels = labels_of_class(architecture.image.class_names, class_, len(files), "this run")
    elif class_ is not None:
        raise UsageError(f"--class {class_}: this run's '{architecture.kind}' generator is not class-conditional.")
    targets, how = prepare_images(files, run_dataset(loaded, plugin_host()), architecture.image.resolution,
                                  architecture.image.channels)
    with progress.features(f"project ({chosen.kind})") as report:
        found = invert_all(run, chosen, targets, labels, batch_size, seed, report)
    facts = {"seed": seed, "prepared": how, "features": feature_protocol}
    manifest = write_projection(out, run, chosen, targets, [name for _, name in files], labels, found,
                                loaded_run_section(loaded), facts, provenance)
    if as_json:
        typer.echo(json.dumps(manifest, indent=2))
        return
    table = Table(title=f"{len(files)} image(s) into {manifest['space']} of {architecture.kind} "
                        f"(step {run.step}) by '{chosen.kind}'", title_justify="left")
    for column in ("image", "PSNR (dB)", "feature distance"):
        table.add_column(column, overflow="fold")
    for row in manifest["images"]:
        table.add_row(row["name"], f"{row['psnr']:.2f}", f"{row['feature_distance']:.4f}")
    console.print(table)
    say(f"Mean PSNR {manifest['mean_psnr']:.2f} dB, feature distance {manifest['mean_feature_distance']:.4f} "
        f"(in {manifest['feature_space'] or 'no feature space: the discriminator names no blocks'}); "
        f"{manifest['seconds_per_image']:.3f} s per image. Wrote {out} (latents.safetensors, reconstructions/, "
        f"comparison.png, {MANIFEST}).")


@exit_on_user_error
def encoder_train(run_dir: Path = typer.Argument(..., help="A run directory with a checkpoint."),
                  inverter: str = typer.Option("encoder", "--inverter", help="A trainable inverter kind."),
                  out: Optional[Path] = typer.Option(None, "--out", help="The file to write; default: "
                                                     "RUN/inverters/KIND.safetensors, where `project` looks."),
                  steps: Optional[int] = typer.Option(None, "--steps", min=1, help="Training steps (default 2000)."),
                  real: Optional[bool] = typer.Option(None, "--real/--no-real", help="Also train on the run's real "
                                                      "images (default: generated ones only)."),
                  option: Optional[List[str]] = OptionOpt, seed: int = SeedOpt,
                  raw: bool = typer.Option(False, "--raw", help="Train for the raw generator instead of the EMA one."),
                  features: str = FeaturesOpt, device: str = DeviceOption, as_json: bool = JsonOption):
    """Train an encoder (a trainable inverter) for one run's generator, on its own samples and optionally the
    run's real images; `ganzoo project --inverter encoder` then inverts in one forward pass."""
    import torch
    chosen = _inverter(inverter, option or [], {"steps": steps, "real": real})
    if not chosen.trainable:
        raise UsageError(f"Inverter '{inverter}' is not trainable; `ganzoo project --inverter {inverter}` uses it "
                         f"as it is.")
    run, _, feature_protocol = _open(run_dir, device, raw, features)
    target = out or chosen.trained_file(run)
    torch.manual_seed(seed)
    with progress.features(f"train {chosen.kind}") as report:
        summary = chosen.train(run, target, lambda done, total: report("steps", done, total))
    summary = {"run_id": run.run_id, "step": run.step, "seed": seed, "features": feature_protocol, **summary}
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    say(f"Trained '{chosen.kind}' for run {run.run_id} (step {run.step}) and wrote {target}: "
        + ", ".join(f"{k} {v}" for k, v in summary.items() if k not in ("run_id", "step", "file", "features"))
        + f"; feature space: {feature_protocol.get('space') or 'none'}.")


def register(app: typer.Typer) -> None:
    app.command()(project)
    encoder_app = typer.Typer(no_args_is_help=True, help="Trainable inverters (pSp-style encoders): train them for "
                                                         "a run.")
    encoder_app.command("train")(encoder_train)
    app.add_typer(encoder_app, name="encoder")
