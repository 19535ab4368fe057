"""``DataCache``: decode a dataset's files once, on every core, and reuse the result until a file changes."""
from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator, Mapping, Optional, Sequence

import numpy as np
import torch

from ganzoo.api import ImageData
from ganzoo.datacache import store
from ganzoo.datacache.parallel import decode_in_order
from ganzoo.errors import GanzooError, GanzooWarning

# A progress reporter: ``with factory(label, total) as report: report(done)``. The CLI installs a bar.
ProgressFactory = Callable[[str, int], ContextManager[Callable[[int], None]]]
decode_progress: contextvars.ContextVar[Optional[ProgressFactory]] = contextvars.ContextVar(
    "ganzoo_decode_progress", default=None)
LabelsFor = Callable[[list[int]], tuple[Optional[torch.Tensor], tuple[str, ...]]]


DATA_CACHE_ENV = "GANZOO_DATA_CACHE"


def cache_root() -> Path:
    """``$GANZOO_DATA_CACHE``, else ``$GANZOO_CACHE/datasets``, else ``~/.cache/ganzoo/datasets``."""
    data_env = os.environ.get(DATA_CACHE_ENV, "").strip()
    if data_env:
        return Path(data_env).expanduser()
    env = os.environ.get("GANZOO_CACHE", "").strip()
    return (Path(env).expanduser() if env else Path.home() / ".cache" / "ganzoo") / "datasets"


def memory_limit() -> int:
    """Bytes of memory this process may use: the machine's, or its cgroup's limit when lower."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 * 2**30
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def size_text(nbytes: float) -> str:
    return f"{nbytes / 2**30:.1f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:.0f} MiB"


def free_space(folder: Path) -> Optional[int]:
    """Free bytes on the file system ``folder`` is (or would be) on; None when that cannot be told."""
    for candidate in (folder, *folder.parents):
        try:
            return shutil.disk_usage(candidate).free
        except OSError:
            continue
    return None


@contextlib.contextmanager
def _silent(label: str, total: int) -> Iterator[Callable[[int], None]]:
    yield lambda done: None


@dataclass
class CachedLoad:
    """What ``DataCache.load`` gives: the data, the items that could not be decoded, and where it came from.

    ``skipped`` holds ``(index into items, why)``; ``source`` is ``"cache"`` (read back),
    ``"decoded"`` (and stored) or ``"decoded, not cached"``; ``on_disk`` is True when the images
    stay in the cache file (larger than the memory share) rather than in memory.
    """

    data: ImageData
    skipped: list[tuple[int, str]] = field(default_factory=list)
    source: str = "decoded"
    on_disk: bool = False


def key_of(parts: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


class DataCache:
    """Where and how a dataset plugin keeps what it decoded (public since plugin API 1.4).

    The host gives every dataset one as ``Dataset.cache`` before ``load`` (from the recipe's
    ``data.cache``, ``data.memory_share`` and ``data.decode_workers``). A plugin that decodes
    files calls :meth:`load` with a *fingerprint* of everything that determines the pixels
    (each file's path, size and modification time; every setting that changes pixels; its
    own version): the first run decodes on every core and stores the result, later runs
    read it back in a fraction of a second, and any change to the fingerprint decodes again.
    """

    def __init__(self, folder: Optional[Path] = None, memory_share: float = 0.5, workers: int = 0,
                 enabled: bool = True):
        self.folder = Path(folder).expanduser() if folder is not None else cache_root()
        self.memory_share, self.workers, self.enabled = memory_share, workers, enabled

    def __repr__(self) -> str:
        state = str(self.folder) if self.enabled else "off"
        return f"DataCache({state}, memory_share={self.memory_share}, workers={self.workers or 'all'})"

    def load(self, name: str, fingerprint: Callable[[], Mapping[str, Any]], items: Sequence[Any],
             decode: Callable[[Any], np.ndarray], shape: tuple[int, int, int],
             labels: Optional[LabelsFor] = None) -> CachedLoad:
        """Every item decoded, as ImageData, from the cache when its fingerprint matches.

        ``name`` names the cache folder (the dataset kind). ``fingerprint()`` is called before
        decoding and again after: when it changed meanwhile (a file was added, removed or
        rewritten), the images as read are used and nothing is stored. ``decode(item)`` returns
        one image as uint8 (H, W, C) (what ``numpy.asarray`` gives for a PIL image), or raises to
        skip the item; it runs in worker processes, so it must be picklable (a module-level
        function or a ``functools.partial`` of one). ``shape`` is (C, H, W). ``labels(kept)``
        gives the labels and class names for the items that decoded (their indices), or
        ``(None, ())`` for unlabelled data.
        """
        before = dict(fingerprint())
        key = key_of({"name": name, "shape": list(shape), "format": store.FORMAT, **before})
        if self.enabled:
            found = self._open(name, key)
            if found is not None:
                return found
        return self._decode(name, key, before, fingerprint, items, decode, shape, labels)

    # ------------------------------------------------------------------ reading
    def _open(self, name: str, key: str) -> Optional[CachedLoad]:
        try:
            entry = store.open_entry(self.folder, name, key)
        except store.DamagedEntry as exc:
            warnings.warn(f"Ignoring the decoded-data cache in '{store.entry_path(self.folder, name, key)}': "
                          f"{exc}. Decoding the images again and replacing it.", GanzooWarning, stacklevel=4)
            store.remove(store.entry_path(self.folder, name, key))
            return None
        if entry is None:
            return None
        manifest = entry.manifest
        raw = entry.labels()
        data = self._data_from_file(entry.images_file, entry.shape,
                                    torch.from_numpy(raw) if raw is not None else None,
                                    tuple(manifest.get("class_names", ())), manifest.get("content_sha256"))
        os.utime(entry.path / store.MANIFEST)  # last used: lets a user prune old entries by date
        return CachedLoad(data, [tuple(s) for s in manifest.get("skipped", [])], "cache", data.file is not None)

    def fits_in_memory(self, nbytes: int) -> bool:
        return nbytes <= self.memory_share * memory_limit()

    def _data_from_file(self, path: Path, shape: tuple[int, ...], labels: Optional[torch.Tensor],
                        class_names: tuple[str, ...], known_hash: Optional[str]) -> ImageData:
        nbytes = int(np.prod(shape))
        if self.fits_in_memory(nbytes) or nbytes == 0:
            images = torch.from_numpy(np.fromfile(path, dtype=np.uint8).reshape(shape))
            return ImageData(images, labels, class_names, known_hash=known_hash)
        mapped = np.memmap(path, dtype=np.uint8, mode="c", shape=shape)  # "c": writable view, file never changed
        return ImageData(torch.from_numpy(mapped), labels, class_names, file=path, known_hash=known_hash)

    # ------------------------------------------------------------------ decoding
    def _writer(self, name: str, key: str, shape: tuple[int, int, int], nbytes: int) -> Optional[store.EntryWriter]:
        """Where the decoded images go, or None for memory: then first refused if memory cannot hold them."""
        if not self.enabled:
            self._check_memory_holds(nbytes, name, "the decoded-data cache is off")
            return None
        free = free_space(self.folder)
        if free is not None and free < nbytes:  # found now, not after an hour of decoding
            self._check_memory_holds(nbytes, name, f"the decoded-data cache under '{self.folder}' has "
                                     f"{size_text(free)} free")
            warnings.warn(f"Not caching the decoded {name} images: they take {size_text(nbytes)} and '{self.folder}' "
                          f"has {size_text(free)} free; decoding into memory, and again next time. Free space or "
                          f"set data.cache to another folder.", GanzooWarning, stacklevel=5)
            return None
        try:
            return store.EntryWriter(self.folder, name, key, shape)
        except OSError as exc:
            self._check_memory_holds(nbytes, name, f"the decoded-data cache under '{self.folder}' cannot be written "
                                     f"({exc.strerror or exc})")
            warnings.warn(f"Cannot write the decoded-data cache under '{self.folder}' ({exc.strerror or exc}); "
                          f"decoding into memory, and again next time. Set data.cache to a writable folder, or "
                          f"false to silence this warning.", GanzooWarning, stacklevel=5)
            return None

    def _check_memory_holds(self, nbytes: int, name: str, why_not_on_disk: str) -> None:
        """Refuse, before decoding, data that can live neither in the cache file nor in memory."""
        limit = memory_limit()
        if nbytes > limit:
            raise GanzooError(f"The decoded {name} images take {size_text(nbytes)}, more than this machine's "
                              f"{size_text(limit)} of memory, and {why_not_on_disk}, so they cannot be kept "
                              f"anywhere. Set data.cache to a folder with {size_text(nbytes)} free (the images "
                              f"then stay in that file during training), or use a lower data.resolution or fewer "
                              f"images.")

    def _decode(self, name: str, key: str, before: dict, fingerprint: Callable[[], Mapping[str, Any]],
                items: Sequence[Any], decode: Callable[[Any], np.ndarray], shape: tuple[int, int, int],
                labels: Optional[LabelsFor]) -> CachedLoad:
        nbytes = len(items) * int(np.prod(shape))  # at most: files that fail to decode take nothing
        writer = self._writer(name, key, shape, nbytes)
        in_memory: list[np.ndarray] = []
        kept: list[int] = []
        skipped: list[tuple[int, str]] = []
        started = time.monotonic()
        progress = decode_progress.get() or _silent
        label = f"Decoding {len(items):,} {name} images" + (" (kept for later runs)" if writer else "")
        with progress(label, len(items)) as report:
            for index, result in enumerate(decode_in_order(decode, items, self.workers, report)):
                if isinstance(result, str):
                    skipped.append((index, result))
                    continue
                chw = self._checked(result, shape, name)
                kept.append(index)
                if writer is not None:
                    try:
                        writer.append(chw)
                        continue
                    except OSError as exc:  # a full disk: keep what was written, carry on in memory
                        if nbytes > memory_limit():
                            writer.abandon()  # no partial copy left behind by the error below
                        self._check_memory_holds(nbytes, name, f"writing it under '{self.folder}' failed "
                                                 f"({exc.strerror or exc})")
                        in_memory = list(writer.written_images())
                        writer.abandon()
                        writer = None
                        warnings.warn(f"Stopped writing the decoded-data cache under '{self.folder}' "
                                      f"({exc.strerror or exc}); removed the partial copy and carrying on in "
                                      f"memory. Free space there or set data.cache to another folder.",
                                      GanzooWarning, stacklevel=4)
                in_memory.append(chw)
        label_tensor, class_names = labels(kept) if labels is not None and kept else (None, ())
        changed = dict(fingerprint()) != before
        if changed:
            warnings.warn(f"The {name} files changed while they were decoded (added, removed or rewritten); "
                          f"training on the images as read, and not caching them: the next run decodes again.",
                          GanzooWarning, stacklevel=4)
        if writer is not None and kept and not changed:
            try:
                written = writer.close_images()
                content = ImageData(torch.from_numpy(written), label_tensor, class_names).content_hash()
                del written
                entry = writer.commit({"content_sha256": content, "class_names": list(class_names),
                                       "skipped": skipped, "items": len(items),
                                       "decode_seconds": round(time.monotonic() - started, 2)},
                                      label_tensor.numpy() if label_tensor is not None else None)
            except OSError as exc:
                writer.abandon()
                raise GanzooError(f"Could not finish the decoded-data cache under '{self.folder}' "
                                  f"({exc.strerror or exc}); nothing was kept there. Free space, or set "
                                  f"data.cache to another folder or to false.") from None
            data = self._data_from_file(entry.images_file, entry.shape, label_tensor, class_names, content)
            return CachedLoad(data, skipped, "decoded", data.file is not None)
        if writer is not None:
            if kept:
                in_memory = in_memory or list(writer.written_images())
            writer.abandon()
        images = (torch.from_numpy(np.stack(in_memory)) if in_memory
                  else torch.empty((0, *shape), dtype=torch.uint8))
        return CachedLoad(ImageData(images, label_tensor, class_names), skipped, "decoded, not cached")

    @staticmethod
    def _checked(hwc: np.ndarray, shape: tuple[int, int, int], name: str) -> np.ndarray:
        c, h, w = shape
        if hwc.ndim == 2 and c == 1:
            hwc = hwc[:, :, None]
        if hwc.dtype != np.uint8 or hwc.shape != (h, w, c):
            raise GanzooError(f"The {name} dataset's decode function returned {hwc.dtype} {hwc.shape}, not uint8 "
                              f"({h}, {w}, {c}); this is a bug in the plugin.")
        return hwc.transpose(2, 0, 1)

