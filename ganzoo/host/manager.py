"""The plugin manager: finds plugins, asks each for what it provides, keeps the registries.

Entry points load one at a time, so one broken plugin is reported and skipped
instead of taking the host down (pluggy's own loader stops at the first error).
Each plugin's hooks are called through pluggy on that plugin alone, so the host
knows which distribution registered what (and ``GANZOO_TRACE_PLUGINS=1`` sees
every call through pluggy's hook-call monitoring).
"""
from __future__ import annotations

import functools
import importlib.metadata as metadata
import os
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field
from types import ModuleType
from typing import Iterable, Literal, Union

import pluggy

from ganzoo.errors import GanzooWarning, PluginError
from ganzoo.host import apiversion, hookspecs
from ganzoo.host.registry import CATEGORIES, Registry

ENTRY_POINT_GROUP = "ganzoo"
_HOOK_OF_CATEGORY = {
    "architecture": "ganzoo_register_architectures",
    "dataset": "ganzoo_register_datasets",
    "postprocessor": "ganzoo_register_postprocessors",
    "feature_extractor": "ganzoo_register_feature_extractors",
    "inverter": "ganzoo_register_inverters",
}


@dataclass
class PluginRecord:
    """What `ganzoo plugins` shows for one plugin."""

    name: str
    distribution: str
    version: str
    hooks: list[str] = field(default_factory=list)
    provides: dict[str, list[str]] = field(default_factory=dict)
    status: Literal["loaded", "failed", "disabled", "incompatible"] = "loaded"
    error: str = ""
    api: str = ""  # the plugin API version it declares ("": undeclared, taken as 1.0, or never imported)

    def as_dict(self) -> dict:
        return {"name": self.name, "distribution": self.distribution, "version": self.version, "api": self.api,
                "hooks": self.hooks, "provides": self.provides, "status": self.status, "error": self.error}


class _Registrar:
    """The ``register`` callback one plugin's hook gets: adds to one registry and remembers what it added."""

    def __init__(self, registry: Registry, record: PluginRecord):
        self.registry, self.record, self.kinds = registry, record, []

    def __call__(self, obj: object) -> None:
        provider = self.registry.add(obj, self.record.distribution, self.record.version)
        self.record.provides.setdefault(self.registry.category, []).append(provider.kind)
        self.kinds.append(provider.kind)


def installed_entry_points() -> list[metadata.EntryPoint]:
    return list(metadata.entry_points(group=ENTRY_POINT_GROUP))


def _where(exc: BaseException) -> str:
    """' at FILE:LINE' of the innermost frame of the traceback (where the plugin's code failed), or ''."""
    frames = traceback.extract_tb(exc.__traceback__)
    if isinstance(exc, SyntaxError) and exc.filename:
        return f" at {exc.filename}:{exc.lineno}"
    return f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""


def _trace(line: str) -> None:
    print(f"ganzoo trace: {line}", file=sys.stderr, flush=True)


class Host:
    """Holds the pluggy manager, one registry per category and a record per plugin."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.registries = {category: Registry(category) for category in CATEGORIES}
        self.records: list[PluginRecord] = []
        self.tracing = os.environ.get("GANZOO_TRACE_PLUGINS") == "1"
        if self.tracing:
            self.pm.add_hookcall_monitoring(self._before_hook, self._after_hook)

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

    @property
    def inverters(self) -> Registry:
        return self.registries["inverter"]

    # -- loading
    def load_entry_points(self, entry_points: Iterable[metadata.EntryPoint] | None = None) -> None:
        """Load the ``ganzoo`` entry points (the installed ones unless given), in name order."""
        disabled = {n.strip() for n in os.environ.get("GANZOO_DISABLE_PLUGINS", "").split(",") if n.strip()}
        points = installed_entry_points() if entry_points is None else entry_points
        for ep in sorted(points, key=lambda e: e.name):
            dist = ep.dist.name if ep.dist else ep.value
            version = ep.dist.version if ep.dist else ""
            if ep.name in disabled or dist in disabled:
                self.records.append(PluginRecord(ep.name, dist, version, status="disabled",
                                                 error="disabled by GANZOO_DISABLE_PLUGINS"))
                continue
            started = time.perf_counter()
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin must not take the host down
                self._fail(PluginRecord(ep.name, dist, version), f"importing {ep.value} failed{_where(exc)}: "
                                                                   f"{type(exc).__name__}: {exc}")
                if self.tracing:
                    _trace(f"importing {ep.value} ({dist} {version}) failed:\n"
                           + "".join(traceback.format_exception(exc)).rstrip())
                continue
            if self.tracing:
                _trace(f"imported {ep.value} ({dist} {version}) in {1000 * (time.perf_counter() - started):.0f} ms")
            self.add_plugin(module, name=ep.name, distribution=dist, version=version)

    def add_plugin(self, module: ModuleType | object, name: str | None = None,
                   distribution: str | None = None, version: str = "") -> PluginRecord:
        """Register one plugin object (a module or any object with hookimpls) and collect what it provides."""
        name = name or getattr(module, "__name__", None) or type(module).__name__
        record = PluginRecord(name, distribution or name, version)
        try:
            value = apiversion.declared(module)
            record.api = "" if value is None else str(value)
            problem = apiversion.incompatibility(module)
        except ValueError as exc:
            return self._fail(record, str(exc))
        if problem:
            return self._fail(record, problem, status="incompatible")
        if self.pm.has_plugin(name):
            return self._fail(record, f"another loaded plugin already has the name '{name}'; rename its entry point")
        if self.pm.is_registered(module):
            return self._fail(record, f"its module is already loaded as plugin '{self.pm.get_name(module)}'")
        try:
            self.pm.register(module, name=name)
            self.pm.check_pending()
        except Exception as exc:
            if self.pm.is_registered(module):
                self.pm.unregister(module)
            return self._fail(record, f"invalid hooks: {exc}")
        record.hooks = sorted(caller.name for caller in self.pm.get_hookcallers(module) or [])
        others = [p for p in self.pm.get_plugins() if p is not module]
        for category, hook_name in _HOOK_OF_CATEGORY.items():
            if hook_name not in record.hooks:
                continue
            try:  # through pluggy, on this plugin alone: argument checks and tracing as for any hook call
                self.pm.subset_hook_caller(hook_name, others)(register=_Registrar(self.registries[category], record))
            except Exception as exc:
                self._withdraw(record)
                self.pm.unregister(module)
                reason = str(exc) if isinstance(exc, PluginError) else f"{hook_name} raised {type(exc).__name__}: {exc}"
                return self._fail(record, reason)
        self.records.append(record)
        return record

    def _withdraw(self, record: PluginRecord) -> None:
        for category, kinds in record.provides.items():
            for kind in kinds:
                self.registries[category].remove(kind, record.distribution)
        record.provides = {}

    def _fail(self, record: PluginRecord, error: str,
              status: Literal["failed", "incompatible"] = "failed") -> PluginRecord:
        record.status, record.error = status, error.rstrip(".")
        self.records.append(record)
        label = f"{record.distribution} {record.version}".strip()
        message = f"Plugin '{record.name}' from {label} was not loaded: {record.error}."
        if os.environ.get("GANZOO_STRICT_PLUGINS") == "1":
            raise PluginError(f"{message} (GANZOO_STRICT_PLUGINS=1 makes this an error.)")
        warnings.warn(f"{message} Everything else works; GANZOO_DISABLE_PLUGINS={record.name} skips it quietly.",
                      GanzooWarning, stacklevel=2)
        return record

    # -- tracing (GANZOO_TRACE_PLUGINS=1): one line per hook call, to stderr
    def _before_hook(self, hook_name: str, impls: list, kwargs: dict) -> None:
        self._hook_started = time.perf_counter()

    def _after_hook(self, outcome: pluggy.Result, hook_name: str, impls: list, kwargs: dict) -> None:
        plugins = ", ".join(self.pm.get_name(impl.plugin) or "?" for impl in impls)
        ms = 1000 * (time.perf_counter() - self._hook_started)
        registrar = kwargs.get("register")
        if outcome.exception is not None:
            result = f"raised {type(outcome.exception).__name__}: {outcome.exception}"
        elif isinstance(registrar, _Registrar):
            result = f"registered {registrar.registry.category} " + (", ".join(registrar.kinds) or "nothing")
        else:
            result = "returned"
        _trace(f"{hook_name} on {plugins}: {result} ({ms:.1f} ms)")

    def versions(self) -> dict[str, str]:
        """Distribution -> version of every loaded plugin (written into run directories)."""
        return {r.distribution: r.version for r in self.records if r.status == "loaded"}


def create_host(plugins: Iterable[object] = (),
                entry_points: Union[bool, Iterable[metadata.EntryPoint]] = True) -> Host:
    """A fresh host: entry points plus the given plugin objects.

    ``entry_points`` is True for the installed ones, False for none, or the entry
    points to load instead (tests use made-up distributions this way).
    """
    host = Host()
    if entry_points is True:
        host.load_entry_points()
    elif entry_points:
        host.load_entry_points(entry_points)
    for plugin in plugins:
        host.add_plugin(plugin)
    return host


@functools.lru_cache(maxsize=1)
def default_host() -> Host:
    """The host built from installed plugins, made once per process."""
    return create_host()
