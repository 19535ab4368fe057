"""Training throughput and peak memory of each architecture at 32x32 and 64x64.

Each (architecture, resolution) trains in its own process on random uint8 data
with the configuration its catalogue recipe uses, warms up, then is timed.
Prints a table and, with --write, replaces the matching section of
docs/performance.md.

    python benchmarks/architectures.py --write
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

import torch
from clock import WarmupClock
from perfdoc import report

# The architecture sections of recipes/*-catalogue.yaml (and the quickstart for DCGAN).
CONFIGS = {
    "dcgan": {"width": 32},
    "wgan-gp": {"width": 32, "n_critic": 2, "lr": 0.0002, "drift": 0.001},
    "sngan": {"g_width": 128, "d_width": 64},
    "stylegan-lite": {"preset": "small", "width": 16, "max_width": 64, "mapping_layers": 2, "lr": 0.002},
}


def child(args) -> None:
    from ganzoo.api import ImageData
    from ganzoo.engine import Budget, Trainer, TrainSettings
    from ganzoo.engine.device import pick_device
    from ganzoo.host import default_host
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    cls = default_host().architectures.get(args.kind).obj
    g = torch.Generator().manual_seed(0)
    data = ImageData(torch.randint(0, 256, (1024, 3, args.resolution, args.resolution), generator=g, dtype=torch.uint8))
    arch = cls(cls.Config.model_validate(CONFIGS[args.kind]), data.spec)
    clock = WarmupClock(args.warmup, device)
    settings = TrainSettings(Budget(steps=args.warmup + args.steps), batch_size=args.batch_size,
                             log_every=args.warmup, amp=args.amp)
    Trainer(arch, data, settings, seed=0, device=device, callbacks=[clock]).run()
    seconds = clock.seconds
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps({"real_images_per_s": clock.images_per_s,
                      "steps_per_s": args.steps / seconds, "peak_mb": peak}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", default="off")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--resolutions", type=int, nargs="*", default=[32, 64])
    parser.add_argument("--kinds", nargs="*", default=list(CONFIGS))
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--section", default="architectures", help="marked section of docs/performance.md to replace")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--kind", help=argparse.SUPPRESS)
    parser.add_argument("--resolution", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    rows = []
    for kind in args.kinds:
        for resolution in args.resolutions:
            cmd = [sys.executable, __file__, "--child", "--kind", kind, "--resolution", str(resolution),
                   "--device", args.device, "--amp", args.amp, "--threads", str(args.threads),
                   "--steps", str(args.steps), "--warmup", str(args.warmup), "--batch-size", str(args.batch_size)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                                 env={**os.environ, "GANZOO_TENSORBOARD": "0"})
            r = json.loads(out.stdout.strip().splitlines()[-1])
            config = ", ".join(f"{k} {v}" for k, v in CONFIGS[kind].items())
            rows.append(f"| {kind} | {config} | {resolution} | {r['real_images_per_s']:.0f} | {r['steps_per_s']:.2f} "
                        f"| {r['peak_mb']:.0f} |")
            print(rows[-1], flush=True)
    device = (torch.cuda.get_device_name() if args.device.startswith("cuda")
              else f"CPU ({platform.machine()}, {args.threads} threads)")
    caption = (
        f"Batch {args.batch_size}, amp {args.amp}, {args.steps} timed steps after {args.warmup} warm-up, one process "
        f"each; device: {device}; torch {torch.__version__}; measured {time.strftime('%Y-%m-%d')}. Real images/s "
        f"counts images shown to the discriminator (WGAN-GP shows n_critic batches per generator step)."
    )
    header = "| architecture | config | resolution | real images/s | generator steps/s | peak memory (MiB) |"
    report(args.section, caption, header, rows, args.write)


if __name__ == "__main__":
    main()
