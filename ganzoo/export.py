"""Generating images from a trained generator and writing them through the post-processing pipeline."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import nn

from ganzoo.api import Architecture, PostProcessor, to_uint8_images
from ganzoo.fileio import atomic_path
from ganzoo.images import to_pil


@torch.no_grad()
def generate_batches(architecture: Architecture, generator: nn.Module, count: int, seed: int,
                     device: torch.device, batch_size: int = 64, labels: Optional[torch.Tensor] = None,
                     **options: Any):
    """Yield (first_index, uint8 images, labels) batches; latents come from one seeded CPU stream,
    so image i is the same whatever the batch size or device."""
    generator.eval()
    rng = torch.Generator().manual_seed(seed)
    z_all = architecture.sample_latents(count, "cpu", rng)
    if labels is None and architecture.conditional:
        labels = architecture.sample_labels(count, "cpu", rng)
    for start in range(0, count, batch_size):
        z = z_all[start:start + batch_size].to(device)
        y = labels[start:start + batch_size].to(device) if labels is not None else None
        images = architecture.generate(generator, z, y, **options)
        yield start, to_uint8_images(images).cpu(), (y.cpu() if y is not None else None)


def write_images(batches, out_dir: Path, pipeline: list[PostProcessor], base_meta: dict[str, Any],
                 class_names: tuple[str, ...] = (), on_image: Callable[[Path], None] | None = None) -> list[Path]:
    """Run each image through ``pipeline`` and write it; the last step may choose the format via meta['format']."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for start, images, labels in batches:
        for offset, image in enumerate(images):
            index = start + offset
            label = int(labels[offset]) if labels is not None else None
            meta = {**base_meta, "index": index, "label": label,
                    "class_name": class_names[label] if label is not None and class_names else None,
                    "format": "png"}
            picture = to_pil(image)
            for step in pipeline:
                picture = step(picture, meta)
            path = out_dir / f"{index:06d}.{meta['format']}"
            with atomic_path(path) as tmp:
                picture.save(tmp, format=meta["format"].upper(), **meta.get("save_options", {}))
            written.append(path)
            if on_image:
                on_image(path)
    return written
