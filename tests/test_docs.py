"""Documentation examples run, and every hook is documented and tested."""
import re
from pathlib import Path

import pytest

import ganzoo.host.hookspecs as hookspecs

DOCS = Path(__file__).resolve().parents[1] / "docs"
TESTS = Path(__file__).resolve().parent


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


DOC_FILES = sorted(p for p in DOCS.rglob("*.md") if python_blocks(p))


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: str(p.relative_to(DOCS)))
def test_documentation_examples_run(path, tmp_path):
    namespace = {"__name__": f"docs_{path.stem}", "DOCS_TMP": tmp_path}
    for block in python_blocks(path):
        exec(compile(block, str(path), "exec"), namespace)


HOOKS = [name for name in dir(hookspecs) if name.startswith("ganzoo_")]


def test_there_are_hooks():
    assert len(HOOKS) >= 3


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_with_an_example(hook):
    reference = (DOCS / "plugins" / "hooks.md").read_text()
    section = reference.split(f"## {hook}\n", 1)
    assert len(section) == 2, f"docs/plugins/hooks.md has no '## {hook}' heading"
    body = section[1].split("\n## ", 1)[0]
    assert "```python" in body and hook in body, f"the {hook} section needs a Python example using it"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook):
    uses = [p for p in TESTS.rglob("test_*.py") if p.name != "test_docs.py" and hook in p.read_text()]
    assert uses, f"no test outside test_docs.py exercises {hook}"


def _documented_fields(model, prefix=""):
    from pydantic import BaseModel

    from ganzoo.recipe.validation import model_in
    for name, field in model.model_fields.items():
        nested = model_in(field.annotation)
        yield prefix + name
        if nested is not None and issubclass(nested, BaseModel):
            yield from _documented_fields(nested, f"{prefix}{name}.")


def test_every_recipe_field_is_in_the_reference():
    from ganzoo.recipe import Recipe
    reference = (DOCS / "recipes.md").read_text()
    for dotted in _documented_fields(Recipe):
        if "." not in dotted:
            assert f"## {dotted}\n" in reference, f"docs/recipes.md has no section for {dotted}"
        else:
            parts = dotted.split(".")
            suffixes = {".".join(parts[i:]) for i in range(len(parts))}
            assert any(f"`{s}`" in reference for s in suffixes), f"docs/recipes.md does not document {dotted}"
