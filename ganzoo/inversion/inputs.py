"""Images to invert: found on disk and prepared exactly as the run's training images were."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from PIL import Image, ImageOps

from ganzoo.api import Dataset
from ganzoo.errors import GanzooError, GanzooWarning, UsageError
from ganzoo.host import Host
from ganzoo.recipe import resolve
from ganzoo.recipe.build import convert_channels
from ganzoo.rundir import LoadedRun

EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def find_images(paths: list[Path]) -> list[tuple[Path, str]]:
    """(file, name) for each image given, folders searched recursively in sorted order; name: the path as given
    for a file, relative to the folder (with the folder's name first) for a file found in one."""
    found: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
            found += [(p, (Path(path.name) / p.relative_to(path)).as_posix()) for p in files]
        elif path.is_file():
            found.append((path, path.name))
        else:
            raise UsageError(f"{path} does not exist (relative paths are taken from {Path.cwd()}).")
    if not found:
        raise UsageError(f"No images ({', '.join(EXTENSIONS)}) in {', '.join(map(str, paths))}.")
    return found


def run_dataset(loaded: LoadedRun, host: Host) -> Optional[Dataset]:
    """The run's dataset plugin, configured as in training, or None when it cannot be built here (a plugin
    no longer installed, a folder moved): images are then prepared the generic way."""
    try:
        resolved = resolve(loaded.run_dir.read_recipe(), host, source=str(loaded.run_dir.recipe_file))
        section = resolved.recipe.data
        return host.datasets.get(section.kind).obj(resolved.data_config, section.resolution)
    except GanzooError as exc:
        warnings.warn(f"The run's dataset cannot be set up here ({exc}); preparing the images the generic way "
                      f"(padded onto white), which may differ from how its training images were made.",
                      GanzooWarning, stacklevel=2)
        return None


def generic_prepare(path: Path, resolution: int) -> torch.Tensor:
    """Transparency flattened onto white, padded to a square with white, resized with Lanczos: uint8 (3, R, R)."""
    with Image.open(path) as image:
        image.load()
        image = ImageOps.exif_transpose(image)
        if "A" in image.mode or "transparency" in image.info:
            layer = Image.new("RGBA", image.size, (255, 255, 255, 255))
            layer.alpha_composite(image.convert("RGBA"))
            image = layer
        image = ImageOps.pad(image.convert("RGB"), (resolution, resolution), Image.Resampling.LANCZOS,
                             color=(255, 255, 255))
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)


def prepare_images(files: list[tuple[Path, str]], dataset: Optional[Dataset], resolution: int,
                   channels: int) -> tuple[torch.Tensor, str]:
    """uint8 (N, channels, R, R) and how they were prepared ("dataset KIND" or "generic")."""
    prepared, how = [], "generic: padded onto white (the run's dataset reads no files)"
    for path, name in files:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image = dataset.prepare_image(path) if dataset is not None else None
                if image is None:
                    image = generic_prepare(path, resolution)
                else:
                    how = f"as dataset '{dataset.kind}' prepares its images"
        except GanzooError:
            raise
        except Exception as exc:  # PIL raises many types for a bad file
            raise UsageError(f"{path} cannot be read as an image: {type(exc).__name__}: {exc}. Give PNG, JPEG or "
                             f"WebP files.") from None
        if tuple(image.shape[-2:]) != (resolution, resolution) or image.dtype != torch.uint8:
            raise GanzooError(f"Dataset plugin '{dataset.kind}' prepared {path} as {tuple(image.shape)} "
                              f"{image.dtype}, not uint8 (C, {resolution}, {resolution}); this is a bug in the plugin.")
        prepared.append(convert_channels(image[None], channels)[0])
    return torch.stack(prepared), how
