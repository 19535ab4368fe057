"""The perceptual space of projection and encoder training: the run's own discriminator blocks (the default), or
the feature maps of a trained feature extractor (``--features domain``) that knows the run's data.

Either way nothing is downloaded. An extractor is looked up by the run's training data, as ``ganzoo fid`` finds
it; when none is trained yet the message gives the command that trains it, rather than training one unasked
(minutes, and a cache entry the user did not ask for).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch

from ganzoo.api import ImageData, InversionRun
from ganzoo.errors import GanzooError, UsageError
from ganzoo.host import Host

DISCRIMINATOR = "discriminator"
Features = Callable[[torch.Tensor, Optional[torch.Tensor]], list[torch.Tensor]]


@dataclass
class FeatureSpace:
    features: Optional[Features]
    name: Optional[str]                       # what the manifest says: "discriminator blocks", "domain CNN", None
    protocol: dict[str, Any] = field(default_factory=dict)  # the extractor's protocol (weights hash, ...)


def extractor_space(host: Host, kind: str, data: ImageData, device: torch.device, run_path: str) -> FeatureSpace:
    """The feature maps of extractor ``kind`` trained on ``data``; UsageError (exit 2) naming what to do."""
    from ganzoo.metrics.evaluate import build_extractor
    if kind not in host.feature_extractors:
        offered = ", ".join(_perceptual(host)) or "none installed"
        raise UsageError(f"--features {kind}: no such feature extractor; use '{DISCRIMINATOR}' (the run's own "
                         f"discriminator) or a perceptual extractor ({offered}).")
    cls = host.feature_extractors.get(kind).obj
    if not cls.perceptual:
        raise UsageError(f"--features {kind}: the '{kind}' extractor gives no feature maps for a perceptual loss; "
                         f"use '{DISCRIMINATOR}' or one of: {', '.join(_perceptual(host)) or 'none installed'}.")
    try:
        loaded = build_extractor(host, kind, {}, device, data, where="--features extractor")
    except GanzooError as exc:
        if not cls.trainable:
            raise UsageError(f"--features {kind}: {exc}") from None
        raise UsageError(f"--features {kind}: no trained '{kind}' extractor for this run's training data "
                         f"({len(data):,} images, content SHA-256 {data.content_hash()[:12]}...) can be loaded. Train "
                         f"one on it with `ganzoo features train {kind} {run_path}` (cached, then found by the data's "
                         f"hash) and run this command again, or leave out --features to measure in the run's own "
                         f"discriminator. (The extractor said: {exc})") from None
    extractor = loaded.extractor

    def features(images: torch.Tensor, labels: Optional[torch.Tensor] = None) -> list[torch.Tensor]:
        return extractor.feature_maps(images)

    protocol = {k: v for k, v in loaded.protocol.items() if k != "options"}
    return FeatureSpace(features, loaded.protocol.get("space", kind), protocol)


def _perceptual(host: Host) -> list[str]:
    return [p.kind for p in host.feature_extractors if p.obj.perceptual]


def use_space(run: InversionRun, space: FeatureSpace) -> InversionRun:
    """``run`` measuring ``feature_distance`` in ``space``."""
    run.features, run.feature_space = space.features, space.name
    return run
