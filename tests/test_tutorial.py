"""The plugin tutorial works as written: scaffold, the files it shows, its tests, a recipe, training.

docs/plugins/tutorial.md marks each file it shows with ```LANG file=PATH; these
tests build the plugin from exactly those blocks.
"""
import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ganzoo.errors import RecipeError
from ganzoo.host import create_host
from ganzoo.recipe import load_recipe, resolve
from ganzoo.runner import run_recipe
from ganzoo.scaffold import create
from tests.plugin_packages import run_package_tests

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "plugins" / "tutorial.md"
TEXT = TUTORIAL.read_text()
NAME, TYPE = re.search(r"^ganzoo new-plugin (\S+) --type (\S+)$", TEXT, flags=re.M).groups()
MODULE = "ganzoo_" + NAME.replace("-", "_")
FILES = re.findall(r"```\w+ file=(\S+)\n(.*?)```", TEXT, flags=re.S)
RECIPE = next(path for path, _ in FILES if path.endswith(".yaml"))


def build(folder: Path) -> Path:
    """The plugin as the tutorial's reader ends up with it."""
    create(NAME, TYPE, folder)
    for path, text in FILES:
        (folder / path).write_text(text)
    return folder


def test_tutorial_shows_its_files():
    assert {p for p, _ in FILES} >= {f"{MODULE}/architecture.py", f"{MODULE}/plugin.py", f"tests/test_{NAME}.py"}


@pytest.fixture
def forget_plugin_modules():
    yield
    for name in [n for n in sys.modules if n == MODULE or n.startswith(MODULE + ".")]:
        del sys.modules[name]


def test_tutorial_plugin_passes_its_tests_validates_and_trains(tmp_path, monkeypatch, forget_plugin_modules):
    folder = build(tmp_path / f"ganzoo-{NAME}")
    assert run_package_tests(folder, MODULE) == 0

    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.chdir(folder)
    plugin = importlib.import_module(f"{MODULE}.plugin")
    host = create_host([plugin])
    with pytest.raises(RecipeError) as info:  # not pip-installed here: `requires` says how to fix that
        load_recipe(Path(RECIPE), host)
    shown = re.search(r"^error: (Recipe .* requires what this environment lacks: .*)$", TEXT, flags=re.M).group(1)
    assert str(info.value) == shown

    data = yaml.safe_load(Path(RECIPE).read_text())
    del data["requires"]
    data["run"].update(output_dir=str(tmp_path / "runs"), threads=1)
    data["data"]["size"] = 64
    data["train"] = {"steps": 2, "batch_size": 8, "grid_size": 4}
    data["export"]["count"] = 2
    result = run_recipe(resolve(data, host, source=RECIPE), host)
    assert result.summary["step"] == 2 and len(result.exported) == 2


@pytest.mark.slow
def test_tutorial_plugin_installed_with_pip_is_listed_validates_trains_and_passes(tmp_path):
    """The check the issue asks for, end to end: pip install the plugin, then ganzoo finds it by its entry point.

    Installed with ``pip --target`` into a folder put first on PYTHONPATH, run by this very interpreter: it
    works however the outer environment was made (system Python, a venv, a venv's venv), where a nested
    ``venv --system-site-packages`` saw the base interpreter's packages instead of the outer venv's.
    """
    folder = build(tmp_path / f"ganzoo-{NAME}")
    target = tmp_path / "site"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GANZOO_TENSORBOARD": "0",
           "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}

    def run(*args, cwd=folder):
        done = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    # No downloads when this environment can build the wheel itself (setuptools >= 70.1 builds wheels
    # without the `wheel` package); otherwise pip's isolated build fetches setuptools, as a user's would.
    isolation = [] if _can_build_wheels() else ["--use-pep517"]
    run("-m", "pip", "install", "-q", "--no-deps", "--no-cache-dir", "--target", str(target),
        *(["--no-build-isolation"] if not isolation else isolation), str(folder))
    records = {r["name"]: r for r in json.loads(run("-m", "ganzoo", "plugins", "--json"))}
    assert records[NAME]["distribution"] == f"ganzoo-{NAME}" and records[NAME]["status"] == "loaded"
    assert records[NAME]["provides"] == {"architecture": [NAME]} and records[NAME]["api"] == "1.3"
    assert "OK" in run("-m", "ganzoo", "validate", RECIPE)
    small = ["train.images=null", "train.steps=2", "train.batch_size=8", "train.grid_size=4", "data.size=64",
             "export.count=2", f"run.output_dir={tmp_path / 'runs'}", "run.threads=1"]
    assert "Done: step 2" in run("-m", "ganzoo", "run", RECIPE, *[a for s in small for a in ("--set", s)])
    assert "8 passed" in run("-m", "pytest", "-q", "-p", "no:cacheprovider")  # the entry-point test runs too


def _can_build_wheels() -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    major, minor = (int(x) for x in setuptools.__version__.split(".")[:2])
    if (major, minor) >= (70, 1):
        return True
    try:
        import wheel  # noqa: F401 - older setuptools build wheels through it
        return True
    except ImportError:
        return False
