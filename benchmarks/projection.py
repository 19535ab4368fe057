"""Projection evidence for docs/variants.md: held-out catalogue images into a trained run, against the nearest
training image, and the encoder against optimisation.

    python benchmarks/projection.py RUN_DIR OUT_DIR [--per-class 2] [--steps 300] [--encoder-steps 2000] [--real]
        [--encoder-option name=value ...] [--features discriminator|domain]

Draws held-out products (the catalogue with another seed, so none is a training image), writes them as PNGs per
category, runs `ganzoo project` (optimize, then the encoder after `ganzoo encoder train`; `--encoder-steps 0`
reuses RUN_DIR's trained encoder, to take timings again) class by class, finds each image's nearest training
image in pixels and scores it the same way (PSNR, feature distance), and prints a Markdown table with each
method's PSNR gap to optimize and its speed-up, against the target (within 2 dB at under 1/50 of the time);
everything lands in OUT_DIR/summary.json, and OUT_DIR/sheet.png shows targets, nearest training images and each
method's reconstructions, one row each. Timings need a quiet machine.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ganzoo.api import ImageData, to_float_images
from ganzoo.engine.images import to_pil
from ganzoo.host import default_host
from ganzoo.inversion.project import psnr
from ganzoo.inversion.runview import open_run


def ganzoo(*args) -> dict:
    done = subprocess.run([sys.executable, "-m", "ganzoo", *map(str, args), "--json"], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"ganzoo {' '.join(map(str, args))} failed:\n{done.stderr}")
    return json.loads(done.stdout)


def held_out(run, per_class: int, seed: int) -> ImageData:
    dataset = default_host().datasets.get("catalogue").obj
    classes = run.architecture.image.class_names
    config = dataset.Config(size=per_class * len(classes), seed=seed, categories=list(classes))
    return dataset(config, run.architecture.image.resolution).load()


def with_features(run, kind: str, run_dir: Path):
    """``run`` scoring in the ``--features`` space, as `ganzoo project --features` does."""
    if kind == "discriminator":
        return run
    from ganzoo.inversion.feature_space import extractor_space, use_space
    return use_space(run, extractor_space(default_host(), kind, run.load_data(), run.device, str(run_dir)))


def nearest(run, data: ImageData, train: ImageData) -> list[dict]:
    """Each held-out image's nearest training image by pixel MSE (batched: one matrix product)."""
    a, b = data.images.flatten(1).float(), train.images.flatten(1).float()
    distances = (a.square().sum(1, keepdim=True) - 2 * a @ b.T + b.square().sum(1)[None])
    index = distances.argmin(1)
    found = train.images[index]
    labels = data.labels if run.architecture.conditional else None
    with torch.no_grad():
        features = run.feature_distance(to_float_images(found), to_float_images(data.images), labels)
    return [{"train_index": int(i), "psnr": float(p), "feature_distance": float(f)}
            for i, p, f in zip(index, psnr(found, data.images), features)]


def project_all(run_dir: Path, folders: dict[str, Path], out: Path, *extra) -> list[dict]:
    rows = []
    for name, folder in folders.items():
        manifest = ganzoo("project", run_dir, folder, "--out", out / name, "--class", name, "--force", *extra)
        forward = sum(info.get("encode_seconds", 0.0) for info in manifest["inverter_info"]) / manifest["count"]
        for row in manifest["images"]:
            rows.append({**row, "seconds_per_image": manifest["seconds_per_image"], "forward_s_per_image": forward})
    return rows


def sheet(out: Path, targets: torch.Tensor, nearest_images: torch.Tensor, folders: dict[str, Path],
          methods: tuple[str, ...]) -> Path:
    """OUT/sheet.png: rows of held-out targets, their nearest training images, then each method's reconstructions."""
    from PIL import Image

    from ganzoo.engine.images import save_grid
    rows = [targets, nearest_images]
    for method in methods:
        files = [out / method / name / "reconstructions" / f"{i:06d}.png" for name in folders
                 for i in range(len(list((folders[name]).glob("*.png"))))]
        rows.append(torch.stack([torch.from_numpy(np.asarray(Image.open(f).convert("RGB")).copy())
                                 .permute(2, 0, 1) for f in files]))
    return save_grid(torch.cat(rows), out / "sheet.png", columns=len(targets))


def mean(rows: list[dict], key: str) -> float:
    return sum(r[key] for r in rows) / len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--per-class", type=int, default=2)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--encoder-steps", type=int, default=2000, help="0: reuse the run's trained encoder.")
    parser.add_argument("--encoder-option", action="append", default=[], help="name=value for `encoder train -o`.")
    parser.add_argument("--refine", type=int, default=20)
    parser.add_argument("--real", action="store_true", help="Train the encoder on the run's real images too.")
    parser.add_argument("--features", default="discriminator", help="The perceptual space (`project --features`).")
    parser.add_argument("--optimize-only", action="store_true", help="Leave out the encoder rows.")
    parser.add_argument("--seed", type=int, default=1, help="Catalogue seed of the held-out images (training: 0).")
    args = parser.parse_args()
    run, _ = open_run(args.run_dir, default_host(), torch.device("cpu"))
    run = with_features(run, args.features, args.run_dir)
    space = ["--features", args.features]
    data = held_out(run, args.per_class, args.seed)
    folders = {}
    for i, (image, label) in enumerate(zip(data.images, data.labels)):
        name = data.class_names[int(label)]
        folders[name] = args.out / "heldout" / name
        folders[name].mkdir(parents=True, exist_ok=True)
        to_pil(image).save(folders[name] / f"{i:03d}.png")
    order = sorted(range(len(data)), key=lambda i: (int(data.labels[i]), i))  # the order project sees them in
    data = ImageData(data.images[order], data.labels[order], data.class_names)
    train = run.load_data()
    near = nearest(run, data, train)
    optimised = project_all(args.run_dir, folders, args.out / "optimize", "--steps", args.steps, *space)
    trained, encoder_training_s, encoded, refined = None, None, [], []
    if args.encoder_steps and not args.optimize_only:
        started = time.perf_counter()
        real = ["--real"] if args.real else []
        options = [part for option in args.encoder_option for part in ("-o", option)]
        trained = ganzoo("encoder", "train", args.run_dir, "--steps", args.encoder_steps, *real, *options, *space)
        encoder_training_s = round(time.perf_counter() - started, 1)
    if not args.optimize_only:
        encoded = project_all(args.run_dir, folders, args.out / "encoder", "--inverter", "encoder", *space)
        refined = project_all(args.run_dir, folders, args.out / "encoder-refined", "--inverter", "encoder",
                              "--refine", args.refine, *space)
    summary = {"run": str(args.run_dir), "images": len(data), "steps": args.steps, "refine": args.refine,
               "features": args.features, "encoder": trained, "encoder_training_s": encoder_training_s}
    table = ["| method | mean PSNR (dB) | mean feature distance | s per image | of which the forward pass | "
             "dB below optimize | times faster than optimize |", "| --- | --- | --- | --- | --- | --- | --- |"]
    reference = mean(optimised, "seconds_per_image"), mean(optimised, "psnr")
    for name, rows in (("nearest training image (pixels)", near), (f"optimize, {args.steps} steps, W+", optimised),
                       ("encoder, one pass", encoded), (f"encoder + {args.refine} steps", refined)):
        if not rows:
            continue
        timed = "seconds_per_image" in rows[0]
        seconds = f"{mean(rows, 'seconds_per_image'):.3f}" if timed else "-"
        forward = f"{mean(rows, 'forward_s_per_image'):.4f}" if rows[0].get("forward_s_per_image") else "-"
        faster = f"{reference[0] / mean(rows, 'seconds_per_image'):.0f}" if timed else "-"
        table.append(f"| {name} | {mean(rows, 'psnr'):.2f} | {mean(rows, 'feature_distance'):.4f} | {seconds} | "
                     f"{forward} | {reference[1] - mean(rows, 'psnr'):.2f} | {faster} |")
        summary[name] = {"psnr": mean(rows, "psnr"), "feature_distance": mean(rows, "feature_distance"),
                         "rows": rows}
    if encoded:
        gap, speed = reference[1] - mean(encoded, "psnr"), reference[0] / mean(encoded, "seconds_per_image")
        summary["encoder_target_met"] = gap <= 2 and speed >= 50
    closer = sum(o["psnr"] > n["psnr"] for o, n in zip(optimised, near))
    summary["optimize_closer_than_nearest"] = closer
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    sheet(args.out, data.images, train.images[[row["train_index"] for row in near]], folders,
          ("optimize",) if args.optimize_only else ("optimize", "encoder", "encoder-refined"))
    print("\n".join(table))
    print(f"optimize beats the nearest training image in PSNR on {closer} of {len(near)} images")
    if encoded:
        print(f"encoder, one pass: {gap:.2f} dB below optimize at 1/{speed:.0f} of its time per image; target "
              f"(within 2 dB at under 1/50): {'met' if summary['encoder_target_met'] else 'missed'}")


if __name__ == "__main__":
    main()
