"""Checks shared by the datasets in this distribution."""
from __future__ import annotations

from ganzoo.api import GanzooError


def check_resolution(kind: str, resolution: int, low: int, high: int) -> int:
    """Refuse a resolution the dataset cannot produce, saying which would work."""
    if isinstance(resolution, bool) or not isinstance(resolution, int) or not low <= resolution <= high:
        raise GanzooError(
            f"The '{kind}' dataset cannot produce images at resolution {resolution!r}: it supports "
            f"whole numbers from {low} to {high} pixels. Set the recipe's resolution to a value in "
            f"that range (powers of two such as 32 or 64 suit most architectures)."
        )
    return resolution
