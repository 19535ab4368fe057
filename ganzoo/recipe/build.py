"""A resolved recipe's dataset and architecture, built through their plugins.

Every dataset also gets the channel conversion the recipe asks for.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Optional

import torch

from ganzoo.api import Architecture, DataCheck, ImageData, ImageSpec
from ganzoo.datacache import DataCache
from ganzoo.errors import GanzooError, RecipeError
from ganzoo.host import Host
from ganzoo.recipe.models import ResolvedRecipe


def convert_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """uint8 grey <-> RGB; RGB to grey uses the ITU-R 601 luma weights (as PIL's 'L')."""
    have = images.shape[1]
    if have == channels:
        return images
    if have == 1 and channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    if have == 3 and channels == 1:  # in chunks: the float copy of a whole large dataset would not fit
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        grey = torch.empty((len(images), 1, *images.shape[2:]), dtype=torch.uint8)
        for start in range(0, len(images), 1024):
            chunk = images[start:start + 1024].float()
            grey[start:start + 1024] = (chunk * weights).sum(1, keepdim=True).round().clamp(0, 255)
        return grey
    raise GanzooError(f"Cannot convert {have}-channel images to {channels} channels.")


@contextlib.contextmanager
def _bad_data_exits_2():
    """A dataset plugin's refusal (a missing folder, a damaged file) is bad input: exit code 2, message kept."""
    try:
        yield
    except GanzooError as exc:
        if exc.exit_code == RecipeError.exit_code:
            raise
        raise RecipeError(str(exc)) from None


def data_cache(section) -> DataCache:
    """The decoded-data cache a data section asks for (``cache``, ``memory_share``, ``decode_workers``)."""
    cache = getattr(section, "cache", True)
    folder = Path(cache) if not isinstance(cache, bool) else None
    return DataCache(folder, getattr(section, "memory_share", 0.5), getattr(section, "decode_workers", 0),
                     enabled=cache is not False)


def load_data(resolved: ResolvedRecipe, host: Host) -> ImageData:
    section = resolved.recipe.data
    dataset = host.datasets.get(section.kind).obj(resolved.data_config, section.resolution)
    dataset.cache = data_cache(section)
    with _bad_data_exits_2():
        data = dataset.load()
    if not isinstance(data, ImageData):
        raise GanzooError(f"Dataset plugin '{section.kind}' returned {type(data).__name__}, not ImageData.")
    if tuple(data.images.shape[-2:]) != (section.resolution, section.resolution):
        raise GanzooError(f"Dataset plugin '{section.kind}' returned {tuple(data.images.shape[-2:])} images "
                          f"for data.resolution {section.resolution}; this is a bug in the plugin.")
    if len(data) == 0:
        raise GanzooError(f"Dataset '{section.kind}' in {resolved.source} has no images.")
    if section.channels:
        data = ImageData(convert_channels(data.images, section.channels), data.labels, data.class_names)
    return data


def check_data(resolved: ResolvedRecipe, host: Host) -> DataCheck:
    """What ``ganzoo validate`` knows of the data without decoding it: the plugin's ``check``, or, for a plugin
    without one, a full ``load`` summarised the same way (said in the notes)."""
    section = resolved.recipe.data
    dataset = host.datasets.get(section.kind).obj(resolved.data_config, section.resolution)
    with _bad_data_exits_2():
        found = dataset.check()
    if found is None:
        data = load_data(resolved, host)
        return DataCheck(len(data), data.images.shape[1], data.spec.class_names,
                         (f"decoded every image: dataset plugin '{section.kind}' has no cheap check",))
    if not isinstance(found, DataCheck) or found.channels not in (1, 3):
        raise GanzooError(f"Dataset plugin '{section.kind}' check() returned {found!r}, not a DataCheck with 1 or 3 "
                          f"channels; this is a bug in the plugin.")
    if found.size < 1:
        raise GanzooError(f"Dataset '{section.kind}' in {resolved.source} has no images.")
    if section.channels and section.channels != found.channels:
        found = DataCheck(found.size, section.channels, found.class_names, found.notes)
    return found


def cheap_spec(resolved: ResolvedRecipe, host: Host) -> Optional[ImageSpec]:
    """The data's shape and classes from the dataset's cheap check, or None when it has none (then only
    ``load_data`` can tell). For checks that should refuse a recipe before its data is decoded."""
    section = resolved.recipe.data
    dataset = host.datasets.get(section.kind).obj(resolved.data_config, section.resolution)
    with _bad_data_exits_2():
        found = dataset.check()
    if not isinstance(found, DataCheck):
        return None
    return ImageSpec(section.resolution, section.channels or found.channels, tuple(found.class_names))


def build_architecture(resolved: ResolvedRecipe, host: Host, image: ImageSpec) -> Architecture:
    kind = resolved.recipe.architecture.kind
    try:
        return host.architectures.get(kind).obj(resolved.architecture_config, image)
    except ValueError as exc:
        raise RecipeError(f"Recipe {resolved.source}: architecture '{kind}' cannot be built for the data "
                          f"(data.resolution {image.resolution}, {image.channels} channel(s)): {exc}.") from None
