"""The plugin manager: finds plugins, asks each for what it provides, keeps the registries.

Entry points load one at a time, so one broken plugin is reported and skipped
instead of taking the host down (pluggy's own loader stops at the first error).
"""
from __future__ import annotations

import functools
import importlib.metadata as metadata
import os
import warnings
from dataclasses import dataclass, field
from types import ModuleType
from typing import Iterable

import pluggy

from ganzoo import hookspecs
from ganzoo.errors import GanzooError, GanzooWarning
from ganzoo.registry import CATEGORIES, Registry

ENTRY_POINT_GROUP = "ganzoo"
_HOOK_OF_CATEGORY = {
    "architecture": "ganzoo_register_architectures",
    "dataset": "ganzoo_register_datasets",
    "postprocessor": "ganzoo_register_postprocessors",
    "feature_extractor": "ganzoo_register_feature_extractors",
}


@dataclass
class PluginRecord:
    """What `ganzoo plugins` shows for one plugin."""

    name: str
    distribution: str
    version: str
    hooks: list[str] = field(default_factory=list)
    provides: dict[str, list[str]] = field(default_factory=dict)
    status: str = "loaded"  # loaded | failed | disabled
    error: str = ""

    def as_dict(self) -> dict:
        return {"name": self.name, "distribution": self.distribution, "version": self.version,
                "hooks": self.hooks, "provides": self.provides, "status": self.status, "error": self.error}


class Host:
    """Holds the pluggy manager, one registry per category and a record per plugin."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.registries = {category: Registry(category) for category in CATEGORIES}
        self.records: list[PluginRecord] = []

    @property
    def architectures(self) -> Registry:
        return self.registries["architecture"]

    @property
    def datasets(self) -> Registry:
        return self.registries["dataset"]

    @property
    def postprocessors(self) -> Registry:
        return self.registries["postprocessor"]

    @property
    def feature_extractors(self) -> Registry:
        return self.registries["feature_extractor"]

    # -- loading
    def load_entry_points(self) -> None:
        disabled = {n.strip() for n in os.environ.get("GANZOO_DISABLE_PLUGINS", "").split(",") if n.strip()}
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist else ep.value
            version = ep.dist.version if ep.dist else ""
            if ep.name in disabled or dist in disabled:
                self.records.append(PluginRecord(ep.name, dist, version, status="disabled",
                                                 error="disabled by GANZOO_DISABLE_PLUGINS"))
                continue
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin must not take the host down
                self._fail(PluginRecord(ep.name, dist, version), f"import failed: {type(exc).__name__}: {exc}")
                continue
            self.add_plugin(module, name=ep.name, distribution=dist, version=version)

    def add_plugin(self, module: ModuleType | object, name: str | None = None,
                   distribution: str | None = None, version: str = "") -> PluginRecord:
        """Register one plugin object (a module or any object with hookimpls) and collect what it provides."""
        name = name or getattr(module, "__name__", None) or type(module).__name__
        record = PluginRecord(name, distribution or name, version)
        try:
            self.pm.register(module, name=name)
            self.pm.check_pending()
        except Exception as exc:
            if self.pm.is_registered(module):
                self.pm.unregister(module)
            return self._fail(record, f"invalid hooks: {exc}")
        record.hooks = sorted(impl.name for impl in self.pm.get_hookcallers(module) or [])
        for category, hook_name in _HOOK_OF_CATEGORY.items():
            hook = getattr(self.pm.hook, hook_name)
            for impl in hook.get_hookimpls():
                if impl.plugin is not module:
                    continue
                def register(obj, _category=category):
                    provider = self.registries[_category].add(obj, record.distribution, record.version)
                    record.provides.setdefault(_category, []).append(provider.kind)

                try:
                    impl.function(register=register)
                except Exception as exc:
                    self._withdraw(record)
                    self.pm.unregister(module)
                    return self._fail(record, f"{hook_name} raised {type(exc).__name__}: {exc}")
        self.records.append(record)
        return record

    def _withdraw(self, record: PluginRecord) -> None:
        for category, kinds in record.provides.items():
            for kind in kinds:
                self.registries[category].remove(kind)
        record.provides = {}

    def _fail(self, record: PluginRecord, error: str) -> PluginRecord:
        record.status, record.error = "failed", error
        self.records.append(record)
        message = f"Plugin '{record.name}' from {record.distribution} was not loaded: {error}"
        if os.environ.get("GANZOO_STRICT_PLUGINS") == "1":
            raise GanzooError(message + " (GANZOO_STRICT_PLUGINS=1 makes this an error.)")
        warnings.warn(message, GanzooWarning, stacklevel=2)
        return record

    def versions(self) -> dict[str, str]:
        """Distribution -> version of every loaded plugin (written into run directories)."""
        return {r.distribution: r.version for r in self.records if r.status == "loaded"}


def create_host(plugins: Iterable[object] = (), entry_points: bool = True) -> Host:
    """A fresh host: installed entry points (unless disabled) plus the given plugin objects."""
    host = Host()
    if entry_points:
        host.load_entry_points()
    for plugin in plugins:
        host.add_plugin(plugin)
    return host


@functools.lru_cache(maxsize=1)
def default_host() -> Host:
    """The host built from installed plugins, made once per process."""
    return create_host()
