"""``folder``: the user's own images, read from a folder tree.

Labels (``labels: auto``, the default): the immediate sub-folders of ``path``
become the classes, named after the folders and numbered in sorted name order,
when every readable image lies somewhere inside one of them and there are at
least two of them; images deeper down belong to their top-level sub-folder
(``shoes/running/a.jpg`` is a ``shoes``). Otherwise the data is unlabelled: a
single sub-folder is just a container, not a class, and when images sit both
directly in ``path`` and in two or more sub-folders ganzoo warns that it could
not use the sub-folders as classes. ``labels: none`` never labels.

Files are found recursively (following symlinked folders, once each), skipping
hidden files and folders (names starting with ``.``, e.g. ``.DS_Store`` or
macOS ``._`` twins), and read in sorted path order so the dataset is the same
on every machine. A relative ``path`` is taken from the current directory.
"""
from __future__ import annotations

import functools
import os
import warnings
from collections import Counter
from pathlib import Path
from typing import Literal

import torch
from PIL import Image, ImageColor
from pydantic import Field, field_validator

import ganzoo_datasets
from ganzoo.api import DataCheck, Dataset, GanzooError, GanzooWarning, ImageData, PluginConfig
from ganzoo_datasets._common import check_resolution
from ganzoo_datasets._pixels import read_image, read_under

DEFAULT_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
HEADER_SAMPLE = 32  # files whose headers `check` reads, spread evenly over the sorted list


class FolderConfig(PluginConfig):
    path: Path = Field(description="Folder of images; its sub-folders may be the classes (see 'labels').")
    fit: Literal["pad", "crop"] = Field(
        "pad", description="Make non-square images square by padding with 'background' or centre-cropping.")
    background: str = Field(
        "white", description="Colour behind transparent pixels and padding: a name or #rrggbb.")
    labels: Literal["auto", "none"] = Field(
        "auto", description="'auto': two or more sub-folders holding every image are the classes; 'none': no labels.")
    extensions: tuple[str, ...] = Field(
        DEFAULT_EXTENSIONS, description="File name endings read as images (case-insensitive).")

    @field_validator("background")
    @classmethod
    def _known_colour(cls, value: str) -> str:
        try:
            ImageColor.getrgb(value)
        except ValueError:
            raise ValueError(f"background {value!r} is not a colour: use a name such as 'white', 'black' or "
                             f"'lightgray', or a hex code such as '#f4f4f4'") from None
        return value

    @field_validator("extensions")
    @classmethod
    def _dotted_lowercase(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(dict.fromkeys("." + ext.strip().lower().lstrip(".") for ext in value if ext.strip(" .")))
        if not cleaned:
            raise ValueError("extensions is empty: list at least one, such as ['.jpg', '.png']")
        return cleaned


def _walk(root: Path) -> list[Path]:
    """Every non-hidden file under root, in sorted relative-path order."""
    seen, found = set(), []
    for here, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(here)
        if real in seen:  # a symlink loop, or the same folder linked twice
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [Path(here, f).relative_to(root) for f in files if not f.startswith(".")]
    return sorted(found, key=lambda p: p.parts)


def _why(exc: Exception) -> str:
    """The first line of what PIL said about a file it could not open or decode."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:80]


def _names(items: list[tuple[Path, str]], limit: int = 5) -> str:
    shown = ", ".join(f"'{p.as_posix()}' ({why})" for p, why in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


class FolderDataset(Dataset):
    __doc__ = __doc__  # the module docstring, which spells out the labelling rule
    kind = "folder"
    description = "Your own images from a folder tree; sub-folders can be the classes."
    Config = FolderConfig

    def _listing(self) -> tuple[Path, list[Path]]:
        """The folder and its image files (relative, sorted), or the error ``load`` would give for them."""
        config: FolderConfig = self.config
        check_resolution(self.kind, self.resolution, 1, 4096)
        root = config.path.expanduser()
        if not root.is_dir():
            state = "is a file, not a folder" if root.exists() else "does not exist"
            raise GanzooError(f"The folder dataset's path '{root}' {state} (resolved to '{root.absolute()}'). "
                              f"Set 'path:' to a folder that holds your images, optionally in one sub-folder "
                              f"per class.")
        files = _walk(root)
        wanted = [p for p in files if p.suffix.lower() in config.extensions]
        if not wanted:
            others = Counter(p.suffix.lower() or "(no extension)" for p in files).most_common(3)
            other_text = (f" It holds {len(files)} other file(s), mostly {', '.join(f'{e} ({n})' for e, n in others)}."
                          if files else " It is empty.")
            raise GanzooError(f"No images under '{root}': looked for {', '.join(config.extensions)} files in it and "
                              f"every sub-folder.{other_text} Put images there, point 'path:' elsewhere, or set "
                              f"'extensions:' to include your files' type.")
        return root, wanted

    def check(self) -> DataCheck:
        """Files listed, classes from the folder tree, and the headers of an even sample of files read."""
        root, wanted = self._listing()
        picks = sorted({round(i * (len(wanted) - 1) / max(1, HEADER_SAMPLE - 1)) for i in range(HEADER_SAMPLE)})
        sample = [wanted[i] for i in picks]  # first, last and evenly between
        bad = []
        for rel in sample:
            try:
                with Image.open(root / rel) as image:  # reads the header (and refuses a bomb's size), no pixels
                    if min(image.size) < 1:
                        raise ValueError(f"size {image.size}")
            except Exception as exc:  # as in load: any failure means "this file would be skipped"
                bad.append((rel, _why(exc)))
        if len(bad) == len(sample):
            raise GanzooError(f"None of the {len(sample)} image file(s) sampled under '{root}' (of {len(wanted)}) "
                              f"could be opened: {_names(bad)}. Check that they are images PIL can open (re-save "
                              f"them as PNG or JPEG if unsure).")
        if bad:
            warnings.warn(f"{len(bad)} of {len(sample)} image file(s) sampled under '{root}' could not be opened: "
                          f"{_names(bad)}. Training skips such files; 'ganzoo validate --data' reads every file "
                          f"and lists all of them.", GanzooWarning, stacklevel=2)
        classes = self._classes(root, wanted) if self.config.labels == "auto" else None
        names = tuple(sorted(set(classes))) if classes else ()
        return DataCheck(len(wanted), 3, names, (f"listed, headers of {len(sample)} read, none decoded",))

    def _fingerprint(self, root: Path, listed: list[Path] | None = None) -> dict:
        """Everything that decides the decoded pixels and labels: each file's name, size and modification time,
        and the settings; the decoded-data cache decodes again when any of it changes."""
        config: FolderConfig = self.config
        files = []
        for rel in listed if listed is not None else self._listing()[1]:
            try:
                stat = (root / rel).stat()
                files.append((rel.as_posix(), stat.st_size, stat.st_mtime_ns))
            except OSError:  # vanished since listed: part of the fingerprint too
                files.append((rel.as_posix(), -1, -1))
        return {"plugin": f"ganzoo-datasets {ganzoo_datasets.__version__}", "root": str(root.resolve()),
                "resolution": self.resolution, "fit": config.fit, "background": config.background,
                "labels": config.labels, "files": files}

    def load(self) -> ImageData:
        """Every image decoded (in parallel, once: the decoded-data cache serves later runs), then labelled."""
        config: FolderConfig = self.config
        root, wanted = self._listing()
        decode = functools.partial(read_under, root=root, resolution=self.resolution, fit=config.fit,
                                   background=ImageColor.getrgb(config.background)[:3])

        def labels(kept: list[int]) -> tuple:
            classes = self._classes(root, [wanted[i] for i in kept]) if config.labels == "auto" else None
            if classes is None:
                return None, ()
            names = tuple(sorted(set(classes)))
            return torch.tensor([names.index(c) for c in classes], dtype=torch.int64), names

        listings = [wanted]  # the first fingerprint uses this listing; the check after decoding lists again
        loaded = self.cache.load(self.kind, lambda: self._fingerprint(root, listings.pop() if listings else None),
                                 wanted, decode,
                                 (3, self.resolution, self.resolution), labels)
        bad = [(wanted[i], why) for i, why in loaded.skipped]
        if not len(loaded.data):
            raise GanzooError(f"None of the {len(wanted)} image file(s) under '{root}' could be read: "
                              f"{_names(bad)}. Check that they are images PIL can open (re-save them as PNG "
                              f"or JPEG if unsure).")
        if bad:
            warnings.warn(f"Skipped {len(bad)} of {len(wanted)} image file(s) under '{root}' that could not be "
                          f"read: {_names(bad)}. Training uses the other {len(loaded.data)}; fix or remove the "
                          f"skipped files to silence this warning.", GanzooWarning, stacklevel=2)
        return loaded.data

    def prepare_image(self, path: Path) -> torch.Tensor:
        """One file as ``load`` reads each image (fit, background, size): for ``ganzoo project``."""
        config: FolderConfig = self.config
        array = read_image(Path(path), self.resolution, config.fit, ImageColor.getrgb(config.background)[:3])
        return torch.from_numpy(array.copy()).permute(2, 0, 1)

    @staticmethod
    def _classes(root: Path, good: list[Path]) -> list[str] | None:
        """Each image's class (its top-level sub-folder), or None when the tree has no classes."""
        loose = sum(len(p.parts) == 1 for p in good)
        folders = {p.parts[0] for p in good if len(p.parts) > 1}
        if len(folders) < 2:
            return None
        if loose:
            warnings.warn(f"Not using the {len(folders)} sub-folders of '{root}' as classes because {loose} "
                          f"image(s) lie directly in it, outside any sub-folder. Move them into a class folder "
                          f"for labelled data, or set 'labels: none' to silence this warning.",
                          GanzooWarning, stacklevel=3)
            return None
        return [p.parts[0] for p in good]
