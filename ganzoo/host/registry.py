"""Kind -> provider tables, one per plugin category.

A kind two installed distributions provide is ambiguous: ganzoo never picks one
by installation or entry-point order (a package sorting first could otherwise
take over a kind). Both keep loading, the kind answers with both names until
the user chooses one with ``GANZOO_PROVIDERS=kind=distribution`` (or
``category:kind=distribution``) or uninstalls one; the warning names the one
installed last as the newcomer. An unknown kind is answered with what is
available and the closest match.
"""
from __future__ import annotations

import difflib
import os
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator, Optional

from ganzoo.errors import GanzooWarning, PluginError

CHOICE_ENV = "GANZOO_PROVIDERS"

CATEGORIES = ("architecture", "dataset", "postprocessor", "feature_extractor", "inverter")


@dataclass(frozen=True)
class Provider:
    kind: str
    obj: Any  # the registered class
    distribution: str
    version: str


def did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return f" Did you mean '{close[0]}'?" if close else ""


def chosen_providers() -> dict[str, str]:
    """``GANZOO_PROVIDERS=dcgan=ganzoo-dcgan,dataset:shoes=acme-data`` as {"dcgan": ..., "dataset:shoes": ...}."""
    pairs = (item.partition("=") for item in os.environ.get(CHOICE_ENV, "").split(","))
    return {key.strip(): value.strip() for key, sep, value in pairs if sep and key.strip() and value.strip()}


def installed_at(distribution: str) -> Optional[float]:
    """When a distribution was installed (its metadata folder's time), or None when unknown."""
    try:
        found = metadata.distribution(distribution)
        return Path(str(found._path)).stat().st_mtime  # type: ignore[attr-defined]
    except Exception:  # not installed (a test's plugin object), or metadata in a zip
        return None


class Registry:
    def __init__(self, category: str):
        self.category = category
        self._providers: dict[str, Provider] = {}
        self._conflicts: dict[str, list[Provider]] = {}

    def add(self, obj: Any, distribution: str, version: str = "") -> Provider:
        kind = getattr(obj, "kind", None)
        if not isinstance(kind, str) or not kind:
            raise PluginError(f"{distribution} registered {obj!r} as a {self.category} without a `kind` string.")
        provider = Provider(kind, obj, distribution, version)
        existing = self._conflicts.get(kind) or ([self._providers[kind]] if kind in self._providers else [])
        if any(p.distribution == distribution for p in existing):
            raise PluginError(f"{distribution} registers the {self.category} kind '{kind}' twice.")
        if not existing:
            self._providers[kind] = provider
            return provider
        self._providers.pop(kind, None)
        self._conflicts[kind] = existing + [provider]
        if self._choice(kind) is None:
            warnings.warn(self.conflict_message(kind), GanzooWarning, stacklevel=2)
        return provider

    def _choice(self, kind: str) -> Optional[Provider]:
        chosen = chosen_providers()
        wanted = chosen.get(f"{self.category}:{kind}") or chosen.get(kind)
        return next((p for p in self._conflicts.get(kind, []) if p.distribution == wanted), None)

    def conflict_message(self, kind: str) -> str:
        providers = self._conflicts[kind]
        names = " and ".join(f"{p.distribution} {p.version}".strip() for p in providers)
        times = {p.distribution: installed_at(p.distribution) for p in providers}
        known = [p for p in providers if times[p.distribution] is not None]
        newest = max(known, key=lambda p: times[p.distribution]) if len(known) == len(providers) > 1 else None
        advice = (f"{newest.distribution} is the newcomer (installed last): if you did not mean it to replace "
                  f"the others, `pip uninstall {newest.distribution}`; or choose one with "
                  if newest else "Uninstall the one you did not mean to install, or choose one with ")
        return (f"The {self.category} kind '{kind}' is provided by {names}; ganzoo does not pick one by installation "
                f"order, so '{kind}' cannot be used until one is chosen. {advice}"
                f"{CHOICE_ENV}={kind}={providers[0].distribution} (or ={providers[-1].distribution}).")

    def remove(self, kind: str, distribution: Optional[str] = None) -> None:
        """Forget ``kind`` (only ``distribution``'s provider of it, when given)."""
        if kind in self._conflicts:
            left = [p for p in self._conflicts[kind] if distribution is not None and p.distribution != distribution]
            del self._conflicts[kind]
            if len(left) == 1:
                self._providers[kind] = left[0]
            elif left:
                self._conflicts[kind] = left
            return
        if distribution is None or getattr(self._providers.get(kind), "distribution", None) == distribution:
            self._providers.pop(kind, None)

    def conflicts(self) -> dict[str, list[Provider]]:
        """Ambiguous kinds and their providers (each still ambiguous unless chosen)."""
        return {kind: list(providers) for kind, providers in self._conflicts.items()}

    def get(self, kind: str) -> Provider:
        if kind in self._conflicts:
            chosen = self._choice(kind)
            if chosen is None:
                raise PluginError(self.conflict_message(kind))
            return chosen
        try:
            return self._providers[kind]
        except KeyError:
            available = self.kinds()
            listing = ", ".join(available) if available else "none (is a plugin package installed?)"
            raise PluginError(
                f"Unknown {self.category} kind '{kind}'.{did_you_mean(kind, available)} Available: {listing}. "
                f"Run `ganzoo plugins` to see what is installed."
            ) from None

    def kinds(self) -> list[str]:
        return sorted(set(self._providers) | set(self._conflicts))

    def __iter__(self) -> Iterator[Provider]:
        """Every usable provider: the unambiguous ones and the chosen one of each conflict."""
        chosen = [c for c in map(self._choice, self._conflicts) if c is not None]
        return iter(sorted([*self._providers.values(), *chosen], key=lambda p: p.kind))

    def __contains__(self, kind: str) -> bool:
        return kind in self._providers or kind in self._conflicts
