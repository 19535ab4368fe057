"""ganzoo: a plugin-based GAN zoo for synthesising product images.

The package map (what each part may import) is in docs/design.md.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

__version__ = "0.1.0"
# The plugin interface's version, "major.minor" (docs/plugins/tutorial.md#versioning): a plugin declaring
# GANZOO_PLUGIN_API = "M.m" loads when M is this major and m is at most this minor.
# 1.1: FeatureExtractor.classifier and class_logits (the Inception Score).
# 1.2: Architecture.onnx_exportable, onnx_inputs and onnx_generator (ganzoo export-onnx).
# 1.3: Architecture.discriminator_blocks and ConvDiscriminator.blocks (FreezeD, train.freeze_discriminator).
#      PhaseInputs.report_real_logits (adaptive augmentation, train.augment: ada).
#      Architecture latent spaces (latent_spaces, mapping, synthesis, num_ws, style_groups, style_weights,
#      w_avg); Inverter and the ganzoo_register_inverters hook; Dataset.prepare_image.
# 1.4: Dataset.cache and the ganzoo.datacache module; ImageData.file and known_hash; FeatureExtractor.perceptual
#      and feature_maps; InversionRun.feature_space.
# 1.5: Architecture.style_resolutions (style mixing by resolution, --layers 32px).
PLUGIN_API_VERSION = "1.5"

# Modules that moved into a sub-package, by their old documented names: ``import ganzoo.pipeline`` still gives
# ganzoo.export.pipeline (the same module object), so plugins and scripts written against 0.1 keep working.
MOVED_MODULES = {
    "ganzoo.hookspecs": "ganzoo.host.hookspecs",
    "ganzoo.augment": "ganzoo.engine.augment",
    "ganzoo.pipeline": "ganzoo.export.pipeline",
}


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname in MOVED_MODULES:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return importlib.import_module(MOVED_MODULES[spec.name])

    def exec_module(self, module) -> None:  # the module is the new one, already executed
        pass


if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModuleFinder())
