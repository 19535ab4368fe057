"""``fashion-mnist``: Zalando's Fashion-MNIST, read from the standard IDX files.

Where the files are looked for, in order, when ``root`` is not set: the folder
named by the ``GANZOO_FASHION_MNIST`` environment variable,
``~/.cache/ganzoo/fashion-mnist`` (where ``download: true`` puts them) and
``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist``).
In each, the files may be gzipped or not, and may also sit in torchvision's
``FashionMNIST/raw`` layout. Every file is checked against the published
SHA-256 of its decompressed bytes before use, so a damaged copy never trains.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Optional

import torch
from pydantic import Field

from ganzoo.api import DataCheck, Dataset, GanzooError, ImageData, PluginConfig
from ganzoo_datasets._common import check_resolution
from ganzoo_datasets._idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx, read_idx_header

CLASS_NAMES = ("t-shirt/top", "trouser", "pullover", "dress", "coat",
               "sandal", "shirt", "sneaker", "bag", "ankle-boot")
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
ENV_VAR = "GANZOO_FASHION_MNIST"
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
HOW_TO_GET = ("To get it: 'apt-get install dataset-fashion-mnist' (Debian/Ubuntu), or set 'root:' (or "
              f"${ENV_VAR}) to a folder holding the four IDX files, or set 'download: true' when online.")
FIX = "Delete it and get a fresh copy. " + HOW_TO_GET


def cache_dir() -> Path:
    return Path.home() / ".cache" / "ganzoo" / "fashion-mnist"


class FashionMNISTConfig(PluginConfig):
    root: Optional[Path] = Field(None, description="Folder with the IDX files (default: search the usual places).")
    split: Literal["train", "test"] = Field("train", description="60,000 training or 10,000 test images.")
    download: bool = Field(False, description="When no local copy is found, download one with torchvision "
                                              "into root (default ~/.cache/ganzoo/fashion-mnist).")
    limit: Optional[int] = Field(None, ge=1, description="Use only the first N images (quick runs).")


def _places(root: Optional[Path]) -> list[Path]:
    if root is not None:
        bases = [root.expanduser()]
    else:
        env = os.environ.get(ENV_VAR, "").strip()
        bases = ([Path(env).expanduser()] if env else []) + [cache_dir(), SYSTEM_DIR]
    return [folder for base in bases for folder in (base, base / "FashionMNIST" / "raw")]


def _find(folder: Path, name: str) -> Optional[Path]:
    # Prefer the uncompressed file: reading it skips a decompression.
    return next((p for p in (folder / name, folder / f"{name}.gz") if p.is_file()), None)


def _locate(split: str, places: list[Path]) -> Optional[tuple[Path, Path]]:
    for folder in places:
        images, labels = (_find(folder, name) for name in FILES[split])
        if images and labels:
            return images, labels
    return None


def _download(dest: Path) -> None:
    try:
        from torchvision.datasets import FashionMNIST  # imported late: only needed here

        FashionMNIST(root=str(dest), train=True, download=True)  # fetches both splits
    except Exception as exc:  # network errors come in many types; all mean the same to the user
        raise GanzooError(f"Downloading Fashion-MNIST into '{dest}' failed ({type(exc).__name__}: {exc}). "
                          f"Check the internet connection, or get the files another way. {HOW_TO_GET}") from None


class FashionMNISTDataset(Dataset):
    __doc__ = __doc__  # the module docstring, which lists where the files are looked for
    kind = "fashion-mnist"
    description = "Fashion-MNIST: 28x28 greyscale clothing in 10 classes (local IDX files)."
    Config = FashionMNISTConfig

    def check(self) -> DataCheck:
        """The files found and their headers read; the hashes are checked when the data is loaded."""
        config: FashionMNISTConfig = self.config
        check_resolution(self.kind, self.resolution, 16, 128)
        found = _locate(config.split, _places(config.root))
        if found is None and config.download:
            return DataCheck(60_000 if config.split == "train" else 10_000, 1, CLASS_NAMES,
                             ("not found locally: 'download: true' will fetch it when training starts",))
        images_file, labels_file = self._files(found)
        count = read_idx_header(images_file, IMAGES_MAGIC, FIX)[0]
        if read_idx_header(labels_file, LABELS_MAGIC, FIX)[0] != count:
            raise GanzooError(f"'{images_file}' and '{labels_file}' declare different counts of images and "
                              f"labels. {FIX}")
        return DataCheck(min(count, config.limit or count), 1, CLASS_NAMES,
                         (f"headers of {images_file.name} read; pixels and hashes are checked when decoding",))

    def _files(self, found: Optional[tuple[Path, Path]]) -> tuple[Path, Path]:
        if found is None:
            places = _places(self.config.root)
            names = " and ".join(f"{n}[.gz]" for n in FILES[self.config.split])
            raise GanzooError(f"Fashion-MNIST ({self.config.split} split) not found: looked for {names} in "
                              f"{', '.join(repr(str(p)) for p in places)}. {HOW_TO_GET}")
        return found

    def load(self) -> ImageData:
        config: FashionMNISTConfig = self.config
        resolution = check_resolution(self.kind, self.resolution, 16, 128)
        places = _places(config.root)
        found = _locate(config.split, places)
        if found is None and config.download:
            dest = config.root.expanduser() if config.root is not None else cache_dir()
            _download(dest)
            found = _locate(config.split, [dest, dest / "FashionMNIST" / "raw"])
        found = self._files(found)

        images = read_idx(found[0], IMAGES_MAGIC, SHA256[FILES[config.split][0]], FIX)
        labels = read_idx(found[1], LABELS_MAGIC, SHA256[FILES[config.split][1]], FIX)
        if len(images) != len(labels):  # cannot happen once both hashes match; kept for clarity
            raise GanzooError(f"'{found[0]}' holds {len(images)} images but '{found[1]}' {len(labels)} labels. {FIX}")
        images, labels = images[: config.limit], labels[: config.limit]

        tensor = torch.from_numpy(images.copy()).unsqueeze(1)  # (N, 1, 28, 28); copy: the buffer is read-only
        if resolution != tensor.shape[-1]:
            from torchvision.transforms.v2.functional import resize  # imported late: only needed here

            tensor = resize(tensor, [resolution, resolution], antialias=True)  # uint8 in, uint8 out
        return ImageData(tensor.contiguous(), torch.from_numpy(labels.astype("int64")), CLASS_NAMES)
