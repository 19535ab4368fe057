"""Where evaluated images come from: a dataset in memory, a folder of files, or a generator.

Each source yields uint8 batches (N, C, H, W), the images exactly as they would
be written to PNG, so a generator's FID equals the FID of its exported files.
"""
from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import numpy as np
import torch
from PIL import Image

from ganzoo.api import ImageData
from ganzoo.metrics.errors import InputError
from ganzoo.metrics.stats import sample_indices

READ_THREADS = min(8, os.cpu_count() or 1)  # pytorch-fid's default loader workers: min(8, cores)
PREFETCH_BATCHES = 2

# The extensions pytorch-fid reads.
IMAGE_EXTENSIONS = (".bmp", ".jpg", ".jpeg", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp")


@dataclass
class ImageSource:
    """A stream of images to evaluate, and what the protocol records about them."""

    label: str                                        # for messages: "folder 'x'", "run r (EMA generator)"
    count: int
    resolution: tuple[int, int]                       # (height, width)
    # (batch_size, start=0, stop=count) -> uint8 (N, C, H, W) batches of images [start, stop), in order
    batches: Callable[..., Iterator[torch.Tensor]]
    info: dict[str, Any] = field(default_factory=dict)
    data: Optional[ImageData] = None                  # set for datasets held in memory (their stats are cached)


def dataset_source(data: ImageData, label: str, info: dict[str, Any], count: Optional[int] = None,
                   seed: int = 0) -> ImageSource:
    """``count`` images of ``data`` (all by default; otherwise a seeded random subset, in dataset order)."""
    total = len(data)
    chosen = sample_indices(total, count if count is not None else total, seed)
    index = torch.from_numpy(chosen)
    subset = len(chosen) < total

    def batches(batch_size: int, first: int = 0, stop: Optional[int] = None) -> Iterator[torch.Tensor]:
        stop = len(index) if stop is None else stop
        for start in range(first, stop, batch_size):
            end = min(start + batch_size, stop)
            if subset:
                yield data.images[index[start:end]]
            else:
                yield data.images[start:end]

    info = {**info, "images_total": total, "images": len(chosen), "subset_seed": seed if subset else None,
            "content_sha256": data.content_hash()}
    return ImageSource(label, len(chosen), tuple(data.images.shape[-2:]), batches, info, data)


def image_files(root: Path) -> list[Path]:
    """Every image file under ``root``, recursively, sorted by path (hidden files and folders skipped)."""
    found = []
    for here, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(here, f) for f in files if not f.startswith(".") and f.lower().endswith(IMAGE_EXTENSIONS)]
    return sorted(found)


def _read(path: Path, grey: bool) -> np.ndarray:
    try:
        with Image.open(path) as image:
            # As pytorch-fid: convert('RGB') (grey is replicated, alpha dropped); grey folders stay 1-channel.
            array = np.asarray(image.convert("L" if grey else "RGB"))
    except Exception as exc:  # PIL raises many types for bad files
        raise InputError(f"Could not read image '{path}': {exc}. Remove it or re-save it as PNG.") from None
    return array[:, :, None] if grey else array


def _stack(reads: list[Future]) -> torch.Tensor:
    return torch.from_numpy(np.stack([r.result() for r in reads])).permute(0, 3, 1, 2).contiguous()


def folder_source(path: Path) -> ImageSource:
    """Every image under ``path`` (recursively, sorted by path); all must have the same size."""
    root = Path(path).expanduser()
    if not root.is_dir():
        state = "is a file, not a folder" if root.exists() else "does not exist"
        raise InputError(f"'{root}' {state}. Give a folder of images, a run directory, a statistics .npz, a recipe "
                         f"or a dataset spec such as 'catalogue:size=2000,resolution=32'.")
    files = image_files(root)
    if not files:
        raise InputError(f"No images under '{root}': looked for {', '.join(IMAGE_EXTENSIONS)} files in it and "
                         f"its sub-folders.")
    sizes: dict[tuple[int, int], Path] = {}
    grey = True
    for file in files:
        try:
            with Image.open(file) as image:
                sizes.setdefault((image.height, image.width), file)
                grey = grey and image.mode in ("L", "1", "I;16", "I")
        except Exception as exc:
            raise InputError(f"Could not read image '{file}': {exc}. Remove it or re-save it as PNG.") from None
        if len(sizes) > 1:
            (s1, f1), (s2, f2) = list(sizes.items())[:2]
            raise InputError(f"Images under '{root}' differ in size: '{f1}' is {s1[1]}x{s1[0]} but '{f2}' is "
                             f"{s2[1]}x{s2[0]}. Every image of one set must have the same size; resize them first "
                             f"(features of differently sized images are not comparable).")
    resolution = next(iter(sizes))

    def batches(batch_size: int, first: int = 0, stop: Optional[int] = None) -> Iterator[torch.Tensor]:
        # Decoding is the bottleneck beside a GPU: a thread pool (PIL releases the GIL while decoding)
        # reads the next batches while the current one is being extracted. Order is kept.
        stop = len(files) if stop is None else stop
        with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
            pending: deque[list[Future]] = deque()
            for start in range(first, stop, batch_size):
                pending.append([pool.submit(_read, f, grey) for f in files[start:min(start + batch_size, stop)]])
                if len(pending) > PREFETCH_BATCHES:
                    yield _stack(pending.popleft())
            while pending:
                yield _stack(pending.popleft())

    info = {"type": "folder", "path": str(root.resolve()), "images": len(files)}
    return ImageSource(f"folder '{root}'", len(files), resolution, batches, info)


def generator_source(architecture, generator, count: int, seed: int, device: torch.device, label: str,
                     info: dict[str, Any]) -> ImageSource:
    """``count`` images from ``generator``, latents drawn as ganzoo.export does (image i depends only on seed)."""
    from ganzoo.export.generate import generate_batches

    def batches(batch_size: int, first: int = 0, stop: Optional[int] = None) -> Iterator[torch.Tensor]:
        was_training = generator.training
        try:
            for _, images, _ in generate_batches(architecture, generator, count, seed, device, batch_size,
                                                 first=first, stop=stop):
                yield images
        finally:
            generator.train(was_training)

    resolution = (architecture.image.resolution, architecture.image.resolution)
    return ImageSource(label, count, resolution, batches, {**info, "images": count, "seed": seed})
