"""The plugin module registers `sngan`, and (once installed) ganzoo finds it through its entry point."""
import importlib.metadata as metadata

import pytest

from ganzoo.testing import check_plugin
from ganzoo_sngan import plugin

PROVIDES = {"architecture": ["sngan"]}


def test_plugin_provides_its_kind():
    check_plugin(plugin, PROVIDES)


def test_installed_entry_point_finds_the_plugin():
    try:
        metadata.distribution("ganzoo-sngan")
    except metadata.PackageNotFoundError:
        pytest.skip("ganzoo-sngan is not installed: run `pip install -e .` to test its entry point")
    check_plugin(plugin, PROVIDES, distribution="ganzoo-sngan")
