"""Generating images from a trained generator and writing them through the post-processing pipeline."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import torch
from torch import nn

from ganzoo.api import Architecture, ImageSpec, PostProcessor, to_uint8_images
from ganzoo.engine.images import to_pil
from ganzoo.errors import UsageError
from ganzoo.export.pipeline import Pipeline, check_pipeline, probe_images, run_parallel, write_image
from ganzoo.provenance import provenance_record


def check_export(pipeline: Pipeline, image: ImageSpec, provenance: bool, meta: Optional[dict] = None) -> None:
    """Try the export pipeline on a test image like the generator's output (raises PipelineError, exit 2)."""
    size = (image.resolution, image.resolution)
    meta = {"run_id": None, "kind": None, "seed": None, **(meta or {})}
    check_pipeline(pipeline, probe_images(["L" if image.channels == 1 else "RGB"], size), meta, provenance)


@torch.no_grad()
def generate_batches(architecture: Architecture, generator: nn.Module, count: int, seed: int,
                     device: torch.device, batch_size: int = 64, labels: Optional[torch.Tensor] = None,
                     first: int = 0, stop: Optional[int] = None, **options: Any):
    """Yield (first_index, uint8 images, labels) batches; latents come from one seeded CPU stream,
    so image i is the same whatever the batch size or device. ``first``/``stop`` pick images
    [first, stop) of the ``count`` (one process's share in distributed evaluation)."""
    generator.eval()
    rng = torch.Generator().manual_seed(seed)
    z_all = architecture.sample_latents(count, "cpu", rng)
    if labels is None and architecture.conditional:
        labels = architecture.sample_labels(count, "cpu", rng)
    stop = count if stop is None else min(stop, count)
    for start in range(first, stop, batch_size):
        end = min(start + batch_size, stop)
        z = z_all[start:end].to(device)
        y = labels[start:end].to(device) if labels is not None else None
        try:
            images = architecture.generate(generator, z, y, **options)
        except ValueError as exc:  # a sampling option out of range, e.g. truncation 1.5
            if not options:
                raise
            raise UsageError(f"Sampling options {options} for '{architecture.kind}': {exc}.") from None
        yield start, to_uint8_images(images).cpu(), (y.cpu() if y is not None else None)


def write_images(batches, out_dir: Path, pipeline: Iterable[PostProcessor] | Pipeline, base_meta: dict[str, Any],
                 class_names: tuple[str, ...] = (), on_image: Callable[[Path], None] | None = None,
                 provenance: bool = True, workers: Optional[int] = None,
                 record_fields: Optional[Callable[[int], dict[str, Any]]] = None) -> list[Path]:
    """Run each image through ``pipeline`` and write it as ``out_dir/INDEX.EXT``, ``workers`` images at a time.

    Steps choose the format through ``meta['format']`` (default png) and ``meta['save_options']``.
    With ``provenance`` each image carries its AI-generated record (see ganzoo.provenance), plus
    ``record_fields(index)`` when given (what the image was made from: a latent, an edit...).
    Check the pipeline first (``check_pipeline``) so that a bad one fails before anything is written.
    """
    if not isinstance(pipeline, Pipeline):
        steps = list(pipeline)
        pipeline = Pipeline(steps, [f"step {i} ({getattr(s, 'kind', type(s).__name__)})" for i, s in enumerate(steps)])
    out_dir = Path(out_dir)
    written: list[Path] = []

    def task(index: int, image: torch.Tensor, label: Optional[int]) -> Callable[[], Path]:
        def run() -> Path:
            meta = {**base_meta, "index": index, "label": label,
                    "class_name": class_names[label] if label is not None and class_names else None,
                    "format": "png", "source": None}
            if provenance:
                meta["provenance"] = provenance_record(meta, **(record_fields(index) if record_fields else {}))
            picture = pipeline.apply(to_pil(image), meta)
            return write_image(picture, out_dir / f"{index:06d}", meta)
        return run

    def tasks():
        for start, images, labels in batches:  # generated lazily: only a batch and the images in flight are held
            for offset, image in enumerate(images):
                yield task(start + offset, image, int(labels[offset]) if labels is not None else None)

    def done(path: Path) -> None:
        written.append(path)
        if on_image:
            on_image(path)

    out_dir.mkdir(parents=True, exist_ok=True)
    run_parallel(tasks(), workers, done)
    return sorted(written)


def class_labels(architecture: Architecture, value: Optional[str], count: int) -> Optional[torch.Tensor]:
    """Labels for ``--class NAME|INDEX``: all ``count`` images of that class (None: classes drawn at random)."""
    if value is None:
        return None
    if not architecture.conditional:
        raise UsageError(f"--class {value}: this run's '{architecture.kind}' generator is not class-conditional "
                          f"(train with architecture.conditional: true on labelled data).")
    return labels_of_class(architecture.image.class_names, value, count, "this run")


def labels_of_class(names: tuple[str, ...], value: str, count: int, owner: str) -> torch.Tensor:
    """``count`` labels of the class ``value`` names (a class name or index among ``names``)."""
    if value in names:
        index = names.index(value)
    elif value.isdigit() and int(value) < len(names):
        index = int(value)
    else:
        listing = ", ".join(f"{i} {name}" for i, name in enumerate(names))
        raise UsageError(f"--class {value} is not a class of {owner}. Classes: {listing}.")
    return torch.full((count,), index, dtype=torch.int64)


def sampling_options(architecture: Architecture, **options: Any) -> dict[str, Any]:
    """The sampling knobs that were set, refused when the architecture does not offer them."""
    chosen = {k: v for k, v in options.items() if v is not None}
    for name in chosen:
        if name not in architecture.sampling_options:
            offered = ", ".join(architecture.sampling_options) or "none"
            raise UsageError(f"--{name}: '{architecture.kind}' does not offer this sampling option "
                              f"(it offers: {offered}).")
    return chosen
