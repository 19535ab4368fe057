"""The decoded-data cache: decode once (in parallel), reuse until a file changes, never use a broken entry,
and train from a file exactly as from memory."""
from __future__ import annotations

import errno
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganzoo.datacache import DataCache, store
from ganzoo.engine.batches import BatchStream
from ganzoo.errors import GanzooError, GanzooWarning


def photos(root: Path, per_class: int = 4, classes=("bags", "shoes")) -> Path:
    """Product-photo-like files: non-square JPEGs, a transparent PNG, a CMYK JPEG, an EXIF-rotated one."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = (rng.random((30 + 7 * i, 44, 3)) * 80 + 60 * c).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i:03d}.jpg", quality=90)
    rgba = Image.new("RGBA", (40, 24), (0, 0, 0, 0))
    rgba.paste((200, 30, 30, 255), (8, 4, 30, 20))
    rgba.save(root / classes[0] / "cutout.png")
    Image.new("CMYK", (24, 36), (0, 128, 255, 0)).save(root / classes[1] / "print.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    Image.new("RGB", (40, 20), (20, 120, 20)).save(root / classes[1] / "rotated.jpg", exif=exif)
    return root


def folder_dataset(path: Path, cache: DataCache, resolution: int = 16, **config):
    from ganzoo_datasets.folder import FolderConfig, FolderDataset
    dataset = FolderDataset(FolderConfig(path=path, **config), resolution)
    dataset.cache = cache
    return dataset


def loaded(path: Path, cache: DataCache, **config):
    """(ImageData, where it came from) for the folder dataset through ``cache``."""
    sources = []
    real_load = DataCache.load

    def spy(self, *args, **kwargs):
        result = real_load(self, *args, **kwargs)
        sources.append(result.source)
        return result

    DataCache.load = spy
    try:
        data = folder_dataset(path, cache, **config).load()
    finally:
        DataCache.load = real_load
    return data, sources[0]


def same(a, b) -> None:
    assert torch.equal(a.images, b.images)
    assert (a.labels is None and b.labels is None) or torch.equal(a.labels, b.labels)
    assert a.class_names == b.class_names
    assert a.content_hash() == b.content_hash()


def test_decoded_once_then_read_back_identical(tmp_path):
    folder = photos(tmp_path / "photos")
    cache = DataCache(tmp_path / "cache")
    first, source1 = loaded(folder, cache)
    again, source2 = loaded(folder, cache)
    plain, source3 = loaded(folder, DataCache(enabled=False))
    assert (source1, source2, source3) == ("decoded", "cache", "decoded, not cached")
    same(first, plain)
    same(again, plain)
    assert again.known_hash is not None and again.content_hash() == ImageDataHash(plain)
    assert plain.class_names == ("bags", "shoes") and len(plain) == 11
    assert not list((tmp_path / "cache").glob(".partial-*"))


def ImageDataHash(data) -> str:  # noqa: N802 - reads as a value
    from ganzoo.api import ImageData
    return ImageData(data.images.clone(), data.labels, data.class_names).content_hash()


def test_settings_and_file_changes_invalidate(tmp_path):
    folder = photos(tmp_path / "photos")
    cache = DataCache(tmp_path / "cache")
    assert loaded(folder, cache)[1] == "decoded"
    assert loaded(folder, cache, background="black")[1] == "decoded"  # a pixel setting is part of the key
    assert loaded(folder, cache)[1] == "cache"
    target = folder / "bags" / "001.jpg"
    Image.new("RGB", (30, 30), "blue").save(target)  # rewritten: size and time change
    os.utime(target, ns=(1, 1))
    data, source = loaded(folder, cache)
    assert source == "decoded" and data.images[1, 2].float().min() > 240 > data.images[1, 0].float().max() + 200
    Image.new("RGB", (30, 30), "red").save(folder / "shoes" / "new.jpg")
    assert loaded(folder, cache)[1] == "decoded"
    (folder / "shoes" / "new.jpg").unlink()
    assert loaded(folder, cache)[1] == "cache"  # back to a listing it has seen


def test_bad_files_are_skipped_and_still_reported_from_the_cache(tmp_path):
    folder = photos(tmp_path / "photos")
    (folder / "bags" / "broken.jpg").write_bytes(b"not a jpeg")
    cache = DataCache(tmp_path / "cache")
    for expected in ("decoded", "cache"):
        with pytest.warns(GanzooWarning, match=r"Skipped 1 of 12 .*broken\.jpg"):
            data, source = loaded(folder, cache)
        assert source == expected and len(data) == 11


@pytest.mark.parametrize("damage", ["truncate", "format", "manifest"])
def test_a_damaged_entry_is_ignored_and_rebuilt(tmp_path, damage):
    folder = photos(tmp_path / "photos")
    cache = DataCache(tmp_path / "cache")
    good, _ = loaded(folder, cache)
    entry = next(p for p in (tmp_path / "cache").iterdir() if not p.name.startswith("."))
    if damage == "truncate":
        with open(entry / store.IMAGES, "r+b") as f:
            f.truncate(100)
    elif damage == "format":
        text = (entry / store.MANIFEST).read_text().replace(f'"format": {store.FORMAT}', '"format": 99')
        (entry / store.MANIFEST).write_text(text)
    else:
        (entry / store.MANIFEST).write_text("{not json")
    with pytest.warns(GanzooWarning, match="Ignoring the decoded-data cache"):
        data, source = loaded(folder, cache)
    assert source == "decoded"
    same(data, good)
    assert loaded(folder, cache)[1] == "cache"


def test_an_unwritable_cache_folder_falls_back_to_memory_with_one_warning(tmp_path):
    folder = photos(tmp_path / "photos")
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data, source = loaded(folder, DataCache(blocked))
    messages = [str(w.message) for w in caught if issubclass(w.category, GanzooWarning)]
    assert source == "decoded, not cached" and len(data) == 11
    assert len(messages) == 1 and "Cannot write the decoded-data cache" in messages[0]


def test_a_full_disk_while_writing_keeps_every_image_and_leaves_no_entry(tmp_path, monkeypatch):
    folder = photos(tmp_path / "photos")
    plain, _ = loaded(folder, DataCache(enabled=False))
    real_append = store.EntryWriter.append

    def append(self, chw):
        if self.count == 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_append(self, chw)

    monkeypatch.setattr(store.EntryWriter, "append", append)
    with pytest.warns(GanzooWarning, match="No space left on device"):
        data, source = loaded(folder, DataCache(tmp_path / "cache"))
    assert source == "decoded, not cached"
    same(data, plain)
    assert not list((tmp_path / "cache").iterdir())


def test_too_little_free_space_decodes_into_memory_with_one_warning(tmp_path, monkeypatch):
    """Told before decoding (from the images' size), not found out by a write failing an hour in."""
    from ganzoo.datacache import cache as cache_module
    folder = photos(tmp_path / "photos")
    monkeypatch.setattr(cache_module, "free_space", lambda path: 1000)  # 11 images of 3x16x16 are 8,448 bytes
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data, source = loaded(folder, DataCache(tmp_path / "cache"))
    messages = [str(w.message) for w in caught if issubclass(w.category, GanzooWarning)]
    assert source == "decoded, not cached" and len(data) == 11
    assert len(messages) == 1 and "has 0 MiB free" in messages[0] and str(tmp_path / "cache") in messages[0]
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())


@pytest.mark.parametrize("where", ["no space", "cache off", "disk full while writing"])
def test_data_that_fits_neither_disk_nor_memory_is_refused_with_what_to_do(tmp_path, monkeypatch, where):
    from ganzoo.datacache import cache as cache_module
    folder = photos(tmp_path / "photos")
    monkeypatch.setattr(cache_module, "memory_limit", lambda: 4096)  # less than the 8,448 bytes of images
    cache = DataCache(tmp_path / "cache", enabled=where != "cache off")
    if where == "no space":
        monkeypatch.setattr(cache_module, "free_space", lambda path: 1000)
    if where == "disk full while writing":
        def append(self, chw):
            raise OSError(errno.ENOSPC, "No space left on device")
        monkeypatch.setattr(store.EntryWriter, "append", append)
    with pytest.raises(GanzooError) as caught:
        loaded(folder, cache)
    message = str(caught.value)
    assert "cannot be kept anywhere" in message and "Set data.cache to a folder with" in message
    assert {"no space": "has 0 MiB free", "cache off": "cache is off",
            "disk full while writing": "No space left on device"}[where] in message
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())  # no partial copy


def test_a_folder_that_changes_while_decoding_is_used_as_read_but_not_cached(tmp_path, monkeypatch):
    folder = photos(tmp_path / "photos")
    from ganzoo_datasets import _pixels
    real_read = _pixels.read_image

    def read_and_add(path, *args):
        if path.name == "000.jpg" and path.parent.name == "bags":
            Image.new("RGB", (20, 20), "red").save(folder / "shoes" / "arrived-late.jpg")
        return real_read(path, *args)

    monkeypatch.setattr(_pixels, "read_image", read_and_add)
    cache = DataCache(tmp_path / "cache")
    with pytest.warns(GanzooWarning, match="changed while they were decoded"):
        data, source = loaded(folder, cache)
    assert source == "decoded, not cached" and len(data) == 11
    assert not list((tmp_path / "cache").iterdir())
    monkeypatch.setattr(_pixels, "read_image", real_read)
    assert loaded(folder, cache)[1] == "decoded" and len(loaded(folder, cache)[0]) == 12


def test_a_killed_writer_leaves_nothing_that_is_used(tmp_path):
    folder = photos(tmp_path / "photos")
    cache = DataCache(tmp_path / "cache")
    good, _ = loaded(folder, cache)
    entry = next((tmp_path / "cache").iterdir())
    # What a process killed before its rename leaves: a partial folder, owned by a pid that is gone.
    dead = (tmp_path / "cache" / f".partial-{entry.name.split('-')[-1]}-999999999-0")
    dead.mkdir()
    (dead / store.IMAGES).write_bytes(b"\0" * 10)
    store.remove(entry)
    data, source = loaded(folder, cache)
    assert source == "decoded" and not dead.exists()
    same(data, good)


def test_parallel_decoding_gives_the_serial_result(tmp_path):
    from ganzoo.datacache.parallel import PARALLEL_FROM
    folder = tmp_path / "many"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(PARALLEL_FROM + 20):
        Image.fromarray((rng.random((12, 20, 3)) * 255).astype(np.uint8)).save(folder / f"{i:04d}.png")
    (folder / "0100.png").write_bytes(b"broken")
    with pytest.warns(GanzooWarning, match="0100.png"):
        serial, _ = loaded(folder, DataCache(enabled=False, workers=1))
    with pytest.warns(GanzooWarning, match="0100.png"):
        parallel, _ = loaded(folder, DataCache(tmp_path / "cache", workers=2))
    same(serial, parallel)


def test_data_over_the_memory_share_stays_in_the_file_and_trains_the_same(tmp_path):
    folder = photos(tmp_path / "photos", per_class=10)
    in_memory, _ = loaded(folder, DataCache(tmp_path / "cache"))
    on_disk, source = loaded(folder, DataCache(tmp_path / "cache", memory_share=0))
    assert source == "cache" and on_disk.file is not None and in_memory.file is None
    same(on_disk, in_memory)
    cpu = torch.device("cpu")
    memory_stream, disk_stream = (BatchStream(d, 6, 3, cpu) for d in (in_memory, on_disk))
    for step in range(9):  # several epochs of 25 images, batches spanning epochs
        if step == 5:  # resume the disk stream from a saved state, as a checkpoint would
            state = disk_stream.state_dict()
            disk_stream = BatchStream(on_disk, 6, 99, cpu)
            disk_stream.load_state_dict(state)
        a, b = memory_stream.next(), disk_stream.next()
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_training_from_the_file_equals_training_in_memory_and_resumes_exactly(tmp_path, monkeypatch):
    """The same batches in the same order, whether the decoded data is in memory or read from the cache file."""
    import json

    from safetensors.torch import load_file

    from ganzoo.host import default_host
    from ganzoo.recipe import resolve
    from ganzoo.runner import run_recipe
    from tests.conftest import tiny_recipe

    monkeypatch.setenv("GANZOO_DATA_CACHE", str(tmp_path / "cache"))
    folder = photos(tmp_path / "photos", per_class=10)
    host = default_host()

    def run(name: str, steps: int, **data):
        recipe = tiny_recipe(tmp_path / name, steps=steps, checkpoint_every=3)
        recipe["data"] = {"kind": "folder", "path": str(folder), "resolution": 16, **data}
        recipe["architecture"]["conditional"] = True
        result = run_recipe(resolve(recipe, host), host)
        latest = json.loads((result.run_dir.checkpoints / "latest.json").read_text())
        return load_file(str(result.run_dir.checkpoints / latest["weights"]))

    from ganzoo.engine import batches
    reads = []
    real_read = batches.FileRows.read
    monkeypatch.setattr(batches.FileRows, "read", lambda self, *a: reads.append(1) or real_read(self, *a))
    memory = run("memory", 6)
    assert not reads
    disk = run("disk", 6, memory_share=0)
    assert len(reads) >= 6  # every batch came from the file (plus the one read ahead)
    run("disk-resumed", 3, memory_share=0)
    resumed = run("disk-resumed", 6, memory_share=0)  # a larger budget resumes the finished run
    for key in memory:
        assert torch.equal(memory[key], disk[key]) and torch.equal(memory[key], resumed[key]), key
    entries = list((tmp_path / "cache").iterdir())
    assert len(entries) == 1  # one decode served all four sessions
    run("uncached", 2, cache=False, memory_share=0)  # off: decoded in memory, nothing more written
    assert list((tmp_path / "cache").iterdir()) == entries
