"""ADA overhead: training images/s with adaptive augmentation against none and against DiffAugment.

DCGAN on the catalogue, through the engine (EMA off). Each measurement runs in
its own process, warms up, then times a fixed number of steps; variants run
interleaved, ``--repeats`` times, and the median is kept. "ada, p from 0" is
``train.augment: ada`` as a run starts (p is still ~0 after a few hundred steps,
so this is the heuristic's bookkeeping); "ada, p=0.5" and "ada, p=1" hold p there
(``train.ada.fixed_p``): the whole pipeline runs on every image the discriminator
sees. CPU time per image (the process's, all threads) is given beside wall-clock
images/s: on a shared machine it moves less. Prints a table and, with --write, replaces the ada_overhead section of
docs/performance.md. ``--grid PATH`` writes a grid of augmented catalogue
images instead (rows: originals, p=0.5 twice, p=1 twice, then geometric, colour
and cutout alone at p=1).

    python benchmarks/ada_overhead.py --write
    python benchmarks/ada_overhead.py --grid docs/img/ada-pipeline.png
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from perfdoc import report

VARIANTS = {  # name: (train.augment policies, AdaSettings keywords or None)
    "none": ((), None),
    "DiffAugment color,translation,cutout": (("color", "translation", "cutout"), None),
    "ada, p from 0": ((), {}),
    "ada, p=0.5": ((), {"fixed_p": 0.5}),
    "ada, p=1": ((), {"fixed_p": 1.0}),
}


def _catalogue(resolution: int, size: int):
    from ganzoo.host import default_host
    cls = default_host().datasets.get("catalogue").obj
    return cls(cls.Config(size=size), resolution).load()


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def child(args) -> dict:
    from ganzoo.api import ImageSpec
    from ganzoo.engine import Budget, Callback, EMASettings, Trainer, TrainSettings
    from ganzoo.engine.device import pick_device
    from ganzoo.engine.settings import AdaSettings
    from ganzoo.host import default_host
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    data = _catalogue(args.resolution, args.size)
    arch_cls = default_host().architectures.get("dcgan").obj
    arch = arch_cls(arch_cls.Config(width=args.width), ImageSpec(args.resolution, 3))
    policies, ada = VARIANTS[args.variant]
    settings = TrainSettings(Budget(steps=args.warmup + args.steps), batch_size=args.batch_size,
                             log_every=args.warmup, ema=EMASettings(enabled=False), augment=policies,
                             ada=AdaSettings(**ada) if ada is not None else None)
    marks = {}

    class Clock(Callback):
        def on_log(self, trainer, record):
            if record["step"] == args.warmup:
                _sync(device)
                marks["t0"], marks["cpu0"] = time.perf_counter(), time.process_time()

        def on_end(self, trainer, summary):
            _sync(device)
            marks["t1"], marks["cpu1"] = time.perf_counter(), time.process_time()
            marks["p"] = trainer.ada.p if trainer.ada else None

    Trainer(arch, data, settings, seed=0, device=device, callbacks=[Clock()]).run()
    images = args.steps * args.batch_size
    return {"images_per_s": images / (marks["t1"] - marks["t0"]),
            "cpu_ms_per_image": (marks["cpu1"] - marks["cpu0"]) * 1000 / images, "p": marks["p"]}


def measure(args, threads: int) -> dict[str, dict]:
    runs: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    for _ in range(args.repeats):
        for variant in VARIANTS:
            cmd = [sys.executable, __file__, "--child", "--variant", variant, "--threads", str(threads),
                   "--device", args.device, "--steps", str(args.steps), "--warmup", str(args.warmup),
                   "--batch-size", str(args.batch_size), "--resolution", str(args.resolution),
                   "--width", str(args.width), "--size", str(args.size)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                                 env={**os.environ, "GANZOO_TENSORBOARD": "0"})
            runs[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {v: {"images_per_s": statistics.median(r["images_per_s"] for r in rs),
                "spread": (min(r["images_per_s"] for r in rs), max(r["images_per_s"] for r in rs)),
                "cpu_ms_per_image": statistics.median(r["cpu_ms_per_image"] for r in rs),
                "p": max((r["p"] for r in rs if r["p"] is not None), default=None)} for v, rs in runs.items()}


def write_grid(path: Path) -> None:
    from ganzoo.api import to_float_images
    from ganzoo.engine.ada_pipeline import COLOUR, GEOMETRIC, ada_augment
    from ganzoo.engine.images import save_grid
    x = to_float_images(_catalogue(64, 64).images[:8])
    torch.manual_seed(0)
    rows = [x, ada_augment(x, 0.5), ada_augment(x, 0.5), ada_augment(x, 1.0), ada_augment(x, 1.0),
            ada_augment(x, 1.0, GEOMETRIC), ada_augment(x, 1.0, COLOUR), ada_augment(x, 1.0, ["cutout"])]
    save_grid(torch.cat(rows).clamp(-1, 1), path, columns=8)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, nargs="*", default=None, help="thread counts (default: 1 and all cores)")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--size", type=int, default=2048, help="catalogue images")
    parser.add_argument("--write", action="store_true", help="update docs/performance.md")
    parser.add_argument("--grid", type=Path, help="write a grid of augmented catalogue images here, and stop")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.threads = args.threads[0]
        print(json.dumps(child(args)))
        return
    if args.grid:
        return write_grid(args.grid)
    cores = len(os.sched_getaffinity(0))
    rows = []
    for threads in args.threads or sorted({1, cores}):
        results = measure(args, threads)
        base = results["none"]
        for variant, r in results.items():
            overhead = (base["images_per_s"] / r["images_per_s"] - 1) * 100
            cpu_overhead = (r["cpu_ms_per_image"] / base["cpu_ms_per_image"] - 1) * 100
            p = "—" if r["p"] is None else f"{r['p']:.3f}"
            low, high = r["spread"]
            rows.append(f"| {variant} | {threads} | {r['images_per_s']:.0f} ({low:.0f}-{high:.0f}) "
                        f"| {'—' if variant == 'none' else f'{overhead:+.1f}%'} | {r['cpu_ms_per_image']:.2f} "
                        f"| {'—' if variant == 'none' else f'{cpu_overhead:+.1f}%'} | {p} |")
    device = (torch.cuda.get_device_name() if args.device.startswith("cuda")
              else f"CPU ({platform.processor() or platform.machine()}, {cores} cores)")
    caption = (
        f"DCGAN {args.resolution}x{args.resolution}, width {args.width}, batch {args.batch_size}, catalogue "
        f"({args.size} images), EMA off, {args.steps} timed steps after {args.warmup} warm-up, median of "
        f"{args.repeats} processes per variant, run interleaved (range in brackets); device: {device}; "
        f"torch {torch.__version__}; measured {time.strftime('%Y-%m-%d')}."
    )
    header = "| augmentation | threads | images/s | overhead vs none | CPU ms/image | CPU overhead | p at the end |"
    report("ada_overhead", caption, header, rows, args.write)


if __name__ == "__main__":
    main()
