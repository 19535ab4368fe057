"""`ganzoo new-plugin`: each plugin type gives a package whose own tests pass; bad input exits 2."""
import pytest
import tomllib
from typer.testing import CliRunner

from ganzoo.cli import app
from ganzoo.scaffold import TYPES
from tests.plugin_packages import run_package_tests

runner = CliRunner()


@pytest.mark.parametrize("type_name", list(TYPES))
def test_each_type_makes_a_package_whose_tests_pass(type_name, tmp_path):
    name = "demo-" + type_name.split("-")[0]
    module = "ganzoo_" + name.replace("-", "_")
    folder = tmp_path / "pkg"
    result = runner.invoke(app, ["new-plugin", name, "--type", type_name, "--dir", str(folder)])
    assert result.exit_code == 0, result.output
    assert f"Created ganzoo-{name} in {folder}" in result.stdout
    project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
    assert project["name"] == f"ganzoo-{name}"
    assert project["entry-points"] == {"ganzoo": {name: f"{module}.plugin"}}
    assert any(dep.startswith("ganzoo>=") for dep in project["dependencies"])
    plugin = (folder / module / "plugin.py").read_text()
    assert 'GANZOO_PLUGIN_API = "1.5"' in plugin and TYPES[type_name].hook in plugin  # the API it is made for
    assert (folder / "README.md").exists() and (folder / ".gitignore").exists()
    assert not list(tmp_path.glob(".pkg.*"))  # the staging folder was renamed into place
    assert run_package_tests(folder, module) == 0


def test_default_folder_is_ganzoo_name_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["new-plugin", "shots", "--type", "dataset"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ganzoo-shots" / "ganzoo_shots" / "dataset.py").exists()
    assert (tmp_path / "ganzoo-shots" / "tests" / "test_shots.py").exists()


def test_an_empty_folder_is_filled(tmp_path):
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["new-plugin", "border", "--type", "postprocessor", "--dir", str(tmp_path / "empty")])
    assert result.exit_code == 0 and (tmp_path / "empty" / "ganzoo_border" / "postprocessor.py").exists()


@pytest.mark.parametrize("name", ["MyGAN", "my_gan", "9lives", "a--b", "trailing-", "x" * 41, "my gan", "ganzoo-foo"])
def test_bad_names_exit_2_and_write_nothing(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["new-plugin", name, "--type", "architecture"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: Plugin name '{name}' is not accepted")
    assert "Traceback" not in result.output and not list(tmp_path.iterdir())


def test_ganzoo_prefix_suggests_the_short_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["new-plugin", "ganzoo-sngan", "--type", "architecture"])
    assert result.exit_code == 2 and "give the short name 'sngan'" in result.stderr


def test_unknown_type_exits_2_with_the_choices(tmp_path):
    result = runner.invoke(app, ["new-plugin", "x", "--type", "postprocesor", "--dir", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "Did you mean 'postprocessor'?" in result.stderr and "feature-extractor" in result.stderr
    assert not (tmp_path / "x").exists()


def test_a_folder_that_is_not_empty_is_refused_and_left_alone(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    result = runner.invoke(app, ["new-plugin", "x", "--type", "dataset", "--dir", str(tmp_path / "taken")])
    assert result.exit_code == 2 and "not empty" in result.stderr
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["notes.txt"]
    (tmp_path / "file").write_text("")
    result = runner.invoke(app, ["new-plugin", "x", "--type", "dataset", "--dir", str(tmp_path / "file")])
    assert result.exit_code == 2 and "is a file" in result.stderr


def test_the_empty_working_directory_itself_can_be_filled(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["new-plugin", "here", "--type", "feature-extractor", "--dir", "."])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [".gitignore", "README.md", "ganzoo_here", "pyproject.toml",
                                                          "tests"]


def test_an_unwritable_place_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("")
    result = runner.invoke(app, ["new-plugin", "x", "--type", "dataset", "--dir", str(tmp_path / "file" / "pkg")])
    assert result.exit_code == 2 and result.stderr.startswith("error: Cannot create")
    assert "Traceback" not in result.output
