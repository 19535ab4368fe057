"""What `ganzoo generate --latents/--interpolate/--mix/--edit` renders, decided before anything is written.

A :class:`VariantRequest` (the options) becomes a :class:`VariantPlan`: the latents to render in order, the
sheet to lay the written images out in (an interpolation strip, a mixing grid) and what each image's
provenance record adds. Every refusal (a missing file, another run's latents, an unknown edit) happens here,
so a bad request writes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from ganzoo.api import Architecture
from ganzoo.errors import UsageError
from ganzoo.export.latents import Latents
from ganzoo.export.sefa import FILE_NAME, check_directions_for, parse_edits, read_directions
from ganzoo.export.variants import (
    checked_latents,
    edit,
    in_space,
    interpolate,
    latent_source,
    mix,
    seed_latents,
)


@dataclass
class VariantRequest:
    latents: Optional[Path] = None
    interpolate: Optional[tuple[str, str]] = None
    frames: int = 8
    mix: Optional[str] = None
    layers: str = "fine"
    edits: list[str] = field(default_factory=list)
    directions: Optional[Path] = None
    any_run: bool = False            # z latents of another run of the same kind, as plain random numbers

    @property
    def active(self) -> bool:
        return bool(self.latents or self.interpolate or self.mix or self.edits)


@dataclass
class VariantPlan:
    latents: Latents                 # rendered in this order, image i from latents[i]
    details: dict[str, Any]          # what every image's provenance record says it was made by (``variant``)
    sheet: Optional[str] = None      # "strip" or "mixing": a sheet of the written images, laid out as
    columns: int = 0                 # ... this many columns,
    blanks: tuple[int, ...] = ()     # ... with empty cells at these positions
    animate: bool = False            # an animated WebP of the images too (interpolation)

    def record_fields(self, index: int) -> dict[str, Any]:
        return {"variant": {**self.details, "latent": self.latents.names[index], "space": self.latents.space}}


def plan_variants(request: VariantRequest, architecture: Architecture, generator: nn.Module, run_dir: Path,
                  run_id: Optional[str], count: int, seed: int, labels: Optional[torch.Tensor]) -> VariantPlan:
    """The latents, sheet and record for ``request`` (see the module docstring); UsageError (exit 2) when refused."""
    if request.interpolate and (request.latents or request.mix):
        raise UsageError("--interpolate A B makes its own latents: give its ends as seeds or latents files "
                         "(FILE or FILE:INDEX), without --latents or --mix.")
    details: dict[str, Any] = {}
    plan = None
    if request.interpolate:
        a, b = (latent_source(text, architecture, generator, run_id, "--interpolate", labels, request.any_run)
                for text in request.interpolate)
        base = interpolate(a, b, request.frames, architecture, generator)
        details["interpolation"] = {"from": request.interpolate[0], "to": request.interpolate[1],
                                    "frames": request.frames, "path": "slerp" if base.space == "z" else "lerp"}
        plan = VariantPlan(base, details, "strip", request.frames, animate=True)
    elif request.latents:
        base = checked_latents(request.latents, architecture, generator, run_id, "--latents", request.any_run)
        details["latents_file"] = request.latents.name
    else:
        base = seed_latents(architecture, seed, count, run_id, labels)
    if request.any_run:
        details["any_run"] = True  # the record says z codes may have come from another run
    if request.mix:
        plan = _mixing(request, base, architecture, generator, run_id, details)
    plan = plan or VariantPlan(base, details)
    if request.edits:
        plan.latents = _edited(request, plan.latents, architecture, generator, run_dir, run_id, details)
    return plan


def _mixing(request: VariantRequest, base: Latents, architecture: Architecture, generator: nn.Module,
            run_id: Optional[str], details: dict[str, Any]) -> VariantPlan:
    """Row 0: the style sources; then per base latent: itself, then mixed with each source (a grid)."""
    groups = [g.strip() for g in request.layers.split(",") if g.strip()]
    parts = [latent_source(text.strip(), architecture, generator, run_id, "--mix", any_run=request.any_run)
             for text in request.mix.split(",") if text.strip()]
    if not parts:
        raise UsageError("--mix: give latents files (FILE or FILE:INDEX) or seeds, comma-separated.")
    parts = [in_space(p, "w+", architecture, generator) if "w+" in architecture.latent_spaces() else p for p in parts]
    styles = Latents(torch.cat([p.latents for p in parts]), parts[0].space, run_id, architecture.kind,
                     _joined_labels(parts), [n for p in parts for n in p.names])
    mixed = mix(base, styles, groups, architecture, generator)  # refuses architectures without w+
    base_plus = in_space(base, "w+", architecture, generator)
    columns = len(styles) + 1
    rows = [styles.latents] + [torch.cat([base_plus.latents[i:i + 1], mixed.latents[i * len(styles):
                                                                                   (i + 1) * len(styles)]])
                               for i in range(len(base))]
    names = list(styles.names)
    labels: Optional[list[int]] = None if base.labels is None else list(styles.labels or base.labels[:1] * len(styles))
    for i in range(len(base)):
        names += [base.names[i], *mixed.names[i * len(styles):(i + 1) * len(styles)]]
        if labels is not None:
            labels += [base.labels[i]] * columns
    details["mix"] = {"styles_from": request.mix, "layers": groups}
    latents = Latents(torch.cat(rows), "w+", run_id, architecture.kind, labels, names)
    # the grid's top-left cell stays empty: row 0 holds the style sources, column 0 the base images
    return VariantPlan(latents, details, "mixing", columns, blanks=(0,))


def _joined_labels(parts: list[Latents]) -> Optional[list[int]]:
    if any(p.labels is None for p in parts):
        return None
    return [label for p in parts for label in p.labels]


def _edited(request: VariantRequest, latents: Latents, architecture: Architecture, generator: nn.Module,
            run_dir: Path, run_id: Optional[str], details: dict[str, Any]) -> Latents:
    path = request.directions or Path(run_dir) / FILE_NAME
    found = read_directions(path)
    check_directions_for(found, architecture, run_id, f"--directions {path}")
    strengths = parse_edits(request.edits, found)
    details["edits"] = {found.names[i]: s for i, s in strengths.items()}
    details["directions_space"] = found.space
    if found.space == "z" and latents.space != "z":
        raise UsageError(f"--edit: the directions in {path} act on z, but these latents are {latents.space} codes.")
    return edit(latents, found.directions, found.space, strengths, architecture, generator)
