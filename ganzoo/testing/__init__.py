"""Contract checks for plugin authors, also a pytest plugin (entry point ``pytest11``).

One check per plugin type, plus one for the plugin module itself. In a plugin's tests::

    from ganzoo.testing import check_architecture, check_plugin
    from ganzoo_mygan import plugin, MyGAN

    def test_contract():
        check_architecture(MyGAN, {"width": 8})

    def test_plugin():
        check_plugin(plugin, {"architecture": ["mygan"]})

The per-type checks are also fixtures (``ganzoo_check_architecture``,
``ganzoo_check_dataset``, ``ganzoo_check_postprocessor``,
``ganzoo_check_feature_extractor``, ``ganzoo_check_inverter``). Heavy imports happen inside the functions so
that merely having ganzoo installed does not slow every pytest run.
"""
from __future__ import annotations

import warnings

import pytest

from ganzoo.testing.architecture import check_architecture, check_resume, check_training_sanity
from ganzoo.testing.datasets import check_dataset
from ganzoo.testing.features import check_feature_extractor
from ganzoo.testing.inversion import check_inverter
from ganzoo.testing.inversion import toy_inversion_runs as toy_inversion_runs  # for inverter tests
from ganzoo.testing.postprocess import check_postprocessor

__all__ = [
    "check_architecture", "check_training_sanity", "check_resume", "check_dataset", "check_postprocessor",
    "check_feature_extractor", "check_plugin", "ganzoo_check_architecture", "ganzoo_check_dataset",
    "ganzoo_check_postprocessor", "ganzoo_check_feature_extractor", "check_inverter", "ganzoo_check_inverter"
]


def check_plugin(plugin: object, provides: dict[str, list[str]], distribution: str | None = None) -> None:
    """Assert that ``plugin`` (the module your entry point names) loads and provides exactly ``provides``.

    ``provides`` maps a category (architecture, dataset, postprocessor,
    feature_extractor) to kinds, e.g. ``{"architecture": ["mygan"]}``. The plugin
    must declare ``GANZOO_PLUGIN_API``. With ``distribution``, also check that the
    installed distribution's ``ganzoo`` entry point names this module, and that in
    the whole installed environment it loads and every kind it provides is its
    own: a kind another installed distribution provides too is ambiguous, and no
    recipe could use it (until a user chooses with ``GANZOO_PROVIDERS``).
    """
    import importlib.metadata as metadata

    from ganzoo.host import ENTRY_POINT_GROUP, apiversion, create_host

    name = getattr(plugin, "__name__", type(plugin).__name__)
    assert apiversion.declared(plugin) is not None, \
        (f"{name} does not declare the plugin API it targets; add "
         f"{apiversion.ATTRIBUTE} = {apiversion.PLUGIN_API_VERSION!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        record = create_host([plugin], entry_points=False).records[0]
    assert record.status == "loaded", f"{name} did not load: {record.error}"
    assert record.provides == provides, f"{name} provides {record.provides}, expected {provides}"
    if distribution is None:
        return
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        raise AssertionError(f"{distribution} is not installed; run `pip install -e .` in its folder") from None
    points = [ep for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP]
    assert points, (f"{distribution} has no entry point in the '{ENTRY_POINT_GROUP}' group; add "
                    f"[project.entry-points.{ENTRY_POINT_GROUP}] to pyproject.toml and reinstall")
    assert any(ep.load() is plugin for ep in points), \
        f"{distribution}'s entry points ({', '.join(ep.value for ep in points)}) do not name {name}"
    _check_installed_environment(distribution, provides)


def _check_installed_environment(distribution: str, provides: dict[str, list[str]]) -> None:
    from ganzoo.host import create_host

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        host = create_host()  # every installed plugin, as `ganzoo` itself loads them
    records = [r for r in host.records if r.distribution == distribution]
    assert records and all(r.status == "loaded" for r in records), \
        f"{distribution} does not load beside the installed plugins: {'; '.join(r.error for r in records)}"
    for category, kinds in provides.items():
        registry = host.registries[category]
        for kind in kinds:
            others = [p.distribution for p in registry.conflicts().get(kind, []) if p.distribution != distribution]
            assert not others, (f"the {category} kind '{kind}' is also provided by {', '.join(others)}, installed "
                                f"here: recipes cannot use it while both are installed. Choose another kind name.")


@pytest.fixture
def ganzoo_check_architecture():
    """The :func:`check_architecture` function, as a fixture for plugin test suites."""
    return check_architecture


@pytest.fixture
def ganzoo_check_dataset():
    """The :func:`check_dataset` function, as a fixture."""
    return check_dataset


@pytest.fixture
def ganzoo_check_postprocessor():
    """The :func:`check_postprocessor` function, as a fixture."""
    return check_postprocessor


@pytest.fixture
def ganzoo_check_feature_extractor():
    """The :func:`check_feature_extractor` function, as a fixture."""
    return check_feature_extractor


@pytest.fixture
def ganzoo_check_inverter():
    """The :func:`check_inverter` function, as a fixture."""
    return check_inverter
