"""Plugin loading: in-test plugins, duplicates, unknown kinds, broken plugins."""
import pytest

from ganzoo.api import Dataset, hookimpl
from ganzoo.errors import GanzooError, GanzooWarning, PluginError
from ganzoo.host import create_host
from tests.conftest import Squares, SquaresPlugin


def test_plugin_registered_in_test_is_found(host):
    assert "test-squares" in host.datasets
    record = next(r for r in host.records if r.provides.get("dataset") == ["test-squares"])
    assert record.status == "loaded" and record.hooks == ["ganzoo_register_datasets"]


def test_installed_dcgan_comes_from_its_own_distribution(host):
    provider = host.architectures.get("dcgan")
    assert provider.distribution == "ganzoo-dcgan" and provider.version


def test_a_kind_two_distributions_provide_is_unusable_until_one_is_chosen(monkeypatch):
    host = create_host([SquaresPlugin()], entry_points=False)
    with pytest.warns(GanzooWarning, match="provided by SquaresPlugin and ganzoo-other") as caught:
        record = host.add_plugin(SquaresPlugin(), name="again", distribution="ganzoo-other")
    assert "does not pick one by installation order" in str(caught[0].message)
    assert record.status == "loaded" and "test-squares" in host.datasets  # both stay loaded...
    with pytest.raises(PluginError, match="cannot be used until one is chosen"):
        host.datasets.get("test-squares")  # ...but neither is used by accident
    assert "GANZOO_PROVIDERS=test-squares=SquaresPlugin" in str(host.datasets.conflict_message("test-squares"))
    monkeypatch.setenv("GANZOO_PROVIDERS", "dataset:test-squares=ganzoo-other")
    assert host.datasets.get("test-squares").distribution == "ganzoo-other"
    monkeypatch.setenv("GANZOO_PROVIDERS", "test-squares=SquaresPlugin")
    assert host.datasets.get("test-squares").distribution == "SquaresPlugin"


def test_unknown_kind_suggests_the_closest(host):
    with pytest.raises(PluginError) as info:
        host.architectures.get("dcgn")
    assert "Did you mean 'dcgan'" in str(info.value) and "Available: dcgan" in str(info.value)


def test_plugin_raising_in_hook_is_skipped_with_warning():
    class Broken:
        @hookimpl
        def ganzoo_register_datasets(self, register):
            register(Squares)
            raise RuntimeError("boom")

    host = create_host(entry_points=False)
    with pytest.warns(UserWarning, match="boom"):
        host.add_plugin(Broken())
    assert "test-squares" not in host.datasets  # half-registered kinds are withdrawn


def test_misspelled_hook_is_refused():
    class Typo:
        @hookimpl
        def ganzoo_register_architecture(self, register):  # missing 's'
            pass

    host = create_host(entry_points=False)
    with pytest.warns(UserWarning, match="invalid hooks"):
        record = host.add_plugin(Typo())
    assert record.status == "failed"


def test_strict_mode_turns_failures_into_errors(monkeypatch):
    monkeypatch.setenv("GANZOO_STRICT_PLUGINS", "1")

    class Broken:
        @hookimpl
        def ganzoo_register_datasets(self, register):
            raise RuntimeError("boom")

    with pytest.raises(GanzooError, match="GANZOO_STRICT_PLUGINS"):
        create_host([Broken()], entry_points=False)


def test_disabled_plugin_is_listed_not_loaded(monkeypatch):
    monkeypatch.setenv("GANZOO_DISABLE_PLUGINS", "dcgan")
    host = create_host()
    assert "dcgan" not in host.architectures
    assert any(r.name == "dcgan" and r.status == "disabled" for r in host.records)


def test_registering_a_class_without_kind_is_refused():
    class NoKind(Dataset):
        pass

    class P:
        @hookimpl
        def ganzoo_register_datasets(self, register):
            register(NoKind)

    with pytest.warns(UserWarning, match="without a `kind`"):
        create_host([P()], entry_points=False)


def test_architecture_hook_registers_with_metadata():
    from ganzoo_dcgan import DCGAN

    class Renamed(DCGAN):
        kind = "dcgan-copy"

    class P:
        @hookimpl
        def ganzoo_register_architectures(self, register):
            register(Renamed)

    host = create_host([P()], entry_points=False)
    provider = host.architectures.get("dcgan-copy")
    assert provider.obj is Renamed and provider.distribution == "P"
    assert host.records[0].provides == {"architecture": ["dcgan-copy"]}
