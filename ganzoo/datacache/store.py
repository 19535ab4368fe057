"""One cache entry on disk: a folder holding raw uint8 images, labels and a manifest, made whole or not at all.

``<root>/<name>-<key[:24]>/``

- ``images.u8``: the images, (N, C, H, W) uint8 in C order, nothing else, so it can be
  memory-mapped or read a row at a time at offset ``i * C * H * W``;
- ``labels.i64`` (labelled data only): N little-endian int64;
- ``manifest.json``: format, the full key, shape, class names, the items that could not be
  decoded (index and why), and the SHA-256 ``ImageData.content_hash`` gives for this data.

An entry is written into ``.partial-<key>-<pid>-<n>/`` beside it and renamed into place
when complete, so a process killed while writing leaves only a partial folder, which is
never read and is removed by a later write once its process has gone. An entry whose
files do not match its manifest (truncated, edited, another format) is ignored.
"""
from __future__ import annotations

import itertools
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

FORMAT = 1  # bump when the layout or the meaning of a field changes; older entries are then rebuilt
IMAGES, LABELS, MANIFEST = "images.u8", "labels.i64", "manifest.json"
_counter = itertools.count()


class DamagedEntry(Exception):
    """An entry exists but cannot be used; the message says why."""


@dataclass(frozen=True)
class Entry:
    path: Path
    manifest: dict[str, Any]

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return tuple(self.manifest["shape"])

    @property
    def images_file(self) -> Path:
        return self.path / IMAGES

    def labels(self) -> Optional[np.ndarray]:
        if not self.manifest["labelled"]:
            return None
        return np.fromfile(self.path / LABELS, dtype="<i8")


def entry_path(root: Path, name: str, key: str) -> Path:
    return root / f"{name}-{key[:24]}"


def open_entry(root: Path, name: str, key: str) -> Optional[Entry]:
    """The complete entry for ``key``, None when there is none; DamagedEntry when one exists but is unusable."""
    path = entry_path(root, name, key)
    if not path.is_dir():
        return None
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise DamagedEntry(f"its manifest cannot be read ({exc.__class__.__name__})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise DamagedEntry(f"it is in cache format {found!r}, this ganzoo writes format {FORMAT}")
    if manifest.get("key") != key:
        raise DamagedEntry("its key does not match its folder name")
    try:
        count, c, h, w = (int(v) for v in manifest["shape"])
        sizes = {IMAGES: count * c * h * w, **({LABELS: count * 8} if manifest["labelled"] else {})}
        for file, size in sizes.items():
            actual = (path / file).stat().st_size
            if actual != size:
                raise DamagedEntry(f"{file} holds {actual:,} bytes, its manifest says {size:,} (truncated?)")
    except (KeyError, TypeError, ValueError) as exc:
        raise DamagedEntry(f"its manifest lacks a field ({exc})") from None
    except OSError as exc:
        raise DamagedEntry(f"a file is missing ({exc.__class__.__name__}: {exc.filename})") from None
    return Entry(path, manifest)


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def remove_abandoned(root: Path) -> None:
    """Partial folders whose writer has exited (killed, or a full disk) are removed."""
    for partial in root.glob(".partial-*"):
        try:
            pid = int(partial.name.split("-")[-2])
        except (ValueError, IndexError):
            continue
        if pid != os.getpid() and not _alive(pid):
            remove(partial)


class EntryWriter:
    """Images appended one at a time to a partial folder, then committed (renamed) or abandoned."""

    def __init__(self, root: Path, name: str, key: str, image_shape: tuple[int, int, int]):
        self.root, self.name, self.key, self.image_shape = root, name, key, image_shape
        root.mkdir(parents=True, exist_ok=True)
        remove_abandoned(root)
        self.partial = root / f".partial-{key[:24]}-{os.getpid()}-{next(_counter)}"
        self.partial.mkdir()
        self.file = open(self.partial / IMAGES, "wb", buffering=0)  # unbuffered: a failed write loses no earlier image
        self.count = 0

    def append(self, chw: np.ndarray) -> None:
        view = memoryview(np.ascontiguousarray(chw)).cast("B")
        while view:  # a raw write may be short; OSError (a full disk) leaves the earlier images whole
            view = view[self.file.write(view):]
        self.count += 1

    def written_images(self) -> np.ndarray:
        """What was appended so far (read back, e.g. to carry on in memory after a write failed)."""
        self.file.close()
        flat = np.fromfile(self.partial / IMAGES, dtype=np.uint8, count=self.count * int(np.prod(self.image_shape)))
        return flat.reshape(self.count, *self.image_shape)

    def close_images(self) -> np.ndarray:
        """Finish the images file (on disk, synced) and map it, to hash it before committing."""
        os.fsync(self.file.fileno())
        self.file.close()
        return np.memmap(self.partial / IMAGES, np.uint8, "c", shape=(self.count, *self.image_shape))

    def commit(self, manifest: dict[str, Any], labels: Optional[np.ndarray]) -> Entry:
        """Labels and manifest written, then the folder renamed into place (after ``close_images``)."""
        if labels is not None:
            labels.astype("<i8").tofile(self.partial / LABELS)
        manifest = {"format": FORMAT, "key": self.key, "shape": [self.count, *self.image_shape],
                    "labelled": labels is not None, **manifest}
        (self.partial / MANIFEST).write_text(json.dumps(manifest, indent=1))
        final = entry_path(self.root, self.name, self.key)
        try:
            os.rename(self.partial, final)
        except OSError:  # another process committed the same entry first, or a damaged one is in the way
            try:
                theirs = open_entry(self.root, self.name, self.key)
            except DamagedEntry:
                theirs = None
            if theirs is not None:  # same key, same pixels: keep theirs (another process may be reading it)
                self.abandon()
                return theirs
            remove(final)
            os.rename(self.partial, final)
        return Entry(final, manifest)

    def abandon(self) -> None:
        try:
            self.file.close()
        except OSError:
            pass
        remove(self.partial)
