"""``ganzoo metric-check``: does a feature space see what a shopper sees?

The real data is split into two disjoint halves, A and B, at random (seeded). B
is the reference. A, untouched, gives the floor: the score of a perfect
generator at this sample size. Each case of :mod:`ganzoo.metrics.corruptions`
damages A in one known way and is scored against B with FID, KID and
precision/recall. A feature space is fit to rank generators when

- every case scores clearly above the floor: its FID is at least
  ``FLOOR_FACTOR`` times the floor's and exceeds it by at least
  ``SCALE_FRACTION`` of the reference features' total variance (the trace of
  B's covariance), so the test means the same in any feature space, however
  its features are scaled;
- a stronger version of a corruption scores worse than the milder one.

A colour change that leaves the data's colours as they were is no fault: when a
shop sells every product in every hue, rotating the hues gives another set of
equally likely products, and a feature space that saw a difference would be
wrong. So before a colour case is judged, the pixels' colours are compared
directly (4 x 4 x 4 RGB histograms, per class when there are labels): a case
whose histograms move less than ``COLOUR_FACTOR`` times the floor's is marked
"n/a" with the numbers, not passed or failed.

A space that fails cannot rank generators that differ in that way: a
colour-blind space ranks grey samples beside coloured ones.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import numpy as np
import torch

from ganzoo.api import ImageData
from ganzoo.errors import GanzooError
from ganzoo.metrics import corruptions
from ganzoo.metrics.errors import InputError
from ganzoo.metrics.evaluate import LoadedExtractor, MetricSettings, Progress, compare, extract
from ganzoo.metrics.sources import dataset_source
from ganzoo.metrics.stats import FeatureStats

FLOOR_FACTOR = 3.0
SCALE_FRACTION = 0.01
COLOUR_FACTOR = 2.0
COLOUR_BINS = 4
MIN_PER_SIDE = 100
DEFAULT_PER_SIDE = 5000
MARGIN = (f"FID at least {FLOOR_FACTOR:g}x the floor and above it by at least {SCALE_FRACTION:.0%} of the "
          f"reference features' total variance")


@dataclass
class CaseResult:
    name: str
    label: str
    status: str                      # "floor", "pass", "fail", "n/a" (colours unchanged) or "skipped"
    fid: Optional[float] = None
    kid: Optional[float] = None
    precision: Optional[float] = None
    recall: Optional[float] = None
    note: str = ""


@dataclass
class Check:
    what: str
    passed: bool


@dataclass
class SanityReport:
    """Every case's scores, the checks made on them, and what they were measured with."""

    extractor: dict[str, Any]
    data: dict[str, Any]
    images_per_side: int
    seed: int
    cases: list[CaseResult]
    checks: list[Check]
    total_variance: float
    margin: str = MARGIN
    seconds: float = 0.0
    failed: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def case(self, name: str) -> Optional[CaseResult]:
        return next((c for c in self.cases if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def split_halves(count: int, per_side: Optional[int], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two disjoint, seeded random sets of indices of equal size."""
    need = 2 * MIN_PER_SIDE
    if count < need:
        raise InputError(f"metric-check needs at least {need} real images ({MIN_PER_SIDE} per half, so the 5% "
                         f"subset and precision/recall have enough to work on); the data has {count}. Give more "
                         f"images (a larger 'size' for a generated dataset).")
    n = min(count // 2, per_side or DEFAULT_PER_SIDE)
    if n < MIN_PER_SIDE:
        raise InputError(f"--images {per_side} is too few: metric-check needs at least {MIN_PER_SIDE} per half.")
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    return order[:n], order[n:2 * n]


def _probe(loaded: LoadedExtractor, images: torch.Tensor) -> None:
    """Run the extractor on two images first, so data it cannot take fails in a second, not after the floor."""
    try:
        loaded.extractor(images[:2])
    except GanzooError:
        raise
    except Exception as exc:  # a plugin's own failure on this input (shape, channels)
        raise InputError(f"Feature extractor '{loaded.protocol['kind']}' cannot run on this data "
                         f"({images.shape[1]} channel(s), {images.shape[-1]}x{images.shape[-2]} px): "
                         f"{type(exc).__name__}: {exc}. Choose another extractor with -e, or data it "
                         f"accepts.") from None


def check_feature_space(loaded: LoadedExtractor, data: ImageData, data_info: dict[str, Any],
                        per_side: Optional[int] = None, seed: int = 0, batch_size: int = 64,
                        progress: Optional[Progress] = None) -> SanityReport:
    """Score every corruption of half A against half B and check the scores against the floor."""
    start = time.perf_counter()
    first, second = split_halves(len(data), per_side, seed)
    _probe(loaded, data.images[first[:2]])
    settings = MetricSettings(seed=seed)
    labels = data.labels

    def stats(images: torch.Tensor, label: str) -> FeatureStats:
        source = dataset_source(ImageData(images), label, {"type": "metric-check", "case": label})
        return extract(loaded, source, batch_size, settings.pool, seed, progress)

    reference = stats(data.images[second], "half B (reference)")
    half = data.images[first]
    half_labels = labels[first] if labels is not None else None
    results = [_scored("floor", "real vs real: two disjoint halves (the floor)", "floor",
                       stats(half, "half A (floor)"), reference, settings)]
    colour = data.images.shape[1] == 3
    generator = torch.Generator().manual_seed(seed + 1)
    reference_labels = labels[second] if labels is not None else None
    colour_floor = colour_shift(half, half_labels, data.images[second], reference_labels) if colour else 0.0
    for case in corruptions.cases(half_labels, data.class_names):
        if case.needs_colour and not colour:
            results.append(CaseResult(case.name, case.label, "skipped", note="the data has no colour"))
            continue
        damaged = case.apply(half, half_labels, generator)
        result = _scored(case.name, case.label, "pass", stats(damaged, case.label), reference, settings)
        if case.needs_colour:
            moved = colour_shift(damaged, half_labels, data.images[second], reference_labels)
            if moved < COLOUR_FACTOR * colour_floor:
                result.status = "n/a"
                result.note = (f"the data's colours are the same after it: its RGB histograms move by {moved:.3f}, "
                               f"the floor's by {colour_floor:.3f} (hues evenly spread); no space should see it")
        results.append(result)
    total_variance = float(np.trace(reference.sigma))
    checks = _judge(results, total_variance)
    report = SanityReport(loaded.protocol, data_info, len(first), seed, results, checks, total_variance,
                          seconds=time.perf_counter() - start)
    report.failed = [c.what for c in checks if not c.passed]
    return report


def _histograms(images: torch.Tensor) -> torch.Tensor:
    """Each image's joint RGB histogram (COLOUR_BINS^3 bins), as fractions of its pixels."""
    q = images.long() * COLOUR_BINS // 256
    index = ((q[:, 0] * COLOUR_BINS + q[:, 1]) * COLOUR_BINS + q[:, 2]).flatten(1)
    counts = torch.zeros(len(images), COLOUR_BINS ** 3).scatter_add_(1, index, torch.ones(index.shape))
    return counts / index.shape[1]


def colour_shift(a: torch.Tensor, labels_a: Optional[torch.Tensor], b: torch.Tensor,
                 labels_b: Optional[torch.Tensor]) -> float:
    """Total variation between the mean colour histograms of two RGB sets, per class when labelled (weighted)."""
    ha, hb = _histograms(a), _histograms(b)
    if labels_a is None or labels_b is None:
        return 0.5 * (ha.mean(0) - hb.mean(0)).abs().sum().item()
    shift = 0.0
    for c in labels_b.unique():
        in_a, in_b = labels_a == c, labels_b == c
        if in_a.any():
            shift += in_b.float().mean().item() * 0.5 * (ha[in_a].mean(0) - hb[in_b].mean(0)).abs().sum().item()
    return shift


def _scored(name: str, label: str, status: str, fake: FeatureStats, real: FeatureStats,
            settings: MetricSettings) -> CaseResult:
    scores = compare(fake, real, settings)["scores"]
    return CaseResult(name, label, status, scores["fid"], scores["kid"], scores["precision"], scores["recall"])


def _judge(results: list[CaseResult], total_variance: float) -> list[Check]:
    """Mark each case pass or fail against the floor, and check that stronger damage scores worse."""
    floor = results[0].fid
    threshold = max(FLOOR_FACTOR * floor, floor + SCALE_FRACTION * total_variance)
    by_name = {r.name: r for r in results}
    checks = []
    for result in results[1:]:
        if result.status in ("skipped", "n/a"):
            continue
        ok = result.fid >= threshold
        result.status = "pass" if ok else "fail"
        if not ok:
            result.note = f"FID {result.fid:.4g} is within the margin of the floor (needs >= {threshold:.4g})"
        checks.append(Check(f"{result.label}: FID {result.fid:.4g} clearly above the floor {floor:.4g}", ok))
    for case in corruptions.cases():
        result, milder = by_name.get(case.name), by_name.get(case.milder or "")
        if case.milder and result and milder and result.status not in ("skipped", "n/a"):
            ok = result.fid > milder.fid
            checks.append(Check(f"{result.label} (FID {result.fid:.4g}) scores worse than {milder.label} "
                                f"(FID {milder.fid:.4g})", ok))
            if not ok:
                result.status = "fail"
                result.note = (result.note + "; " if result.note else "") + f"not worse than {milder.label}"
    return checks
