"""How long the copy check's neighbour search takes: 10,000 generated against 60,000 training images on a CPU.

For each space `ganzoo nearest` searches (the default `domain` features, 8 x 16 learned + the measured
statistics; pixels, 3 x 16 x 16), in its own process: the k=5 nearest of every query among all references
(``ganzoo.metrics.nearest.nearest``, blocked matrix products), then the memorisation threshold's
training-to-training distances for a sample of 1,000. Features are random (the search costs the same
whatever they hold). Prints a table and, with --write, replaces the matching section of docs/performance.md.

    python benchmarks/nearest.py --write
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time

import torch
from perfdoc import report

SPACES = {"domain features": 8 * 16 + 22, "pixels (3 x 16 x 16)": 3 * 16 * 16}


def child(dims: int, queries: int, references: int, k: int) -> None:
    from ganzoo.metrics.nearest import nearest, training_distances

    g = torch.Generator().manual_seed(0)
    generated, training = torch.randn(queries, dims, generator=g), torch.randn(references, dims, generator=g)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    nearest(generated, training, k)
    search = time.perf_counter() - start
    start = time.perf_counter()
    training_distances(training, 1000)
    threshold = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"search_s": search, "threshold_s": threshold, "peak_mb": peak,
                      "inputs_mb": (queries + references) * dims * 4 / 2 ** 20, "before_mb": before}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--references", type=int, default=60_000)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="update docs/performance.md")
    parser.add_argument("--section", default="nearest", help="marked section of docs/performance.md")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.queries, args.references, args.k)
    rows = []
    for name, dims in SPACES.items():
        out = subprocess.run([sys.executable, __file__, "--child", str(dims), "--queries", str(args.queries),
                              "--references", str(args.references), "--k", str(args.k)],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        pairs = args.queries * args.references
        rows.append(f"| {name} | {dims} | {args.queries:,} x {args.references:,} | {r['search_s']:.1f} | "
                    f"{pairs / r['search_s'] / 1e6:.0f} | {r['threshold_s']:.1f} | {r['peak_mb']:.0f} | "
                    f"{r['inputs_mb']:.0f} |")
        print(rows[-1], flush=True)
    caption = (
        f"k = {args.k}; random float32 features; device: CPU ({platform.machine()}, {torch.get_num_threads()} "
        f"threads); torch {torch.__version__}; measured {time.strftime('%Y-%m-%d')}. Threshold: the nearest-"
        f"neighbour distances of 1,000 training images to all the others. Peak memory is the process's "
        f"maximum resident set (interpreter and PyTorch included); the features themselves are the last column."
    )
    header = (
        "| space | dims | generated x training | search (s) | million pairs/s | threshold (s) | peak memory (MiB) "
        "| features (MiB) |"
    )
    report(args.section, caption, header, rows, args.write)


if __name__ == "__main__":
    main()
