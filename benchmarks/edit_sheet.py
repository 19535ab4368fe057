"""The edit sheet of docs/variants.md: one real product, eight variants along two SeFa directions and three
style-mixing rows, all made with the shipped commands.

    python benchmarks/edit_sheet.py RUN_DIR IMAGE OUT_DIR --class NAME [--steps 300] [--strengths 3,6]
        [--directions d0,d1] [--styles 11,12,13,14] [--rows "fine;32px;32px,fine"]

Runs, and prints, `ganzoo project` (IMAGE into W+), `ganzoo directions`, one `ganzoo generate --latents ...
--edit NAME=S` per variant and one `ganzoo generate --latents ... --mix STYLES --layers GROUPS` per mixing row,
then lays the written images out with `ganzoo.export.sheets.write_sheet` (labelled AI-generated like every
generated image) as OUT_DIR/edit-sheet.png, five columns:

    row 1, 2    first direction, second direction: -2s, -s, the reconstruction, +s, +2s (s: each strength)
    row 3       the photo as prepared, then the style sources
    row 4-6     the reconstruction, then its mixes with each style source, one row per --rows entry (the
                layers taken from the sources; by default, for a 64 px run, fine (64 px), 32 px, then both:
                at 64 px the 16 px and coarser layers draw the cut, so each row keeps the product's)
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from ganzoo.export.sheets import write_sheet
from ganzoo.provenance import provenance_record

ROWS = "fine;32px;32px,fine"


def ganzoo(*args) -> None:
    command = ["ganzoo", *map(str, args)]
    print(" ".join(command))
    done = subprocess.run([sys.executable, "-m", "ganzoo", *map(str, args)], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("image", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--class", dest="class_", required=True, help="The product's class (conditional runs).")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--strengths", default="3,6", help="s and 2s: the two strengths either way.")
    parser.add_argument("--directions", default="d0,d1")
    parser.add_argument("--styles", default="11,12,13,14", help="Seeds (or latents) to take styles from.")
    parser.add_argument("--rows", default=ROWS, help="`--layers` of each mixing row, separated by ';'.")
    args = parser.parse_args()
    out, run = args.out, args.run_dir
    projected = out / "projected"
    ganzoo("project", run, args.image, "--out", projected, "--class", args.class_, "--steps", args.steps, "--force")
    latents = projected / "latents.safetensors"
    ganzoo("directions", run, "--out", out / "directions")
    directions = out / "directions" / "directions.safetensors"
    small, large = args.strengths.split(",")
    reconstruction = projected / "reconstructions" / "000000.png"
    cells = []
    for name in args.directions.split(","):
        row = []
        for strength in (f"-{large}", f"-{small}", None, small, large):
            if strength is None:
                row.append(reconstruction)
                continue
            folder = out / f"edit-{name}{strength}"
            ganzoo("generate", run, "--latents", latents, "--edit", f"{name}={strength}", "--directions",
                   directions, "--out", folder)
            row.append(folder / "000000.png")
        cells += row
    styles = args.styles.split(",")
    rows = {groups: out / f"mix-{groups.replace(',', '+')}" for groups in args.rows.split(";")}
    for groups, folder in rows.items():
        ganzoo("generate", run, "--latents", latents, "--mix", args.styles, "--layers", groups, "--out", folder)
    # generate --mix writes the style sources first, then the base image and its mixes (see mixing.png)
    first = next(iter(rows.values()))
    cells += [projected / "targets" / "000000.png"] + [first / f"{i:06d}.png" for i in range(len(styles))]
    for folder in rows.values():
        cells += [folder / f"{i:06d}.png" for i in range(len(styles), 2 * len(styles) + 1)]
    info, recipe = (json.loads((run / name).read_text()) for name in ("run.json", "recipe.resolved.json"))
    meta = {"kind": recipe["architecture"]["kind"], "run_id": info["run_id"], "recipe_digest": info["recipe_digest"]}
    record = provenance_record(meta, variant={"sheet": "edit", "directions": args.directions,
                                              "strengths": args.strengths, "styles": args.styles, "rows": args.rows,
                                              "not_generated": "row 3, column 1: the real photo, as prepared"})
    path = write_sheet(cells, len(styles) + 1, out / "edit-sheet", record)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
