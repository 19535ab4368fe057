"""Entry point: hands ganzoo the post-processors this distribution provides."""
from __future__ import annotations

from ganzoo.api import hookimpl
from ganzoo_postprocess.presets import STEPS, Preset

GANZOO_PLUGIN_API = "1.0"  # the plugin API this plugin is written against


@hookimpl
def ganzoo_register_postprocessors(register):
    for step in STEPS.values():
        register(step)
    register(Preset)
