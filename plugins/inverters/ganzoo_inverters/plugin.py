"""Entry point: hands ganzoo the inverters this distribution provides."""
from __future__ import annotations

from ganzoo.api import hookimpl
from ganzoo_inverters.encoder import EncoderInverter
from ganzoo_inverters.optimize import OptimizeInverter

GANZOO_PLUGIN_API = "1.3"  # Inverter and ganzoo_register_inverters appeared in 1.3


@hookimpl
def ganzoo_register_inverters(register):
    register(OptimizeInverter)
    register(EncoderInverter)
