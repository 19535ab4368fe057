"""What datasets give the engine: image shapes, the images themselves, cheap checks, and the Dataset base."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Optional

import torch

from ganzoo.api.config import PluginConfig


@dataclass(frozen=True)
class ImageSpec:
    """What the architecture is built for: shape of the images and their classes."""

    resolution: int
    channels: int
    class_names: tuple[str, ...] = ()

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


@dataclass
class ImageData:
    """A whole dataset: uint8 images (N, C, H, W) and optional int64 labels (N,).

    ``images`` is in memory, or, for data larger than the memory share a recipe allows, a
    tensor over a memory-mapped file. Since plugin API 1.4 such data names that file in
    ``file`` (raw uint8 in the images' C order, from byte 0), and training then reads each
    batch from the file instead of through the mapping, so its memory stays bounded.
    ``known_hash`` (since 1.4): ``content_hash()`` when the source already computed it (the
    decoded-data cache stores it); leave it unset otherwise.
    """

    images: torch.Tensor
    labels: Optional[torch.Tensor] = None
    class_names: tuple[str, ...] = ()
    file: Optional[Path] = field(default=None, compare=False)
    known_hash: Optional[str] = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels is not None:
            if self.labels.shape != (len(self.images),):
                raise ValueError("labels must have one entry per image")
            self.labels = self.labels.to(torch.int64)
            if not self.class_names:
                raise ValueError("labelled data needs class_names")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def spec(self) -> ImageSpec:
        class_names = self.class_names if self.labels is not None else ()
        return ImageSpec(self.images.shape[-1], self.images.shape[1], class_names)

    def content_hash(self) -> str:
        """SHA-256 over pixels, labels and class names: changes whenever any of them does."""
        if self.known_hash is None:
            digest = hashlib.sha256()
            digest.update(repr((tuple(self.images.shape), self.class_names)).encode())
            per_chunk = max(1, 2**26 // max(1, self.images[0].numel()) if len(self.images) else 1)  # ~64 MB at a time
            for start in range(0, len(self.images), per_chunk):
                digest.update(memoryview(self.images[start:start + per_chunk].contiguous().numpy()).cast("B"))
            if self.labels is not None:
                digest.update(self.labels.contiguous().numpy().tobytes())
            self.known_hash = digest.hexdigest()
        return self.known_hash


@dataclass(frozen=True)
class DataCheck:
    """What a dataset can say about itself without decoding its images (``Dataset.check``, since plugin API 1.3).

    ``size`` is the number of images found (decoding may still skip unreadable
    files), ``channels`` what ``load`` will return (1 or 3), ``class_names``
    the classes when the data is labelled, ``notes`` what was and was not checked,
    in a few words each (printed by ``ganzoo validate``).
    """

    size: int
    channels: int
    class_names: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def spec(self, resolution: int) -> ImageSpec:
        return ImageSpec(resolution, self.channels, tuple(self.class_names))


class Dataset:
    """A source of training images. Subclass, set ``kind`` and ``Config``, implement ``load``.

    ``load`` returns every image at ``resolution`` x ``resolution`` as uint8. The host
    converts channels afterwards when the recipe asks for a different count.
    ``check`` (optional, since plugin API 1.3) tells the same shape, size and classes
    cheaply, for ``ganzoo validate``: find the files, read headers, decode nothing.
    """

    kind: ClassVar[str]
    Config: ClassVar[type[PluginConfig]] = PluginConfig
    description: ClassVar[str] = ""

    def __init__(self, config: PluginConfig, resolution: int):
        self.config = config
        self.resolution = resolution

    @property
    def cache(self) -> Any:
        """The decoded-data cache to use in ``load`` (a ``ganzoo.datacache.DataCache``, since plugin API 1.4).

        The host sets it from the recipe (``data.cache``, ``data.memory_share``, ``data.decode_workers``)
        before calling ``load``; a dataset made directly gets the default one (``$GANZOO_DATA_CACHE``
        or ``~/.cache/ganzoo/datasets``, half the memory)."""
        if getattr(self, "_cache", None) is None:
            from ganzoo.datacache import DataCache
            self._cache = DataCache()
        return self._cache

    @cache.setter
    def cache(self, value: Any) -> None:
        self._cache = value

    def load(self) -> ImageData:  # pragma: no cover - interface
        raise NotImplementedError

    def check(self) -> Optional[DataCheck]:
        """Size, channels and classes without decoding, raising ``GanzooError`` for what ``load`` would refuse
        (missing files, an empty folder, a bad resolution). None (the default): no cheap check, so
        ``ganzoo validate`` calls ``load`` instead."""
        return None

    def prepare_image(self, path: Path) -> Optional[torch.Tensor]:
        """One image file made exactly as ``load`` makes a training image (size, fit, background): uint8 (C, R, R).

        Since plugin API 1.3, for ``ganzoo project`` (real photos into a run's latent space). None (the
        default): the dataset reads no files, and the host pads the image onto white, keeping its aspect."""
        return None


def to_float_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1], the range every ganzoo generator outputs."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8_images(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255], rounding to nearest (as image writers do)."""
    return images.detach().float().add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8)
