"""The whole plugin contract: every hook ganzoo calls, typed, one docstring each.

A plugin module implements any of these with ``@ganzoo.api.hookimpl`` and is
listed under the ``ganzoo`` entry-point group of its distribution. Each hook
receives a ``register`` callback owned by the host, so the host can refuse a
duplicate kind and remember which distribution provided what. "Since" is the
plugin API version (``ganzoo.PLUGIN_API_VERSION``) that introduced the hook.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pluggy

if TYPE_CHECKING:  # the contract's types, for readers and type checkers; nothing is imported at run time
    from ganzoo.api import Architecture, Dataset, FeatureExtractor, Inverter, PostProcessor

PROJECT = "ganzoo"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

__all__ = [
    "hookimpl", "hookspec", "PROJECT", "ganzoo_register_architectures", "ganzoo_register_datasets",
    "ganzoo_register_postprocessors", "ganzoo_register_feature_extractors", "ganzoo_register_inverters"
]


@hookspec
def ganzoo_register_architectures(register: Callable[[type[Architecture]], None]) -> None:
    """Register GAN architectures: call ``register(ArchitectureSubclass)`` once per class. Since 1.0."""


@hookspec
def ganzoo_register_datasets(register: Callable[[type[Dataset]], None]) -> None:
    """Register datasets: call ``register(DatasetSubclass)`` once per class. Since 1.0."""


@hookspec
def ganzoo_register_postprocessors(register: Callable[[type[PostProcessor]], None]) -> None:
    """Register export post-processors: call ``register(PostProcessorSubclass)`` once per class. Since 1.0."""


@hookspec
def ganzoo_register_feature_extractors(register: Callable[[type[FeatureExtractor]], None]) -> None:
    """Register feature extractors for metrics: call ``register(FeatureExtractorSubclass)`` once per class.

    Since 1.0."""


@hookspec
def ganzoo_register_inverters(register: Callable[[type[Inverter]], None]) -> None:
    """Register GAN inverters (image -> latent, for ``ganzoo project``): call ``register(InverterSubclass)`` once
    per class. Since 1.3."""
