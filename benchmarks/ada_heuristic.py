"""What ADA's overfitting heuristic r_t = E[sign(D(augmented reals))] reads for each architecture.

Trains each architecture with ``train.augment: ada`` on a small catalogue (small on
purpose: the discriminator overfits it, which is when ADA matters) and prints r_t
and p along the run. ``--speed`` scales the paper's 500k images down so p can move
within a short run. For logit discriminators r_t near 1 means "every real is scored
real"; a WGAN critic's outputs have no fixed zero (its loss ignores a constant
shift), so its r_t says where that shift happens to be (docs/recipes.md, adaptive
augmentation, has a measured run).

    python benchmarks/ada_heuristic.py --images 30000
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

CONFIGS = {
    "dcgan": {"kind": "dcgan", "width": 16},
    "sngan": {"kind": "sngan", "g_width": 16, "d_width": 16, "n_dis": 2},
    "wgan-gp": {"kind": "wgan-gp", "width": 16, "n_critic": 2, "lr": 0.0002},
    "wgan-gp drift 0.001": {"kind": "wgan-gp", "width": 16, "n_critic": 2, "lr": 0.0002, "drift": 0.001},
}


def run(name: str, args, out: Path) -> list[dict]:
    from ganzoo.host import default_host
    from ganzoo.recipe import resolve
    from ganzoo.runner import run_recipe
    host = default_host()
    recipe = {
        "run": {"name": name.replace(" ", "-"), "output_dir": str(out), "seed": args.seed, "threads": args.threads},
        "data": {"kind": "catalogue", "resolution": args.resolution, "size": args.size},
        "architecture": CONFIGS[name],
        "train": {"images": args.images, "batch_size": args.batch_size, "log_every": args.log_every,
                  "sample_every": 10**9, "checkpoint_every": 10**9, "grid_size": 4, "augment": "ada",
                  "ada": {"speed_images": args.speed}},
        "export": {"count": 0},
    }
    result = run_recipe(resolve(recipe, host), host)
    return [json.loads(line) for line in result.run_dir.stats_file.read_text().splitlines()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=30_000, help="real images per run")
    parser.add_argument("--speed", type=int, default=20_000, help="train.ada.speed_images (paper: 500000)")
    parser.add_argument("--size", type=int, default=256, help="catalogue images")
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--rows", type=int, default=6, help="records shown per run")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="*", choices=list(CONFIGS), help="architectures (default: all)")
    args = parser.parse_args()
    lines = [f"catalogue {args.size} images at {args.resolution} px, batch {args.batch_size}, {args.images} real "
             f"images per run, ada.speed_images {args.speed}, seed {args.seed}; torch {torch.__version__}; "
             f"measured {time.strftime('%Y-%m-%d')}.", "",
             "| architecture | real images | r_t | p | D/real_score | D/fake_score |",
             "| --- | --- | --- | --- | --- | --- |"]
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only or CONFIGS:
            records = [r for r in run(name, args, Path(tmp)) if "augment_rt" in r]
            picks = records[:: max(1, len(records) // args.rows)][: args.rows - 1] + records[-1:]
            for r in picks:
                lines.append(f"| {name} | {r['images_seen']:,} | {r['augment_rt']:+.2f} | {r['augment_p']:.3f} "
                             f"| {r['D/real_score']:+.2f} | {r['D/fake_score']:+.2f} |")
            print("\n".join(lines[-len(picks):]), flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
