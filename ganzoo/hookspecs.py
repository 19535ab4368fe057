"""The whole plugin contract: every hook ganzoo calls, one docstring each.

A plugin module implements any of these with ``@ganzoo.api.hookimpl`` and is
listed under the ``ganzoo`` entry-point group of its distribution. Each hook
receives a ``register`` callback owned by the host, so the host can refuse a
duplicate kind and remember which distribution provided what.
"""
from __future__ import annotations

import pluggy

PROJECT = "ganzoo"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def ganzoo_register_architectures(register):
    """Register GAN architectures: call ``register(ArchitectureSubclass)`` once per class."""


@hookspec
def ganzoo_register_datasets(register):
    """Register datasets: call ``register(DatasetSubclass)`` once per class."""


@hookspec
def ganzoo_register_postprocessors(register):
    """Register export post-processors: call ``register(PostProcessorSubclass)`` once per class."""


@hookspec
def ganzoo_register_feature_extractors(register):
    """Register feature extractors for metrics: call ``register(FeatureExtractorSubclass)`` once per class."""
