"""The public API: what a plugin may subclass, call or import. This docstring is its one statement.

A plugin (ours in ``plugins/`` or a third party's) imports from these modules and
nothing else; ``tests/test_public_api.py`` pins each one's names and checks that
first-party plugins keep to them:

- ``ganzoo.api`` (this module, its ``__all__``): base classes for architectures,
  datasets, post-processors, feature extractors and inverters, their data types, ``hookimpl``
  and the errors a plugin raises;
- ``ganzoo.host.hookspecs``: the hooks themselves (``ganzoo_register_*``), typed;
- ``ganzoo.losses``: GAN losses and the usual phase bodies (``discriminator_step``...);
- ``ganzoo.nn``: building blocks (conv stages, spectral norm, projection head...);
- ``ganzoo.errors``: ``GanzooError`` and the errors with exit code 2;
- ``ganzoo.metrics`` (its ``__all__``): scores, feature statistics, ``InputError``,
  ``cache_root`` for files a feature extractor keeps;
- ``ganzoo.provenance``: the machine-readable AI-generated record (embed and read);
- ``ganzoo.fileio``: atomic file writes (temporary file, then rename), ``read_safetensors`` (tensors and
  metadata) and ``parse_yaml`` for users' YAML;
- ``ganzoo.datacache`` (its ``__all__``): the decoded-data cache a dataset uses as ``Dataset.cache``
  (since 1.4);
- ``ganzoo.testing``: contract checks for a plugin's own tests (needs pytest).

Everything else (host, recipe, engine, export, compare, cli, the run modules) may
change between minor releases. See docs/plugins/architecture.md for a worked example.
"""
from __future__ import annotations

from typing import Any

from ganzoo import PLUGIN_API_VERSION
from ganzoo.api.architecture import Architecture, OptimizerSettings, Phase, PhaseInputs
from ganzoo.api.config import PluginConfig
from ganzoo.api.data import DataCheck, Dataset, ImageData, ImageSpec, to_float_images, to_uint8_images
from ganzoo.api.features import FeatureExtractor
from ganzoo.api.inversion import Inversion, InversionRun, Inverter
from ganzoo.api.postprocess import PostProcessor
from ganzoo.errors import GanzooError, GanzooWarning, PluginError, RecipeError
from ganzoo.host.hookspecs import hookimpl

__all__ = [
    "PLUGIN_API_VERSION", "hookimpl", "PluginConfig", "ImageSpec", "ImageData", "DataCheck", "Dataset", "Architecture",
    "Phase", "PhaseInputs", "OptimizerSettings", "PostProcessor", "FeatureExtractor", "GanzooError",
    "GanzooWarning", "PluginError", "RecipeError", "to_float_images", "to_uint8_images", "Inverter", "InversionRun",
    "Inversion",
]

# Plugin API 1.0 had these here; they live in ganzoo.provenance (image-format code the contract need not load).
_MOVED_TO_PROVENANCE = ("provenance_record", "read_provenance", "Provenance", "TRAINED_ALGORITHMIC_MEDIA")


def __getattr__(name: str) -> Any:
    if name in _MOVED_TO_PROVENANCE:
        from ganzoo import provenance
        return getattr(provenance, name)
    raise AttributeError(f"module 'ganzoo.api' has no attribute '{name}'")
