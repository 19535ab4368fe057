"""A recipe's `requires`: what is missing or too old is reported with the pip command that fixes it (exit 2)."""
import json

import pytest
from typer.testing import CliRunner

from ganzoo.cli import app
from ganzoo.recipe import recipe_schema
from ganzoo.recipe.requires import pip_command
from ganzoo.rundir import recipe_differences

runner = CliRunner()

RECIPE = """\
requires: {requires}
run: {{name: req, output_dir: {out}, threads: 1}}
data: {{kind: catalogue, resolution: 16, size: 32}}
architecture: {{kind: dcgan, width: 8, z_dim: 16}}
train: {{steps: 2, batch_size: 8, grid_size: 4}}
export: {{count: 1}}
"""


def recipe(tmp_path, requires):
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE.format(requires=json.dumps(requires), out=tmp_path / "runs"))
    return str(path)


@pytest.mark.parametrize("command", ["validate", "run"])
def test_missing_distribution_exits_2_with_the_pip_command(command, tmp_path):
    result = runner.invoke(app, [command, recipe(tmp_path, ["ganzoo-no-such-plugin>=0.1", "ganzoo-dcgan"])])
    assert result.exit_code == 2
    assert ("requires.0 (line 1): ganzoo-no-such-plugin is not installed. "
            "Install with: pip install 'ganzoo-no-such-plugin>=0.1'") in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()  # nothing written


def test_too_old_is_reported_with_installed_and_needed_versions(tmp_path):
    result = runner.invoke(app, ["validate", recipe(tmp_path, ["ganzoo-dcgan>=99", "ganzoo-datasets<0.0.1"])])
    assert result.exit_code == 2
    assert "requires.0 (line 1): ganzoo-dcgan 0.1.0 is installed, >=99 is needed" in result.stderr
    assert "requires.1 (line 1): ganzoo-datasets 0.1.0 is installed, <0.0.1 is needed" in result.stderr
    assert "pip install 'ganzoo-dcgan>=99' 'ganzoo-datasets<0.0.1'" in result.stderr


def test_satisfied_and_other_platform_requirements_pass(tmp_path):
    requires = ["ganzoo-dcgan>=0.1", "GANZOO_DATASETS", "torch", "ganzoo-nowhere; sys_platform == 'no-such-os'"]
    result = runner.invoke(app, ["validate", recipe(tmp_path, requires)])
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("bad", ["ganzoo-sngan>>0.1", "not a name", "", "ganzoo-x[extra"])
def test_malformed_requirement_is_a_recipe_error(bad, tmp_path):
    result = runner.invoke(app, ["validate", recipe(tmp_path, [bad])])
    assert result.exit_code == 2
    assert f"requires.0 (line 1): {bad!r} is not a requirement pip understands" in result.stderr


def test_requires_must_be_a_list_of_strings(tmp_path):
    result = runner.invoke(app, ["validate", recipe(tmp_path, "ganzoo-dcgan")])
    assert result.exit_code == 2 and "requires" in result.stderr


def test_installed_but_not_loaded_plugin_says_why(tmp_path, monkeypatch):
    from ganzoo import host
    monkeypatch.setenv("GANZOO_DISABLE_PLUGINS", "wgan-gp")
    host.default_host.cache_clear()
    try:
        result = runner.invoke(app, ["validate", recipe(tmp_path, ["ganzoo-wgan-gp"])])
    finally:
        host.default_host.cache_clear()
    assert result.exit_code == 2
    assert "ganzoo-wgan-gp is installed but its plugin 'wgan-gp' is disabled" in result.stderr
    assert "pip install" not in result.stderr  # pip would not help


def test_pip_command_quotes_for_the_shell():
    assert pip_command(["a>=1", "b"]) == "pip install 'a>=1' 'b'"
    assert pip_command(["c; python_version >= '3.10'"]) == """pip install 'c; python_version >= '"'"'3.10'"'"''"""


def test_a_resumed_run_may_change_requires():
    assert recipe_differences({"requires": [], "train": {}}, {"requires": ["ganzoo-dcgan"], "train": {}}) == []
    assert recipe_differences({"train": {}}, {"requires": [], "train": {}}) == []  # runs from before `requires`


def test_schema_documents_requires(host):
    assert recipe_schema(host)["properties"]["requires"]["type"] == "array"


def test_brackets_in_the_pip_command_survive_the_terminal(tmp_path):
    result = runner.invoke(app, ["validate", recipe(tmp_path, ["ganzoo-no-such-plugin[extra]>=1"])])
    assert result.exit_code == 2 and "pip install 'ganzoo-no-such-plugin[extra]>=1'" in result.stderr
