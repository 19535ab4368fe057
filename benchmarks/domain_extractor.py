"""How long the ``domain`` feature space takes to learn, and ``ganzoo metric-check`` to judge it.

For each dataset, in its own process with an empty feature cache: train the
domain model with its default options, then run the whole check (every
corruption, FID/KID/precision/recall per case). Prints a table and, with
--write, replaces the matching section of docs/performance.md. Datasets: the
built-in catalogue, 6,000 shop-like photos written by ``tests/photos.py``
(unlabelled, mixed formats), and Fashion-MNIST when a local copy is found.

    python benchmarks/domain_extractor.py --write
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from perfdoc import report

REPO = Path(__file__).resolve().parents[1]
FASHION_MNIST = [Path(p).expanduser() for p in (os.environ.get("GANZOO_FASHION_MNIST", ""),
                                                REPO.parent / "shared" / "data" / "fashion-mnist",
                                                "/usr/share/datasets/fashion-mnist") if p]


def child(spec: str) -> None:
    from ganzoo.host import default_host
    from ganzoo.metrics.check import check_feature_space
    from ganzoo.metrics.evaluate import build_extractor
    from ganzoo.metrics.inputs import load_real_source
    from ganzoo_features.domain import DomainConfig, DomainExtractor

    host = default_host()
    data, info = load_real_source(spec, host)
    start = time.perf_counter()
    summary = DomainExtractor(DomainConfig()).train(data, log=lambda line: None)
    trained = time.perf_counter() - start
    loaded = build_extractor(host, "domain", {}, "cpu", data)
    report = check_feature_space(loaded, data, info)
    print(json.dumps({"images": len(data), "resolution": data.images.shape[-1], "labelled": data.labels is not None,
                      "train_s": trained, "check_s": report.seconds, "per_side": report.images_per_side,
                      "passed": report.passed, "view_match": summary["held_out_view_match"],
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def datasets(scratch: Path) -> list[tuple[str, str]]:
    photos = scratch / "photos"
    subprocess.run([sys.executable, "-m", "tests.photos", str(photos), "6000"], check=True, cwd=REPO,
                   capture_output=True)
    found = [("catalogue, 6 classes", "catalogue:size=6000,resolution=32"),
             ("shop-like photos, unlabelled", f"folder:path={photos},resolution=32")]
    root = next((p for p in FASHION_MNIST if any(p.glob("train-images-idx3-ubyte*"))), None)
    if root:
        found.append(("Fashion-MNIST, 10 classes", f"fashion-mnist:root={root},resolution=28"))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update docs/performance.md")
    parser.add_argument("--section", default="domain_extractor", help="marked section of docs/performance.md")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "GANZOO_CACHE": str(Path(scratch) / "cache"), "PYTHONPATH": str(REPO)}
        for name, spec in datasets(Path(scratch)):
            out = subprocess.run([sys.executable, __file__, "--child", spec], capture_output=True, text=True,
                                 check=True, env=env)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(f"| {name} | {r['images']:,} | {r['resolution']} | {r['train_s']:.0f} | "
                        f"{r['view_match']:.3f} | {r['per_side']:,} | {r['check_s']:.0f} | "
                        f"{'yes' if r['passed'] else 'no'} | {r['peak_mb']:.0f} |")
            print(rows[-1], flush=True)
    caption = (
        f"Default options (10 epochs over at most 20,000 images, batch 256, width 16); device: CPU "
        f"({platform.machine()}, {torch.get_num_threads()} threads); torch {torch.__version__}; measured "
        f"{time.strftime('%Y-%m-%d')}. Check: every `metric-check` case, FID/KID/precision/recall each."
    )
    header = (
        "| data | images | resolution | train (s) | held-out view match | check: images per side | check (s) "
        "| every check passed | peak memory (MiB) |"
    )
    report(args.section, caption, header, rows, args.write)


if __name__ == "__main__":
    main()
