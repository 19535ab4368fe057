"""Where ganzoo caches things it can recompute: reference statistics, trained feature extractors.

The root is ``$GANZOO_CACHE`` or ``~/.cache/ganzoo``. Reference statistics live
in ``stats/`` under a key made of the whole protocol (extractor and its weights'
hash, input resize, image count, subset seed, split) and the SHA-256 of the
dataset's pixels and labels, so changed data can never reuse stale numbers
(stylegan2-ada keyed its cache by path, and went stale).
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any, Optional

from ganzoo.errors import GanzooWarning
from ganzoo.metrics.errors import InputError
from ganzoo.metrics.stats import FeatureStats

CACHE_ENV = "GANZOO_CACHE"


def cache_root() -> Path:
    """``$GANZOO_CACHE`` when set, else ``~/.cache/ganzoo``; extractor plugins keep their files under it too."""
    env = os.environ.get(CACHE_ENV, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ganzoo"


def stats_key(protocol: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of everything that determines the statistics."""
    return hashlib.sha256(json.dumps(protocol, sort_keys=True, default=str).encode()).hexdigest()


def stats_path(key: str, kind: str) -> Path:
    return cache_root() / "stats" / f"{kind}-{key[:32]}.npz"


def load_cached(key: str, kind: str) -> Optional[FeatureStats]:
    path = stats_path(key, kind)
    if not path.exists():
        return None
    try:
        stats = FeatureStats.load(path)
    except InputError as exc:
        warnings.warn(f"Ignoring a damaged cache file ({exc}); recomputing it.", GanzooWarning, stacklevel=2)
        return None
    if stats.meta.get("cache_key") != key:  # a truncated key collided, or the file was edited
        return None
    return stats


def store(stats: FeatureStats, key: str, kind: str) -> Path:
    path = stats_path(key, kind)
    stats.meta["cache_key"] = key
    stats.save(path)  # atomic: a killed process never leaves a half-written file
    return path
