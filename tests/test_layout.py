"""The package map of docs/design.md, checked: each part of ganzoo imports only what the map allows.

Every import counts, also those inside functions (they still couple the modules).
"""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ganzoo"

# Parts of ganzoo, lowest first; each may import itself and the parts listed for it (never a higher part).
CONTRACT = ("ganzoo", "ganzoo.errors", "ganzoo.api", "ganzoo.api.config", "ganzoo.api.data", "ganzoo.api.architecture",
            "ganzoo.api.postprocess", "ganzoo.api.features", "ganzoo.api.inversion", "ganzoo.losses", "ganzoo.nn",
            "ganzoo.fileio", "ganzoo.provenance", "ganzoo.host.hookspecs", "ganzoo.datacache", "ganzoo.datacache.cache",
            "ganzoo.datacache.store", "ganzoo.datacache.parallel")
ALLOWED = {
    "contract": set(),
    "ganzoo.host": {"contract"},
    "ganzoo.engine": {"contract"},
    "ganzoo.recipe": {"contract", "ganzoo.host", "ganzoo.engine"},
    "ganzoo.rundir": {"contract", "ganzoo.host", "ganzoo.engine", "ganzoo.recipe"},
    "ganzoo.export": {"contract", "ganzoo.host", "ganzoo.engine", "ganzoo.recipe"},
    "ganzoo.metrics": {"contract", "ganzoo.host", "ganzoo.engine", "ganzoo.recipe", "ganzoo.rundir", "ganzoo.export"},
    "ganzoo.inversion": {"contract", "ganzoo.host", "ganzoo.engine", "ganzoo.recipe", "ganzoo.rundir",
                         "ganzoo.export", "ganzoo.metrics"},
    "ganzoo.runner": {"contract", "ganzoo.host", "ganzoo.engine", "ganzoo.recipe", "ganzoo.rundir", "ganzoo.export",
                      "ganzoo.metrics"},
    "ganzoo.compare": {"contract", "ganzoo.host", "ganzoo.engine", "ganzoo.recipe", "ganzoo.rundir", "ganzoo.export",
                       "ganzoo.metrics", "ganzoo.runner"},
    "ganzoo.scaffold": {"contract", "ganzoo.host"},
    "ganzoo.testing": {"contract", "ganzoo.host", "ganzoo.engine", "ganzoo.recipe", "ganzoo.rundir", "ganzoo.export"},
    "ganzoo.cli": {"contract", "ganzoo.host", "ganzoo.engine", "ganzoo.recipe", "ganzoo.rundir", "ganzoo.export",
                   "ganzoo.metrics", "ganzoo.runner", "ganzoo.compare", "ganzoo.scaffold", "ganzoo.inversion"},
    "ganzoo.__main__": {"ganzoo.cli"},
}


def part_of(module: str) -> str:
    if module in CONTRACT:
        return "contract"
    for part in sorted(ALLOWED, key=len, reverse=True):
        if module == part or module.startswith(part + "."):
            return part
    raise AssertionError(f"{module} belongs to no part of the map: add it to tests/test_layout.py and docs/design.md")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path):
    """(line, module) of every ganzoo module imported by ``path`` (``from ganzoo import x`` counts as ganzoo.x
    when x is a module)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "ganzoo":
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "ganzoo":
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                is_module = (ROOT / (candidate.replace(".", "/") + ".py")).exists() or \
                    (ROOT / candidate.replace(".", "/") / "__init__.py").exists()
                yield node.lineno, candidate if is_module else node.module


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_belongs_to_a_part():
    for path in SOURCES:
        part_of(module_name(path))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_follow_the_package_map(path):
    me = module_name(path)
    mine = part_of(me)
    for line, module in imported(path):
        theirs = part_of(module)
        assert theirs == mine or theirs in ALLOWED[mine], (
            f"{path.relative_to(ROOT)}:{line} imports {module} ({theirs}), but {mine} may import only "
            f"{', '.join(sorted(ALLOWED[mine] | {mine}))} (docs/design.md)")


def test_the_engine_knows_no_recipe_and_no_run_directory():
    for path in sorted((PACKAGE / "engine").rglob("*.py")):
        for line, module in imported(path):
            assert part_of(module) == "contract" or module.startswith("ganzoo.engine"), f"{path}:{line}: {module}"


COMMAND_MODULES = ["train", "images", "metrics", "compare", "plugins", "directions", "nearest", "inversion"]
HELPERS = {"common", "progress", "torchrun"}  # what command modules share


@pytest.mark.parametrize("name", COMMAND_MODULES)
def test_command_modules_import_only_shared_helpers(name):
    for line, module in imported(PACKAGE / "cli" / f"{name}.py"):
        if module.startswith("ganzoo.cli."):
            assert module.rsplit(".", 1)[1] in HELPERS, f"ganzoo/cli/{name}.py:{line} imports {module}"


def test_every_command_module_imports_alone_and_registers_its_commands():
    script = """
import sys, typer
import importlib
for name in %r:
    for key in [k for k in sys.modules if k.startswith("ganzoo")]:
        del sys.modules[key]
    module = importlib.import_module("ganzoo.cli." + name)
    assert "ganzoo.cli.wiring" not in sys.modules, name + " pulled in the whole app"
    app = typer.Typer()
    module.register(app)
    commands = [c.name or c.callback.__name__ for c in app.registered_commands]
    groups = [g.name for g in app.registered_groups]
    print(name, sorted(commands + groups))
""" % (COMMAND_MODULES,)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    registered = dict(line.split(" ", 1) for line in result.stdout.strip().splitlines())
    assert set(registered) == set(COMMAND_MODULES)
    assert "features" in registered["metrics"] and "new-plugin" in registered["plugins"]


def test_wiring_registers_every_command_module():
    from ganzoo.cli import wiring
    assert {m.__name__.rsplit(".", 1)[1] for m in wiring.COMMAND_MODULES} == set(COMMAND_MODULES)
    assert sorted(p.stem for p in (PACKAGE / "cli").glob("*.py")) == sorted(
        COMMAND_MODULES + sorted(HELPERS) + ["__init__", "wiring"]), "a new ganzoo/cli module: is it a command module?"


def test_root_holds_only_plugin_author_modules_and_the_run_orchestration():
    root = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert root == ["__init__", "__main__", "errors", "fileio", "losses", "nn", "provenance", "rundir",
                    "runner"], "a new module in ganzoo/: does it belong in a sub-package?"
