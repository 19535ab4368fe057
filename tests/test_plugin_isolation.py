"""A broken plugin is harmless: one warning naming its distribution, everything else keeps working.

The broken plugins are made-up installed distributions (metadata and entry points,
no files) whose entry points name small modules written to tmp_path.
"""
import importlib.metadata as metadata
import json
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from ganzoo.api import hookimpl
from ganzoo.cli import app
from ganzoo.errors import GanzooWarning, PluginError
from ganzoo.host import apiversion, create_host, installed_entry_points
from ganzoo.host import manager as host_module
from tests.conftest import SquaresPlugin

runner = CliRunner()


class FakeDistribution(metadata.Distribution):
    """An installed distribution as importlib.metadata sees it: name, version and entry points only."""

    def __init__(self, name: str, version: str, entry_points: dict[str, str]):
        self._texts = {
            "METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
            "entry_points.txt": "[ganzoo]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items()),
        }

    def read_text(self, filename):
        return self._texts.get(filename)

    def locate_file(self, path):  # pragma: no cover - no files
        raise FileNotFoundError(path)


# case -> (module source, what the one warning must say)
CASES = {
    "import-error": ("import ganzoo_no_such_dependency\n", "fake_import_error.py:1: ModuleNotFoundError"),
    "hook-error": ("""
        from ganzoo.api import hookimpl
        GANZOO_PLUGIN_API = "1.0"

        @hookimpl
        def ganzoo_register_datasets(register):
            raise RuntimeError("shape database not found")
        """, "ganzoo_register_datasets raised RuntimeError: shape database not found"),
    "wrong-api": ("""
        from ganzoo.api import Architecture, hookimpl
        GANZOO_PLUGIN_API = "2.0"

        class FromTheFuture(Architecture):
            kind = "future-gan"

        @hookimpl
        def ganzoo_register_architectures(register):
            register(FromTheFuture)
        """, "it targets plugin API 2.0, but ganzoo 0.1.0 provides plugin API 1.5"),
}


def module_name(case: str) -> str:
    return "fake_" + case.replace("-", "_")


@pytest.fixture
def fake_plugin(tmp_path, monkeypatch):
    """Make the broken distribution for a case: returns (its entry points, its distribution name)."""
    made = []

    def make(case: str):
        name = module_name(case)
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(CASES[case][0]))
        made.append(name)
        dist = FakeDistribution(f"ganzoo-fake-{case}", "0.3.0", {f"zz-{case}": name})  # loads after the real ones
        return list(dist.entry_points), f"ganzoo-fake-{case}"

    monkeypatch.syspath_prepend(str(tmp_path))
    yield make
    for name in made:
        sys.modules.pop(name, None)


@pytest.fixture
def installed_plus(monkeypatch, fake_plugin):
    """The CLI's host sees the installed plugins plus one broken distribution."""

    def install(case: str) -> str:
        points, dist = fake_plugin(case)
        real = installed_entry_points()
        monkeypatch.setattr(host_module, "installed_entry_points", lambda: real + points)
        host_module.default_host.cache_clear()
        return dist

    yield install
    host_module.default_host.cache_clear()


GOOD_RECIPE = """\
run: {name: good, output_dir: runs, threads: 1}
data: {kind: catalogue, resolution: 16, size: 32}
architecture: {kind: dcgan, width: 8, z_dim: 16}
train: {steps: 2, batch_size: 8, grid_size: 4}
"""


def warning_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


@pytest.mark.parametrize("case", CASES)
def test_broken_plugin_gives_one_warning_and_the_rest_loads(case, fake_plugin):
    points, dist = fake_plugin(case)
    with pytest.warns(GanzooWarning) as caught:
        host = create_host(entry_points=installed_entry_points() + points)
    messages = [str(w.message) for w in caught if issubclass(w.category, GanzooWarning)]
    assert len(messages) == 1, messages
    assert dist in messages[0] and CASES[case][1] in messages[0]
    record = next(r for r in host.records if r.distribution == dist)
    assert record.status == ("incompatible" if case == "wrong-api" else "failed") and not record.provides
    assert host.architectures.get("dcgan").distribution == "ganzoo-dcgan"  # the real one stays
    assert "catalogue" in host.datasets and "future-gan" not in host.architectures
    assert all(r.status == "loaded" for r in host.records if r.distribution != dist)


@pytest.mark.parametrize("case", CASES)
def test_broken_plugin_leaves_the_cli_working(case, installed_plus, tmp_path, monkeypatch):
    dist = installed_plus(case)
    result = runner.invoke(app, ["plugins", "--json"])
    assert result.exit_code == 0, result.stderr
    (line,) = warning_lines(result.stderr)
    assert dist in line and "Traceback" not in result.output
    record = next(r for r in json.loads(result.stdout) if r["distribution"] == dist)
    assert record["status"] in ("failed", "incompatible") and CASES[case][1] in record["error"]

    host_module.default_host.cache_clear()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "good.yaml").write_text(GOOD_RECIPE)
    result = runner.invoke(app, ["validate", "good.yaml"])
    assert result.exit_code == 0, result.stderr
    assert len(warning_lines(result.stderr)) == 1 and "OK good.yaml" in result.stdout


@pytest.mark.parametrize("case", CASES)
def test_strict_mode_makes_a_broken_plugin_an_error(case, installed_plus, monkeypatch):
    monkeypatch.setenv("GANZOO_STRICT_PLUGINS", "1")
    dist = installed_plus(case)
    result = runner.invoke(app, ["plugins"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error:") and dist in result.stderr and "GANZOO_STRICT_PLUGINS=1" in result.stderr
    assert "Traceback" not in result.output


def test_disabling_a_broken_distribution_silences_it(installed_plus, monkeypatch):
    dist = installed_plus("hook-error")
    monkeypatch.setenv("GANZOO_DISABLE_PLUGINS", dist)
    result = runner.invoke(app, ["plugins", "--json"])
    assert result.exit_code == 0 and not warning_lines(result.stderr)
    assert next(r for r in json.loads(result.stdout) if r["distribution"] == dist)["status"] == "disabled"


def test_plugins_table_shows_api_and_why_not_loaded(installed_plus):
    installed_plus("wrong-api")
    result = runner.invoke(app, ["plugins"])
    assert result.exit_code == 0
    assert "plugin API 1.5" in result.stdout and "incompatible" in result.stdout


# ------------------------------------------------------------------ API versions

@pytest.mark.parametrize("declared, problem", [
    ("1.0", None), ("1", None), (1, None), ("1.1", None), ("1.2", None), ("1.3", None), ("1.4", None),
    ("1.5", None),
    ("1.6", "targets plugin API 1.6, but ganzoo 0.1.0 provides plugin API 1.5; upgrade ganzoo"),
    ("2.0", "targets plugin API 2.0, but ganzoo 0.1.0 provides plugin API 1.5; upgrade ganzoo"),
    ("0.9", "targets plugin API 0.9, but ganzoo 0.1.0 provides plugin API 1.5; install a release of the plugin"),
])
def test_api_compatibility_rule(declared, problem):
    plugin = type("P", (), {"GANZOO_PLUGIN_API": declared})()
    found = apiversion.incompatibility(plugin)
    assert found == problem if problem is None else problem in found


@pytest.mark.parametrize("declared", ["one", "1.0.3", 1.5, True, ""])
def test_malformed_api_declaration_fails_with_what_to_write(declared):
    class P:
        GANZOO_PLUGIN_API = declared

        @hookimpl
        def ganzoo_register_datasets(self, register):
            pass

    with pytest.warns(GanzooWarning, match="is not a plugin API version; write a string such as '1.5'"):
        record = create_host([P()], entry_points=False).records[0]
    assert record.status == "failed"


def test_undeclared_plugin_loads_as_the_first_api():
    record = create_host([SquaresPlugin()], entry_points=False).records[0]
    assert record.status == "loaded" and record.api == ""


def test_first_party_plugins_declare_the_api(host):
    installed = [r for r in host.records if r.distribution.startswith("ganzoo-")]
    assert installed and all(r.status == "loaded" for r in installed), installed
    # Each declares the API it uses: 1.0, or the minor that added what it calls (wgan-gp calls
    # PhaseInputs.report_real_logits, 1.3; the datasets use Dataset.cache, 1.4).
    apis = {r.distribution: r.api for r in installed}
    assert set(apis.values()) <= {"1.0", "1.3", "1.4"} and apis["ganzoo-wgan-gp"] == "1.3", apis
    assert apis["ganzoo-datasets"] == "1.4", apis


def test_incompatible_plugin_in_strict_mode_is_an_error(monkeypatch):
    monkeypatch.setenv("GANZOO_STRICT_PLUGINS", "1")
    plugin = type("Future", (), {"GANZOO_PLUGIN_API": "3.0"})()
    with pytest.raises(PluginError, match="targets plugin API 3.0"):
        create_host([plugin], entry_points=False)


# ------------------------------------------------------------------ tracing

def test_trace_plugins_prints_one_line_per_hook_call(monkeypatch, capsys):
    monkeypatch.setenv("GANZOO_TRACE_PLUGINS", "1")

    class Broken:
        @hookimpl
        def ganzoo_register_architectures(self, register):
            raise RuntimeError("boom")

    with pytest.warns(GanzooWarning):
        create_host([SquaresPlugin(), Broken()], entry_points=False)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("ganzoo trace: ganzoo_register_datasets on SquaresPlugin: "
                               "registered dataset test-squares")
    assert lines[1].startswith("ganzoo trace: ganzoo_register_architectures on Broken: raised RuntimeError: boom")
    assert len(lines) == 2


def test_no_trace_by_default(capsys):
    create_host([SquaresPlugin()], entry_points=False)
    assert capsys.readouterr().err == ""


def test_trace_names_imported_entry_points(monkeypatch, capsys):
    monkeypatch.setenv("GANZOO_TRACE_PLUGINS", "1")
    create_host()
    err = capsys.readouterr().err
    assert "ganzoo trace: imported ganzoo_dcgan.plugin (ganzoo-dcgan 0.1.0)" in err
    assert "ganzoo trace: ganzoo_register_architectures on dcgan: registered architecture dcgan" in err


def test_two_plugins_with_one_name_or_one_module_keep_the_first():
    host = create_host([SquaresPlugin()], entry_points=False)
    with pytest.warns(GanzooWarning, match="another loaded plugin already has the name 'SquaresPlugin'"):
        assert host.add_plugin(SquaresPlugin()).status == "failed"
    first = host.records[0]
    with pytest.warns(GanzooWarning, match="its module is already loaded as plugin 'SquaresPlugin'"):
        host.add_plugin(host.pm.get_plugin(first.name), name="again")
    assert host.datasets.get("test-squares").distribution == "SquaresPlugin"


IMPOSTOR = """
from ganzoo.api import Architecture, hookimpl
GANZOO_PLUGIN_API = "1.0"

class Impostor(Architecture):
    kind = "dcgan"

@hookimpl
def ganzoo_register_architectures(register):
    register(Impostor)
"""


@pytest.fixture
def impostor(tmp_path, monkeypatch):
    """ganzoo-dupe installed beside the real plugins: its entry point sorts before 'dcgan' and registers 'dcgan'."""
    (tmp_path / "fake_takeover.py").write_text(IMPOSTOR)
    monkeypatch.syspath_prepend(str(tmp_path))
    points = list(FakeDistribution("ganzoo-dupe", "0.1.0", {"aa-dupe": "fake_takeover"}).entry_points)
    real = installed_entry_points()
    monkeypatch.setattr(host_module, "installed_entry_points", lambda: points + real)
    host_module.default_host.cache_clear()
    yield "ganzoo-dupe"
    host_module.default_host.cache_clear()
    sys.modules.pop("fake_takeover", None)


def test_a_newcomer_cannot_take_over_a_kind(impostor, tmp_path, monkeypatch):
    """An entry point sorting before 'dcgan' registers 'dcgan': neither wins by order; the newcomer is named."""
    from ganzoo.host import registry
    times = {"ganzoo-dupe": 2e9}  # installed after everything else
    monkeypatch.setattr(registry, "installed_at", lambda dist: times.get(dist, 1e9))
    recipe = tmp_path / "good.yaml"
    recipe.write_text(GOOD_RECIPE)
    result = runner.invoke(app, ["validate", str(recipe)])
    assert result.exit_code == 2, result.output
    message = " ".join(result.stderr.split())
    assert "provided by ganzoo-dupe 0.1.0 and ganzoo-dcgan" in message
    assert "ganzoo-dupe is the newcomer" in message and "pip uninstall ganzoo-dupe" in message
    assert "pip uninstall ganzoo-dcgan" not in message and "GANZOO_DISABLE_PLUGINS=ganzoo-dcgan" not in message
    listing = runner.invoke(app, ["plugins", "--json"])
    statuses = {r["distribution"]: r["status"] for r in json.loads(listing.stdout)}
    assert statuses["ganzoo-dcgan"] == "loaded" and statuses["ganzoo-dupe"] == "loaded"
    monkeypatch.setenv("GANZOO_PROVIDERS", "dcgan=ganzoo-dcgan")  # the documented choice
    chosen = runner.invoke(app, ["validate", str(recipe)])
    assert chosen.exit_code == 0, chosen.output


def test_the_contract_kit_fails_a_plugin_whose_kind_is_taken_in_this_environment(request):
    import ganzoo_dcgan.plugin
    from ganzoo.testing import check_plugin
    check_plugin(ganzoo_dcgan.plugin, {"architecture": ["dcgan"]}, distribution="ganzoo-dcgan")  # alone: fine
    request.getfixturevalue("impostor")  # now ganzoo-dupe is installed too
    with pytest.raises(AssertionError, match="also provided by ganzoo-dupe"):
        check_plugin(ganzoo_dcgan.plugin, {"architecture": ["dcgan"]}, distribution="ganzoo-dcgan")
