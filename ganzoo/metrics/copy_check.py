"""`ganzoo nearest`: are generated images copies of training images? Neighbours in a feature space and in pixels.

For each generated image (from a run's generator, or a folder) its k nearest images of the run's own training
data, as training loaded them, in two spaces: a feature extractor's (``domain`` by default: offline, trained on
the same data) and pixels (downscaled to 16 x 16, Euclidean). The memorisation figure compares each generated
image's nearest training distance with the distances between training images themselves
(:class:`ganzoo.metrics.nearest.Memorisation`). Writes a contact sheet per space, ``nearest.json`` and
``manifest.json`` into one folder.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import torch

import ganzoo
from ganzoo.api import ImageData
from ganzoo.export.generate import generate_batches
from ganzoo.export.manifest import loaded_run_section, run_section, write_manifest
from ganzoo.fileio import write_json
from ganzoo.metrics.contact_sheet import contact_sheet
from ganzoo.metrics.errors import InputError
from ganzoo.metrics.evaluate import LoadedExtractor, load_or_train_extractor
from ganzoo.metrics.inputs import load_run_data
from ganzoo.metrics.nearest import PIXEL_SIZE, Memorisation, memorisation, nearest, pixel_features, training_distances
from ganzoo.metrics.sources import folder_source, image_files
from ganzoo.rundir import RunDir, load_run

Progress = Callable[[str, int, int], None]  # (what, done, in all), as ganzoo.metrics.evaluate's
SHEET_ROWS = 16  # generated images shown on a contact sheet (all are in nearest.json)


@dataclass
class CopyCheckSettings:
    k: int = 5
    count: int = 1000          # images generated from the run (ignored for a folder of images)
    seed: int = 0              # latents of the generated images, and the training sample of the threshold
    extractor: Optional[str] = "domain"  # None: pixels only
    options: dict[str, Any] = field(default_factory=dict)
    training_sample: int = 1000  # training images whose nearest-neighbour distances set the threshold
    percentile: float = 5.0
    batch_size: int = 64


@dataclass
class SpaceResult:
    """Neighbours in one space: (Q, k) distances and training indices, nearest first, and the memorisation figure."""

    space: str
    distances: torch.Tensor
    indices: torch.Tensor
    memorisation: Memorisation
    protocol: dict[str, Any]


@dataclass
class CopyCheck:
    generated: torch.Tensor      # uint8 (Q, C, H, W)
    names: list[str]             # one per generated image: a file name, or "seed S index i"
    data: ImageData
    spaces: list[SpaceResult]
    info: dict[str, Any]


def features_of(batches: Iterator[torch.Tensor], extractor: Optional[LoadedExtractor], total: int, label: str,
                progress: Optional[Progress]) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """(pixel features, extractor features or None) of a stream of uint8 batches."""
    pixels, learned, done = [], [], 0
    for images in batches:
        pixels.append(pixel_features(images))
        if extractor is not None:
            learned.append(extractor.extractor(images).float())
        done += len(images)
        if progress:
            progress(label, done, total)
    return torch.cat(pixels), (torch.cat(learned) if extractor is not None else None)


def neighbours(generated: torch.Tensor, training: torch.Tensor, settings: CopyCheckSettings, space: str,
               protocol: dict[str, Any], progress: Optional[Progress] = None) -> SpaceResult:
    """Nearest training images of every generated one in one space, and the memorisation figure there."""
    if settings.k > len(training) - 1:
        raise InputError(f"--k {settings.k}: the training data has only {len(training)} images; ask for at most "
                         f"{len(training) - 1} neighbours.")
    label = f"nearest training images ({space})"
    on_block = (lambda done: progress(label, done, len(generated))) if progress else None
    distances, indices = nearest(generated, training, settings.k, on_block=on_block)
    baseline = training_distances(training, min(settings.training_sample, len(training)), settings.seed)
    return SpaceResult(space, distances, indices, memorisation(distances[:, 0], baseline, settings.percentile),
                       protocol)


def check_images(generated: torch.Tensor, names: list[str], data: ImageData, settings: CopyCheckSettings,
                 extractor: Optional[LoadedExtractor], info: dict[str, Any],
                 progress: Optional[Progress] = None) -> CopyCheck:
    """The copy check of generated uint8 images against ``data``."""
    if tuple(generated.shape[1:]) != tuple(data.images.shape[1:]):
        c, h, w = generated.shape[1:]
        rc, rh, rw = data.images.shape[1:]
        raise InputError(f"The generated images are {w}x{h} with {c} channel(s) but the training data is {rw}x{rh} "
                         f"with {rc}: give images at the data's size (as the run generates them).")
    b = settings.batch_size
    gen_pixels, gen_learned = features_of((generated[i:i + b] for i in range(0, len(generated), b)), extractor,
                                          len(generated), "features of the generated images", progress)
    real_pixels, real_learned = features_of((data.images[i:i + b] for i in range(0, len(data), b)), extractor,
                                            len(data), "features of the training images", progress)
    spaces = []
    if extractor is not None:
        spaces.append(neighbours(gen_learned, real_learned, settings, extractor.protocol.get("space", "features"),
                                 {"extractor": extractor.protocol}, progress))
    pixel_protocol = {"pixels": f"area-averaged to {PIXEL_SIZE}x{PIXEL_SIZE}, values 0..1, root-mean-square "
                                f"difference per value"}
    spaces.append(neighbours(gen_pixels, real_pixels, settings, "pixels", pixel_protocol, progress))
    return CopyCheck(generated, names, data, spaces, info)


def run_copy_check(run_dir: Path, host, device: torch.device, settings: CopyCheckSettings,
                   images_dir: Optional[Path] = None, prefer_ema: bool = True, progress: Optional[Progress] = None,
                   log: Callable[[str], None] = print) -> CopyCheck:
    """``ganzoo nearest RUN``: the run's generated images (or ``images_dir``) against the run's training data."""
    run = RunDir(Path(run_dir))
    if not run.recipe_file.exists():
        raise InputError(f"'{run_dir}' is not a run directory (no {run.recipe_file.name}); give the folder "
                         f"`ganzoo run` made.")
    _, data, data_info = load_run_data(run, host)
    run_info = run.read_info()
    info: dict[str, Any] = {"run": str(run_dir), "run_id": run_info.get("run_id"), "data": data_info,
                            "manifest_run": run_section(run_info.get("run_id"), run_dir, None, None,
                                                        run.read_recipe().get("architecture", {}).get("kind"),
                                                        run_info.get("recipe_digest"))}
    if images_dir is not None:
        source = folder_source(images_dir)
        generated = torch.cat(list(source.batches(settings.batch_size)))
        names = [str(p.relative_to(images_dir)) for p in image_files(Path(images_dir))]
        info["generated"] = {"type": "folder", "path": str(Path(images_dir).resolve()), "images": len(generated)}
    else:
        loaded = load_run(run_dir, host, device, prefer_ema=prefer_ema)
        generated = torch.cat([b for _, b, _ in generate_batches(loaded.architecture, loaded.generator,
                                                                 settings.count, settings.seed, device,
                                                                 settings.batch_size)])
        names = [f"seed {settings.seed} index {i}" for i in range(len(generated))]
        info["manifest_run"] = loaded_run_section(loaded)
        info["generated"] = {"type": "generator", "step": loaded.step, "seed": settings.seed,
                             "generator": "ema" if loaded.which == "generator_ema" else "raw",
                             "images": len(generated)}
    extractor = None
    if settings.extractor:
        extractor = load_or_train_extractor(host, settings.extractor, settings.options, device, data, log,
                                            where="--option values")
    return check_images(generated, names, data, settings, extractor, info, progress)


# ------------------------------------------------------------------ writing

def summary(check: CopyCheck, settings: CopyCheckSettings, files: dict[str, str], seconds: float) -> dict[str, Any]:
    """What nearest.json holds (and ``--json`` prints): per space the memorisation figure, per image its neighbours."""
    return {
        "generated": check.info.get("generated"), "run": check.info.get("run"), "run_id": check.info.get("run_id"),
        "training": {"images": len(check.data), "content_sha256": check.data.content_hash(),
                     "data": check.info.get("data", {}).get("data")},
        "k": settings.k, "seconds": round(seconds, 2), "files": files,
        "spaces": {s.space: {"memorisation": s.memorisation.to_dict(), "protocol": s.protocol,
                             "neighbours": [{"image": name, "training_index": s.indices[i].tolist(),
                                             "distance": [round(float(d), 6) for d in s.distances[i]]}
                                            for i, name in enumerate(check.names)]}
                   for s in check.spaces},
        "ganzoo": ganzoo.__version__,
    }


def write_copy_check(check: CopyCheck, settings: CopyCheckSettings, out_dir: Path, seconds: float) -> dict[str, Any]:
    """Contact sheets (one per space), nearest.json and manifest.json in ``out_dir``; returns the summary."""
    out_dir = Path(out_dir)
    files: dict[str, str] = {}
    rows = min(SHEET_ROWS, len(check.generated))
    for s in check.spaces:
        name = f"contact-sheet-{_slug(s.space)}.png"
        m = s.memorisation
        title = (f"{s.space}: nearest of {len(check.data):,} training images; red: closer than {m.percentile:g}% "
                 f"of training pairs (d < {m.threshold:.3g})")
        contact_sheet(check.generated[:rows], check.data.images, s.indices[:rows], s.distances[:rows],
                      out_dir / name, m.threshold, title)
        files[f"contact_sheet_{_slug(s.space)}"] = name
    files["summary"] = "nearest.json"
    record = summary(check, settings, files, seconds)
    write_json(out_dir / "nearest.json", record)
    run = check.info.get("manifest_run") or run_section(check.info.get("run_id"), check.info.get("run"), None, None,
                                                        None)
    write_manifest(out_dir, "nearest", list(files.values()), run)
    return record


def _slug(space: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in space.lower()).strip("-")
