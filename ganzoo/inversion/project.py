"""``ganzoo project``: invert prepared images in batches, regenerate them, score and write one folder.

The folder holds ``latents.safetensors`` (the latents file, ``ganzoo.export.latents``), ``reconstructions/``
(generated, so labelled AI-generated like every generated image), ``targets/`` (the images as prepared, what
was compared against), ``comparison.png`` (target above reconstruction, column by column) and
``manifest.json`` (``ganzoo.export.manifest``'s format: the run, then the inverter and its config, space,
feature space, per-image PSNR and feature distance, timings, and each file's size and SHA-256; written last, so
a folder with a manifest is a finished one).
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from ganzoo.api import Inversion, InversionRun, Inverter, to_float_images, to_uint8_images
from ganzoo.engine.images import save_grid, to_pil
from ganzoo.errors import GanzooError
from ganzoo.export import write_images
from ganzoo.export.latents import Latents, synthesise, write_latents
from ganzoo.export.manifest import FILE_NAME as MANIFEST
from ganzoo.export.manifest import write_manifest
from ganzoo.fileio import atomic_path


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB between uint8 images (N, C, H, W), as written to PNG (inf for identical images)."""
    mse = (a.float() - b.float()).square().flatten(1).mean(1)
    return 10 * torch.log10(255.0 ** 2 / mse)


def _checked(result: Any, run: InversionRun, inverter: Inverter, count: int) -> Inversion:
    """The inverter's answer, or a GanzooError naming what a plugin got wrong."""
    what = f"Inverter '{inverter.kind}'"
    if not isinstance(result, Inversion):
        raise GanzooError(f"{what} returned {type(result).__name__}, not ganzoo.api.Inversion; a bug in the plugin.")
    if result.space not in run.architecture.latent_spaces() or len(result.latents) != count:
        raise GanzooError(f"{what} returned {len(result.latents)} latents in {result.space!r} for {count} images of "
                          f"a run offering {run.architecture.latent_spaces()}; a bug in the plugin.")
    return result


def invert_all(run: InversionRun, inverter: Inverter, images: torch.Tensor, labels: Optional[torch.Tensor],
               batch_size: int, seed: int, report: Callable[[str, int, int], None]) -> dict[str, Any]:
    """Invert uint8 ``images`` batch by batch (torch seeded once with ``seed``); latents, regenerated uint8
    images, per-image scores and timings."""
    # torch's first optimiser imports torch._dynamo (seconds, once per process): pay it before the clock starts,
    # so the timings in the manifest are the inverter's own.
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    torch.manual_seed(seed)
    latents, recons, psnrs, distances, infos, space = [], [], [], [], [], None
    batches = math.ceil(len(images) / batch_size)
    started = time.perf_counter()
    for b, start in enumerate(range(0, len(images), batch_size)):
        target_u8 = images[start:start + batch_size]
        targets = to_float_images(target_u8).to(run.device)
        y = labels[start:start + batch_size].to(run.device) if labels is not None else None
        label = f"batch {b + 1}/{batches}" if batches > 1 else "inverting"
        result = _checked(inverter.invert(run, targets, y, lambda done, total: report(label, done, total)),
                          run, inverter, len(targets))
        if space is not None and result.space != space:
            raise GanzooError(f"Inverter '{inverter.kind}' changed latent space between batches; a bug in the plugin.")
        space = result.space
        with torch.no_grad():
            recon_u8 = to_uint8_images(synthesise(run.architecture, run.generator, result.latents.to(run.device),
                                                  space, y)).cpu()
            psnrs.append(psnr(recon_u8, target_u8))
            distances.append(run.feature_distance(to_float_images(recon_u8).to(run.device), targets, y).cpu())
        latents.append(result.latents.detach().cpu())
        recons.append(recon_u8)
        infos.append(result.info)
    seconds = time.perf_counter() - started
    return {"latents": torch.cat(latents), "space": space, "reconstructions": torch.cat(recons),
            "psnr": torch.cat(psnrs), "feature_distance": torch.cat(distances), "info": infos, "seconds": seconds}


def write_projection(out: Path, run: InversionRun, inverter: Inverter, images: torch.Tensor, names: list[str],
                     labels: Optional[torch.Tensor], found: dict[str, Any], run_record: dict[str, Any],
                     facts: dict[str, Any], provenance: bool = True) -> dict[str, Any]:
    """Write the folder (each file atomically, the manifest last) and return the manifest; ``run_record``: its
    ``run`` section (``ganzoo.export.manifest.run_section``)."""
    out.mkdir(parents=True, exist_ok=True)
    label_list = None if labels is None else [int(v) for v in labels]
    write_latents(out / "latents.safetensors", Latents(found["latents"], found["space"], run.run_id,
                                                       run.architecture.kind, label_list, names))
    meta = {"run_id": run.run_id, "kind": run.architecture.kind, "seed": facts.get("seed"),
            "recipe_digest": run_record.get("recipe_digest"), "inverter": inverter.kind}
    batches = [(0, found["reconstructions"], labels)]
    written = write_images(batches, out / "reconstructions", [], meta, run.image.class_names, provenance=provenance)
    (out / "targets").mkdir(exist_ok=True)
    for i, image in enumerate(images):
        with atomic_path(out / "targets" / f"{i:06d}.png") as tmp:
            to_pil(image).save(tmp, format="PNG")
    columns = min(len(images), 16)
    rows = []
    for start in range(0, len(images), columns):
        rows += [images[start:start + columns], found["reconstructions"][start:start + columns]]
        pad = columns - len(rows[-1])
        if pad:
            blank = torch.full((pad, *images.shape[1:]), 255, dtype=torch.uint8)
            rows[-2], rows[-1] = torch.cat([rows[-2], blank]), torch.cat([rows[-1], blank])
    save_grid(torch.cat(rows), out / "comparison.png", columns=columns)
    per_image = [{"name": name, "index": i, "target": f"targets/{i:06d}.png",
                  "reconstruction": f"reconstructions/{i:06d}.png", "label": None if labels is None else label_list[i],
                  "psnr": round(float(found["psnr"][i]), 3),
                  "feature_distance": round(float(found["feature_distance"][i]), 6)} for i, name in enumerate(names)]
    manifest = {
        **facts, "inverter": {"kind": inverter.kind, "config": inverter.config.model_dump(mode="json")},
        "space": found["space"], "count": len(names), "latents": "latents.safetensors",
        "feature_space": run.feature_space if run.features is not None else None,
        "mean_psnr": round(float(found["psnr"].mean()), 3),
        "mean_feature_distance": round(float(found["feature_distance"].mean()), 6),
        "seconds": round(found["seconds"], 3), "seconds_per_image": round(found["seconds"] / len(names), 4),
        "inverter_info": found["info"], "images": per_image,
    }
    files = ["latents.safetensors", "comparison.png"] + [f"targets/{i:06d}.png" for i in range(len(names))] + \
        [path.relative_to(out).as_posix() for path in written]
    write_manifest(out, "project", files, run_record, manifest)
    return json.loads((out / MANIFEST).read_text())  # as a reader of the file sees it
