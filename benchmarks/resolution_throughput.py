"""Training throughput, peak memory and the memory estimate of each architecture at 128x128 and 256x256.

Each (architecture, resolution) trains in its own process on random uint8 data, with the
configuration its catalogue recipe uses (benchmarks/architectures.py), or with the
architecture, resolution, batch and amp of the recipes given by --recipes (the GPU recipes).
The estimate is ganzoo.engine.footprint's, made before training as `ganzoo run` makes it; the
measured peak is what training added to the process (resident set on CPU, the allocator's
peak on CUDA), so their ratio says how close the estimate is. Prints a table and, with
--write, replaces the matching section of docs/performance.md.

    python benchmarks/resolution_throughput.py --write     # CPU: 2 steps each at batch 4, a few minutes
    python benchmarks/resolution_throughput.py --device cuda --amp bf16 --batch-size 32 --steps 50 \\
        --recipes recipes/dcgan-256-gpu.yaml recipes/stylegan-lite-256-gpu.yaml --write --section ...
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml
from architectures import CONFIGS
from clock import WarmupClock
from perfdoc import report

# StyleGAN-lite also at 512 px: the only architecture that goes there.
EXTRA = [("stylegan-lite", 512)]


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child(args) -> None:
    from ganzoo.api import ImageData
    from ganzoo.engine import Budget, Trainer, TrainSettings, memory
    from ganzoo.engine.device import pick_device
    from ganzoo.engine.footprint import estimate
    from ganzoo.host import default_host
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    cls = default_host().architectures.get(args.kind).obj
    g = torch.Generator().manual_seed(0)
    data = ImageData(torch.randint(0, 256, (4 * args.batch_size, 3, args.resolution, args.resolution), generator=g,
                                   dtype=torch.uint8), torch.arange(4 * args.batch_size) % 6, tuple("abcdef"))
    arch = cls(cls.Config.model_validate(json.loads(args.config)), data.spec)
    estimated = estimate(arch, args.batch_size, amp=args.amp).total / 2**20  # first, as `ganzoo run` does
    gc.collect()
    before = torch.cuda.memory_allocated(device) / 2**20 if device.type == "cuda" else _rss_mib()
    reset = memory.reset_peak(device)
    clock = WarmupClock(args.warmup, device)
    settings = TrainSettings(Budget(steps=args.warmup + args.steps), batch_size=args.batch_size,
                             log_every=args.warmup, amp=args.amp, grid_size=4, sample_every=10**9)
    Trainer(arch, data, settings, seed=0, device=device, callbacks=[clock]).run()
    seconds = clock.seconds
    peak = memory.peak(device, reset)
    measured = (peak["cuda_max_allocated_mib"] if device.type == "cuda" else peak["rss_mib"]) - before
    print(json.dumps({"real_images_per_s": clock.images_per_s,
                      "steps_per_s": args.steps / seconds, "peak_mib": measured, "estimate_mib": estimated}))


def _cases(args) -> list[dict]:
    """(kind, config, resolution, batch, amp) to measure: the recipes given, else the catalogue configs."""
    if args.recipes:
        cases = []
        for path in args.recipes:
            recipe = yaml.safe_load(Path(path).read_text())
            config = {k: v for k, v in recipe["architecture"].items() if k != "kind"}
            train = recipe.get("train", {})
            cases.append({"kind": recipe["architecture"]["kind"], "config": config,
                          "resolution": recipe["data"]["resolution"], "label": Path(path).name,
                          "batch_size": args.batch_size or train.get("batch_size", 32),
                          "amp": args.amp or train.get("amp", "off")})
        return cases
    pairs = [(kind, r) for kind in args.kinds for r in args.resolutions]
    pairs += [(kind, r) for kind, r in EXTRA if kind in args.kinds and args.extra]
    return [{"kind": kind, "config": CONFIGS[kind], "resolution": r, "batch_size": args.batch_size or 4,
             "amp": args.amp or "off", "label": ", ".join(f"{k} {v}" for k, v in CONFIGS[kind].items())}
            for kind, r in pairs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", default=None, help="off, bf16 or fp16 (default: off, or each recipe's)")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=None, help="default: 4, or each recipe's")
    parser.add_argument("--resolutions", type=int, nargs="*", default=[128, 256])
    parser.add_argument("--kinds", nargs="*", default=list(CONFIGS))
    parser.add_argument("--no-extra", dest="extra", action="store_false", help="skip StyleGAN-lite at 512 px")
    parser.add_argument("--recipes", nargs="*", default=[], help="measure these recipes' networks instead")
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--section", default="resolution_throughput",
                        help="marked section of docs/performance.md to replace")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--kind", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--resolution", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    rows = []
    for case in _cases(args):
        cmd = [sys.executable, __file__, "--child", "--kind", case["kind"], "--config", json.dumps(case["config"]),
               "--resolution", str(case["resolution"]), "--device", args.device, "--amp", case["amp"],
               "--threads", str(args.threads), "--steps", str(args.steps), "--warmup", str(args.warmup),
               "--batch-size", str(case["batch_size"])]
        out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "GANZOO_TENSORBOARD": "0"})
        if out.returncode:  # e.g. out of memory on a small GPU: say so in the table, measure the rest
            rows.append(f"| {case['kind']} | {case['label']} | {case['resolution']} | {case['batch_size']} | "
                        f"failed: {(out.stderr.strip().splitlines() or ['?'])[-1][:80]} | | | | |")
            print(rows[-1], flush=True)
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(f"| {case['kind']} | {case['label']} | {case['resolution']} | {case['batch_size']} | "
                    f"{r['real_images_per_s']:.1f} | {r['steps_per_s']:.2f} | {r['peak_mib']:.0f} | "
                    f"{r['estimate_mib']:.0f} | {r['estimate_mib'] / max(r['peak_mib'], 1):.2f} |")
        print(rows[-1], flush=True)
    device = (torch.cuda.get_device_name() if args.device.startswith("cuda")
              else f"CPU ({platform.machine()}, {args.threads} threads)")
    peak = "the allocator's peak" if args.device.startswith("cuda") else "resident set added by training"
    caption = (
        f"amp {args.amp or 'off (or each recipe its own)'}, {args.steps} timed steps after {args.warmup} warm-up, one "
        f"process each; device: {device}; torch {torch.__version__}; measured {time.strftime('%Y-%m-%d')}. Peak "
        f"memory: {peak}; estimate: what `ganzoo validate` prints (ganzoo.engine.footprint)."
    )
    header = (
        "| architecture | config | resolution | batch | real images/s | generator steps/s | peak memory (MiB) "
        "| estimate (MiB) | estimate / peak |"
    )
    report(args.section, caption, header, rows, args.write)


if __name__ == "__main__":
    main()
