"""What a reader should doubt before trusting the leaderboard: leaders within the seed spread, samples further
from the data than mildly corrupted real images, and the feature-space check (OUTPUT/sanity.json) behind both.

The texts are plain sentences (no markup), so leaderboard.json can carry them as they are.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ganzoo.compare.results import LABELS, METRICS, EntryResult, ranked
from ganzoo.compare.tables import DIGITS, Table, fmt_stat

SANITY_FILE = "sanity.json"


@dataclass
class Caveat:
    kind: str    # seed_spread, far_from_floor, other_feature_space, sanity_failed
    title: str   # a few words, shown in bold before the text
    text: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "title": self.title, "text": self.text}


@dataclass
class Sanity:
    """OUTPUT/sanity.json: real vs real (the floor) and real vs corrupted real images in the runs' feature space."""
    cases: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    margin: str = ""
    passed: bool = False
    images_per_side: Optional[int] = None
    extractor: dict[str, Any] = field(default_factory=dict)
    unreadable: str = ""  # why the file could not be used; the report says so instead of hiding the file

    @property
    def failed_checks(self) -> list[str]:
        return [str(c.get("what", "?")) for c in self.checks if not c.get("passed")]

    @property
    def all_passed(self) -> bool:
        return self.passed and not self.failed_checks

    def fid_of(self, name: str) -> Optional[float]:
        case = next((c for c in self.cases if c.get("name") == name), None)
        return _finite(case.get("fid")) if case else None

    def mildest(self) -> Optional[dict[str, Any]]:
        """The judged corruption closest to the data (smallest FID). Not the floor (no corruption), nor a case
        marked n/a: a change that leaves the data's colours as they were is no fault to measure against."""
        measured = [c for c in self.cases if c.get("status") in ("pass", "fail") and _finite(c.get("fid")) is not None]
        return min(measured, key=lambda c: c["fid"], default=None)


def _finite(value: Any) -> Optional[float]:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def load_sanity(output: Path) -> Optional[Sanity]:
    """The compare's sanity.json, or None when there is none (the check was not run)."""
    path = output / SANITY_FILE
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text())
        return Sanity(list(raw["cases"]), list(raw.get("checks", [])), str(raw.get("margin", "")),
                      bool(raw.get("passed")), raw.get("images_per_side"), dict(raw.get("extractor") or {}))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Sanity(unreadable=f"{path} could not be read ({type(exc).__name__}: {exc})")


# ------------------------------------------------------------------ leaderboard warnings

def seed_spread(results: list[EntryResult], metrics: list[str]) -> Optional[Caveat]:
    """The leader and the runner-up on the ranking metric, when seed noise alone could swap them."""
    metric = next((m for m in METRICS if m in metrics), None)
    if metric is None:
        return None
    scored = [e for e in ranked(results, metrics) if e.metric(metric) is not None]
    if len(scored) < 2:
        return None
    (best, a), (second, b) = [(e.entry.name, e.metric(metric)) for e in scored[:2]]
    label, digits = LABELS[metric], DIGITS[metric]
    both = f"{best} ({label} {fmt_stat(a, digits)}) and {second} ({label} {fmt_stat(b, digits)})"
    if a.std is None or b.std is None:
        single = " and ".join(name for name, s in ((best, a), (second, b)) if s.std is None)
        return Caveat("seed_spread", "Spread over seeds unknown",
                      f"only one seed finished for {single}, so how much {label} varies between seeds is unknown "
                      f"and the order of {both} cannot be told from seed noise. Train more seeds before choosing.")
    gap, spread = abs(a.mean - b.mean), max(a.std, b.std)
    if gap >= spread:
        return None
    return Caveat("seed_spread", "Within the seed spread",
                  f"{both} differ by {gap:.{digits}f}, less than the larger of their standard deviations over seeds "
                  f"({spread:.{digits}f}): with {min(a.n, b.n)} seeds they cannot be told apart. Train more seeds "
                  f"or a larger budget before choosing between them.")


def far_from_floor(results: list[EntryResult], metrics: list[str], sanity: Sanity) -> Optional[Caveat]:
    """The best entry's FID against real images with the mildest corruption of the sanity check."""
    mildest = sanity.mildest()
    if "fid" not in metrics or mildest is None:
        return None
    best = next((e for e in ranked(results, ["fid"]) if e.metric("fid") is not None), None)
    if best is None or best.metric("fid").mean <= mildest["fid"]:
        return None
    floor = sanity.fid_of("floor")
    return Caveat("far_from_floor", "Far from the floor",
                  f"the best entry ({best.entry.name}, FID {best.metric('fid').mean:.2f}) is further from the real "
                  f"data than real images with {mildest.get('label') or mildest.get('name')} "
                  f"(FID {mildest['fid']:.2f}); the floor (real vs real) is "
                  f"{'not measured' if floor is None else f'{floor:.2f}'}: the samples are not yet like the data.")


def other_feature_space(sanity: Sanity, protocol: Optional[dict[str, Any]]) -> Optional[str]:
    """Why sanity.json's numbers cannot be set beside the runs' (another extractor or weights), or None."""
    ours = (protocol or {}).get("extractor", {})
    theirs = sanity.extractor
    for key in ("kind", "weights_sha256"):
        if ours.get(key) and theirs.get(key) and ours[key] != theirs[key]:
            return (f"{SANITY_FILE} was measured with extractor {key} {str(theirs[key])[:16]}, the runs with "
                    f"{str(ours[key])[:16]}")
    return None


def leaderboard_caveats(results: list[EntryResult], metrics: list[str], sanity: Optional[Sanity],
                        protocol: Optional[dict[str, Any]]) -> list[Caveat]:
    caveats = [c for c in [seed_spread(results, metrics)] if c]
    if sanity is None or sanity.unreadable:
        return caveats
    mismatch = other_feature_space(sanity, protocol)
    if mismatch:  # FIDs in two feature spaces say nothing about each other
        return caveats + [Caveat("other_feature_space", "Sanity check not comparable",
                                 f"{mismatch}, so its FIDs cannot be set beside the leaderboard's. Run the check "
                                 f"again on this compare.")]
    floor = far_from_floor(results, metrics, sanity)
    caveats += [floor] if floor else []
    if not sanity.all_passed:
        caveats.append(Caveat("sanity_failed", "Feature space check failed",
                              "the feature space did not pass its sanity check (see Sanity of the feature space): "
                              "the ranking may not reflect what a person sees."))
    return caveats


# ------------------------------------------------------------------ the report's section

def sanity_lines(sanity: Sanity) -> list[str]:
    """The section's sentences (markdown: **bold** and `code` only)."""
    if sanity.unreadable:
        return [f"**{sanity.unreadable}**: run the check again to see it here."]
    kind = sanity.extractor.get("kind", "?")
    per_side = f"{sanity.images_per_side:,}" if isinstance(sanity.images_per_side, int) else "?"
    lines = [f"Real images against real images (the floor) and against real images with one known fault each, "
             f"{per_side} images per side, in the **{kind}** feature space (from `{SANITY_FILE}`): the distances "
             f"between real images that a ranking by these metrics should be read against."]
    if sanity.margin:
        lines.append(f"Margin: {sanity.margin}.")
    if sanity.all_passed:
        lines.append(f"Every check passed ({len(sanity.checks)}).")
    else:
        failed = "; ".join(sanity.failed_checks) or "the check as a whole did not pass"
        lines.append(f"**Failed**: {failed}. The ranking may not reflect what a person sees.")
    return lines


def sanity_table(sanity: Sanity) -> Table:
    table = Table(["case", "FID", "KID", "precision", "recall", "status", "note"], align="lrrrrll")
    for case in sanity.cases:
        numbers = [_number(case.get(m), DIGITS[m]) for m in ("fid", "kid", "precision", "recall")]
        table.rows.append([str(case.get("label") or case.get("name", "?")), *numbers, str(case.get("status", "")),
                           str(case.get("note", ""))])
    return table


def _number(value: Any, digits: int) -> str:
    value = _finite(value)
    return "—" if value is None else f"{value:.{digits}f}"
