"""Engine overhead: ganzoo's training loop against a bare PyTorch loop on the same DCGAN.

Each measurement runs in its own process (so peak memory is its own), warms up,
then times a fixed number of steps. Prints a table and, with --write, replaces
the matching section of docs/performance.md.

    python benchmarks/train_throughput.py --write
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import torch
from perfdoc import report


def _setup(args):
    from ganzoo.api import ImageData, ImageSpec
    from ganzoo.engine.device import pick_device
    from ganzoo.host import default_host
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    arch_cls = default_host().architectures.get("dcgan").obj
    arch = arch_cls(arch_cls.Config(width=args.width), ImageSpec(args.resolution, 3))
    g = torch.Generator().manual_seed(0)
    data = ImageData(torch.randint(0, 256, (2048, 3, args.resolution, args.resolution), generator=g, dtype=torch.uint8))
    return arch, data, device


def _peak_mb(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def bare(args) -> dict:
    """The loop a user would write by hand: same networks, optimisers, losses and data path."""
    from ganzoo import losses
    from ganzoo.api import to_float_images
    arch, data, device = _setup(args)
    torch.manual_seed(0)
    G, D = arch.build_generator().to(device), arch.build_discriminator().to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    images = data.images.to(device)
    gen = torch.Generator().manual_seed(1)
    B = args.batch_size

    def step():
        real = to_float_images(images[torch.randint(0, len(images), (B,), generator=gen).to(device)])
        z = torch.randn(B, arch.z_dim, device=device)
        G.requires_grad_(False)
        D.requires_grad_(True)
        fake = G(z).detach()
        loss_d = losses.nonsaturating_d(D(real), D(fake))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        G.requires_grad_(True)
        D.requires_grad_(False)
        z = torch.randn(B, arch.z_dim, device=device)
        loss_g = losses.nonsaturating_g(D(G(z)))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()

    for _ in range(args.warmup):
        step()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    _sync(device)
    seconds = time.perf_counter() - t0
    return {"images_per_s": args.steps * B / seconds, "peak_mb": _peak_mb(device)}


def engine(args, ema: bool) -> dict:
    from ganzoo.engine import Budget, Callback, EMASettings, Trainer, TrainSettings
    arch, data, device = _setup(args)
    settings = TrainSettings(Budget(steps=args.warmup + args.steps), batch_size=args.batch_size,
                             log_every=args.warmup, ema=EMASettings(enabled=ema))
    marks = {}

    class Clock(Callback):
        def on_log(self, trainer, record):
            if record["step"] == args.warmup:
                _sync(device)
                marks["t0"] = time.perf_counter()

        def on_end(self, trainer, summary):
            _sync(device)
            marks["t1"] = time.perf_counter()

    Trainer(arch, data, settings, seed=0, device=device, callbacks=[Clock()]).run()
    seconds = marks["t1"] - marks["t0"]
    return {"images_per_s": args.steps * args.batch_size / seconds, "peak_mb": _peak_mb(device)}


def child(args) -> None:
    result = {"bare": lambda: bare(args), "engine": lambda: engine(args, ema=False),
              "engine+ema": lambda: engine(args, ema=True)}[args.variant]()
    print(json.dumps(result))


VARIANTS = ("bare", "engine", "engine+ema")


def measure(args, threads: int) -> dict[str, dict]:
    """Run every variant ``repeats`` times, interleaved, so slow drifts of the machine hit all alike."""
    runs: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    for _ in range(args.repeats):
        for variant in VARIANTS:
            cmd = [sys.executable, __file__, "--child", "--variant", variant, "--threads", str(threads),
                   "--device", args.device, "--steps", str(args.steps), "--warmup", str(args.warmup),
                   "--batch-size", str(args.batch_size), "--resolution", str(args.resolution),
                   "--width", str(args.width)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                                 env={**os.environ, "GANZOO_TENSORBOARD": "0"})
            runs[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {v: {"images_per_s": statistics.median(r["images_per_s"] for r in rs),
                "spread": (min(r["images_per_s"] for r in rs), max(r["images_per_s"] for r in rs)),
                "peak_mb": max(r["peak_mb"] for r in rs)} for v, rs in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, nargs="*", default=None, help="thread counts (default: 1 and all cores)")
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--write", action="store_true", help="update docs/performance.md")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.threads = args.threads[0]
        return child(args)
    cores = len(os.sched_getaffinity(0))
    thread_counts = args.threads or sorted({1, cores})
    rows = []
    for threads in thread_counts:
        results = measure(args, threads)
        base = results["bare"]["images_per_s"]
        for variant, r in results.items():
            overhead = (base / r["images_per_s"] - 1) * 100
            rows.append(f"| {variant} | {threads} | {r['images_per_s']:.0f} "
                        f"({r['spread'][0]:.0f}-{r['spread'][1]:.0f}) "
                        f"| {'—' if variant == 'bare' else f'{overhead:+.1f}%'} | {r['peak_mb']:.0f} |")
    device = (torch.cuda.get_device_name() if args.device.startswith("cuda")
              else f"CPU ({platform.processor() or platform.machine()}, {cores} cores)")
    caption = (
        f"DCGAN {args.resolution}x{args.resolution}, width {args.width}, batch {args.batch_size}, "
        f"{args.steps} timed steps after {args.warmup} warm-up, median of {args.repeats} processes per loop, "
        f"run interleaved (range in brackets); device: {device}; "
        f"torch {torch.__version__}; measured {time.strftime('%Y-%m-%d')}."
    )
    header = "| loop | threads | images/s | engine overhead | peak memory (MiB) |"
    report("train_throughput", caption, header, rows, args.write)


if __name__ == "__main__":
    main()
