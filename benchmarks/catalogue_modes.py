"""How many product categories a catalogue run's sample grids show: a mode-collapse meter.

``count`` trains (once, cached beside this file's output) a small CNN on real
catalogue images drawn on white, mid-grey and random backgrounds, held-out
accuracy printed, then classifies every tile of each ``grids/fakes*.png`` of the
given runs. A category counts when at least 2 of the grid's samples are given
it with probability >= 0.9: blurry blobs, which a classifier calls something at
random, count for nothing. ``render`` writes the catalogue (seed 0) on another
background, or with every product in one palette, into class folders, for a
``kind: folder`` recipe.

    python benchmarks/catalogue_modes.py count --resolution 32 RUN_DIR [RUN_DIR ...]
    python benchmarks/catalogue_modes.py render --resolution 16 --background grey /tmp/grey16
    python benchmarks/catalogue_modes.py render --resolution 16 --background white --same-colours /tmp/mono16
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

import ganzoo_datasets._render as render_module
from ganzoo.api import to_float_images
from ganzoo_datasets._products import PRODUCTS
from ganzoo_datasets.catalogue import CATEGORIES

BACKGROUNDS = ("white", "grey", "black", "random")
CONFIDENT, MIN_SAMPLES = 0.9, 2


def background(name: str, rng: random.Random) -> tuple[int, int, int]:
    fixed = {"white": (255, 255, 255), "grey": (128, 128, 128), "black": (0, 0, 0)}
    return fixed[name] if name in fixed else tuple(rng.randrange(256) for _ in range(3))


def draw(category: str, seed: int, index: int, resolution: int, colour: tuple[int, int, int],
         same_colours: bool = False) -> np.ndarray:
    """One catalogue product on ``colour``: the renderer reads its background and palette from the module."""
    saved = render_module.WHITE, render_module._palette
    render_module.WHITE = colour
    if same_colours:
        def one_palette(rng: random.Random) -> dict:
            saved[1](rng)  # draw (and drop) the product's own colours, so its shape stays the catalogue's
            return saved[1](random.Random("one palette"))
        render_module._palette = one_palette
    try:
        rng = random.Random(f"ganzoo-catalogue/{seed}/{index}")  # the catalogue dataset's own seeding
        return render_module.render(PRODUCTS[category](rng), rng, resolution)
    finally:
        render_module.WHITE, render_module._palette = saved


def labelled_images(resolution: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Balanced categories, a third each on white, grey and a random colour."""
    rng, images = random.Random(f"backgrounds/{seed}"), []
    labels = [(i // 3) % len(CATEGORIES) for i in range(size)]
    for i, label in enumerate(labels):
        colour = background(("white", "grey", "random")[i % 3], rng)
        images.append(draw(CATEGORIES[label], seed, i, resolution, colour))
    return to_float_images(torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2)), torch.tensor(labels)


def network() -> nn.Module:
    def block(a: int, b: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b), nn.ReLU(), nn.MaxPool2d(2))
    return nn.Sequential(block(3, 32), block(32, 64), block(64, 128), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(128, len(CATEGORIES)))


def jitter(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Shifts, blur and colour shifts, so a blurry generated product of the right shape still classifies."""
    dy, dx = (int(v) for v in rng.integers(-3, 4, 2))
    x = torch.roll(x, (dy, dx), (2, 3))
    if rng.random() < 0.5:
        x = F.avg_pool2d(F.pad(x, [1, 1, 1, 1], mode="replicate"), 3, 1)
    return x + (torch.rand(x.shape[0], 3, 1, 1) - 0.5) * 0.4


def classifier(resolution: int, cache: Path) -> nn.Module:
    model, path = network(), cache / f"catalogue-classifier-{resolution}.pt"
    if path.exists():
        model.load_state_dict(torch.load(path, weights_only=True))
        return model.eval()
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x, y = labelled_images(resolution, 9000, seed=7)  # not the training catalogue's seed 0
    optimizer = torch.optim.Adam(model.parameters(), 2e-3)
    for _ in range(4):
        order = torch.randperm(len(x))
        for i in range(0, len(x), 64):
            batch = order[i:i + 64]
            loss = F.cross_entropy(model(jitter(x[batch], rng)), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    held_x, held_y = labelled_images(resolution, 1200, seed=8)
    with torch.no_grad():
        accuracy = (model(held_x).argmax(1) == held_y).float().mean().item()
    print(f"classifier {resolution}px: held-out accuracy {accuracy:.3f} (white, grey and random backgrounds)")
    cache.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return model


def tiles(png: Path, resolution: int) -> torch.Tensor:
    """The images of a grid written by the engine (torchvision's make_grid, padding 1)."""
    a = np.asarray(Image.open(png).convert("RGB"))
    rows, cols = (a.shape[0] - 1) // (resolution + 1), (a.shape[1] - 1) // (resolution + 1)
    cut = [a[1 + r * (resolution + 1):][:resolution, 1 + c * (resolution + 1):][:, :resolution]
           for r in range(rows) for c in range(cols)]
    return to_float_images(torch.from_numpy(np.stack(cut)).permute(0, 3, 1, 2))


def categories(model: nn.Module, images: torch.Tensor) -> tuple[int, list[int]]:
    """(categories with >= MIN_SAMPLES confident samples, confident samples per category)."""
    with torch.no_grad():
        p = model(images).softmax(1)
    confidence, predicted = p.max(1)
    per_category = torch.bincount(predicted[confidence >= CONFIDENT], minlength=len(CATEGORIES)).tolist()
    return sum(n >= MIN_SAMPLES for n in per_category), per_category


def count(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    model = classifier(args.resolution, args.cache)
    print(f"categories: {', '.join(CATEGORIES)}")
    for run in map(Path, args.runs):
        stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines() if line.strip()]
        images_at = {r["step"]: r["images_seen"] for r in stats if "images_seen" in r}
        for png in sorted((run / "grids").glob("fakes*.png"))[-args.last:]:
            step = int(png.stem[len("fakes"):])
            distinct, per_category = categories(model, tiles(png, args.resolution))
            seen = images_at.get(step, "?")
            print(f"{run.name:24s} step {step:7d} images {seen!s:>7} categories {distinct} {per_category}")


def render(args: argparse.Namespace) -> None:
    rng = random.Random(f"backgrounds/{args.background}")
    for i in range(args.size):
        category = CATEGORIES[i % len(CATEGORIES)]
        folder = args.out / category
        folder.mkdir(parents=True, exist_ok=True)
        image = draw(category, 0, i, args.resolution, background(args.background, rng), args.same_colours)
        Image.fromarray(image).save(folder / f"{i:06d}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    c = commands.add_parser("count", help="categories in each run's sample grids")
    c.add_argument("runs", nargs="+")
    c.add_argument("--resolution", type=int, required=True)
    c.add_argument("--last", type=int, default=1000, help="only the last N grids of each run")
    c.add_argument("--cache", type=Path, default=Path("/tmp/ganzoo-catalogue-modes"))
    r = commands.add_parser("render", help="the catalogue on another background, in class folders")
    r.add_argument("out", type=Path)
    r.add_argument("--resolution", type=int, required=True)
    r.add_argument("--background", choices=BACKGROUNDS, required=True)
    r.add_argument("--size", type=int, default=6000)
    r.add_argument("--same-colours", action="store_true", help="every product in the same palette")
    args = parser.parse_args()
    count(args) if args.command == "count" else render(args)


if __name__ == "__main__":
    main()
