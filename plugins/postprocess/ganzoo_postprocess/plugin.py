"""Entry point: hands ganzoo the post-processors this distribution provides."""
from __future__ import annotations

from ganzoo.api import hookimpl

from ganzoo_postprocess.presets import STEPS, Preset


@hookimpl
def ganzoo_register_postprocessors(register):
    for step in STEPS.values():
        register(step)
    register(Preset)
