"""The folder dataset's first and second start, and training from data larger than memory allows.

Photos: synthetic JPEGs (and 1 in 10 PNG) of 640 to 1200 px a side, non-square, a product-like
block on a textured background, written once under --photos (default /tmp/ganzoo-bench-photos):
500 drawn, the rest copies under other names.

1. ``decode``: the same files, to 64 x 64 with the folder dataset's own reading function, as (a) a
   plain single-process PIL loop, (b) the folder dataset's first start (decoded on every core and
   written to the decoded-data cache) and (c) its second start (the cache read back: listing and
   stat of every file, the key, the manifest, the images), each in a fresh process.
2. ``memory``: training from the cache file (``data.memory_share`` small enough that the decoded data
   is at least 3x what it allows) against the same recipe with the data in memory: peak resident set
   (VmHWM, reset after loading) and images/s, each in a fresh process.

    python benchmarks/data_cache.py --write            # both, into docs/performance.md
    python benchmarks/data_cache.py decode --count 2000  # a quick look, nothing written
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from clock import WarmupClock
from perfdoc import DOC, write_section

HERE = Path(__file__).resolve().parent


def make_photos(folder: Path, count: int, unique: int = 500) -> Path:
    """``count`` photo-sized files, made once: ``unique`` drawn ones (seeded by index), then copies of them
    under new names (decoding a copy costs what decoding the original does; drawing 10,000 takes long)."""
    from PIL import Image
    folder.mkdir(parents=True, exist_ok=True)
    have = {p.name for p in folder.iterdir()}
    for i in range(count):
        name = f"photo-{i:06d}" + (".png" if i % 10 == 9 else ".jpg")
        if name in have:
            continue
        if i >= unique:
            source = f"photo-{i % unique:06d}" + (".png" if i % unique % 10 == 9 else ".jpg")
            shutil.copyfile(folder / source, folder / name)
            continue
        rng = np.random.default_rng(i)
        w, h = int(rng.integers(640, 1201)), int(rng.integers(640, 1201))
        small = (rng.random((h // 16, w // 16, 3)) * 90 + 120).astype(np.uint8)  # a busy, blurry background
        canvas = Image.fromarray(small).resize((w, h), Image.Resampling.BILINEAR)
        block = Image.new("RGB", (w // 2, h // 2), tuple(int(c) for c in rng.integers(0, 255, 3)))
        canvas.paste(block, (w // 4, h // 4))
        canvas.save(folder / name, quality=90) if name.endswith(".jpg") else canvas.save(folder / name)
    return folder


def _child_decode(mode: str, folder: str, cache: str, workers: int) -> None:
    sys.path.insert(0, str(HERE.parent / "plugins" / "datasets"))
    from ganzoo.datacache import DataCache
    from ganzoo_datasets._pixels import read_image
    from ganzoo_datasets.folder import FolderConfig, FolderDataset
    start = time.perf_counter()
    if mode == "loop":
        files = sorted(Path(folder).iterdir())
        arrays = [read_image(f, 64, "pad", (255, 255, 255)) for f in files]
        count = len(arrays)
    else:
        dataset = FolderDataset(FolderConfig(path=Path(folder)), 64)
        dataset.cache = DataCache(Path(cache), workers=workers)
        count = len(dataset.load())
    print(json.dumps({"seconds": time.perf_counter() - start, "images": count}))


def _child_train(folder: str, cache: str, share: float, steps: int, resolution: int) -> None:
    import torch

    from ganzoo.engine import Budget, Trainer, TrainSettings, memory
    from ganzoo.host import default_host
    from ganzoo.recipe import build_architecture, load_data, resolve
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    host = default_host()
    recipe = {"data": {"kind": "folder", "path": folder, "resolution": resolution, "cache": cache,
                       "memory_share": share},
              "architecture": {"kind": "dcgan", "width": 16}, "train": {"steps": 1}}
    resolved = resolve(recipe, host)
    data = load_data(resolved, host)
    architecture = build_architecture(resolved, host, data.spec)
    device, warmup = torch.device("cpu"), 10
    clock = WarmupClock(warmup, device)
    settings = TrainSettings(Budget(steps=warmup + steps), batch_size=64, log_every=warmup)
    measured = memory.reset_peak(device)  # after loading: the in-memory data is resident from here on
    Trainer(architecture, data, settings, seed=0, device=device, callbacks=[clock]).run()
    print(json.dumps({"images_per_s": clock.images_per_s, "peak": memory.peak(device, measured),
                      "on_disk": data.file is not None, "data_mib": data.images.numel() / 2**20}))


def _run(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "_child", *args], capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def decode(photos: Path, count: int) -> str:
    folder = make_photos(photos / f"decode-{count}", count)
    cache = Path(tempfile.mkdtemp(prefix="ganzoo-bench-cache-"))
    try:
        loop = _run("decode", "loop", str(folder), str(cache), "0")
        first = _run("decode", "cache", str(folder), str(cache), "0")
        second = [_run("decode", "cache", str(folder), str(cache), "0") for _ in range(3)]
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    warm = sorted(s["seconds"] for s in second)[1]
    rows = [("plain PIL loop, 1 process", loop["seconds"], 1.0),
            (f"first start: {os.cpu_count()} worker processes, writing the cache", first["seconds"],
             loop["seconds"] / first["seconds"]),
            ("second start: the cache read back (median of 3)", warm, loop["seconds"] / warm)]
    lines = [f"{count:,} photos (640-1200 px JPEG/PNG) to 64 x 64, {os.cpu_count()} cores, "
             f"{platform.processor() or platform.machine()}; `python benchmarks/data_cache.py --write`", "",
             "| | seconds | images/s | vs plain loop |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {name} | {s:.2f} | {count / s:,.0f} | {x:.2f}x |" for name, s, x in rows]
    return "\n".join(lines)


def memory_table(photos: Path, count: int, steps: int, resolution: int) -> str:
    folder = make_photos(photos / f"decode-{count}", count)
    cache = Path(tempfile.mkdtemp(prefix="ganzoo-bench-cache-"))
    data_bytes = count * 3 * resolution**2
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    share = data_bytes / 3 / total  # the data is 3x what this share allows
    try:
        _run("decode", "cache", str(folder), str(cache), "0")  # decode once; both runs then read the cache
        rows = {}
        for name, value in (("in memory", 1.0), ("from the cache file", share)):
            results = [_run("train", str(folder), str(cache), str(value), str(steps), str(resolution))
                       for _ in range(3)]
            rows[name] = sorted(results, key=lambda r: r["images_per_s"])[1]
            if rows[name]["on_disk"] != (value < 1):
                raise SystemExit(f"{name}: the data was {'not ' if value < 1 else ''}left on disk")
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    lines = [f"DCGAN width 16 at {resolution} px, batch 64, {steps} steps, {count:,} images "
             f"({data_bytes / 2**20:,.0f} MiB decoded); `data.memory_share` {share:.2g} allows "
             f"{share * total / 2**20:,.0f} MiB; median of 3 runs each", "",
             "| data | images/s | peak RSS while training (MiB) |", "| --- | ---: | ---: |"]
    lines += [f"| {name} | {r['images_per_s']:.0f} | {r['peak']['rss_mib']:,.0f} |" for name, r in rows.items()]
    base, disk = rows["in memory"]["images_per_s"], rows["from the cache file"]["images_per_s"]
    lines += ["", f"From the file: {100 * (disk / base - 1):+.1f}% images/s, "
                  f"{rows['in memory']['peak']['rss_mib'] - rows['from the cache file']['peak']['rss_mib']:,.0f} MiB "
                  f"less resident memory."]
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        kind, *args = sys.argv[2:]
        if kind == "decode":
            _child_decode(args[0], args[1], args[2], int(args[3]))
        else:
            _child_train(args[0], args[1], float(args[2]), int(args[3]), int(args[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("which", nargs="?", choices=["decode", "memory", "both"], default="both")
    parser.add_argument("--photos", type=Path, default=Path(tempfile.gettempdir()) / "ganzoo-bench-photos")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--resolution", type=int, default=128, help="of the training comparison")
    parser.add_argument("--write", action="store_true", help="replace the tables in docs/performance.md")
    args = parser.parse_args()
    if args.which in ("decode", "both"):
        table = decode(args.photos, args.count)
        print(table)
        if args.write:
            write_section("data_decode", table)
            write_section("data_decode", table, DOC.parent / "your-products.md")
    if args.which in ("memory", "both"):
        table = memory_table(args.photos, args.count, args.steps, args.resolution)
        print(table)
        if args.write:
            write_section("data_memory", table)
            write_section("data_memory", table, DOC.parent / "your-products.md")


if __name__ == "__main__":
    main()
