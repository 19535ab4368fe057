"""Kind -> provider tables, one per plugin category.

A duplicate kind is refused with both distributions named; an unknown kind
is answered with what is available and the closest match.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Iterator

from ganzoo.errors import PluginError

CATEGORIES = ("architecture", "dataset", "postprocessor", "feature_extractor")


@dataclass(frozen=True)
class Provider:
    kind: str
    obj: Any  # the registered class
    distribution: str
    version: str


def did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return f" Did you mean '{close[0]}'?" if close else ""


class Registry:
    def __init__(self, category: str):
        self.category = category
        self._providers: dict[str, Provider] = {}

    def add(self, obj: Any, distribution: str, version: str = "") -> Provider:
        kind = getattr(obj, "kind", None)
        if not isinstance(kind, str) or not kind:
            raise PluginError(f"{distribution} registered {obj!r} as a {self.category} without a `kind` string.")
        if kind in self._providers:
            other = self._providers[kind]
            raise PluginError(
                f"{self.category} kind '{kind}' is provided twice: by {other.distribution} and by {distribution}. "
                f"Uninstall one of them."
            )
        provider = Provider(kind, obj, distribution, version)
        self._providers[kind] = provider
        return provider

    def remove(self, kind: str) -> None:
        self._providers.pop(kind, None)

    def get(self, kind: str) -> Provider:
        try:
            return self._providers[kind]
        except KeyError:
            available = sorted(self._providers)
            listing = ", ".join(available) if available else "none (is a plugin package installed?)"
            raise PluginError(
                f"Unknown {self.category} kind '{kind}'.{did_you_mean(kind, available)} Available: {listing}. "
                f"Run `ganzoo plugins` to see what is installed."
            ) from None

    def kinds(self) -> list[str]:
        return sorted(self._providers)

    def __iter__(self) -> Iterator[Provider]:
        return iter(sorted(self._providers.values(), key=lambda p: p.kind))

    def __contains__(self, kind: str) -> bool:
        return kind in self._providers
