"""Class-conditional generation end to end: recipe errors, per-class grids, --class, --truncation."""
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from ganzoo.cli import app
from ganzoo.engine.loop import Trainer
from ganzoo.errors import RecipeError
from ganzoo.recipe import build_architecture, resolve
from ganzoo.recipe.build import load_data
from ganzoo.runner import run_recipe
from tests.conftest import tiny_recipe

runner = CliRunner()


def test_conditioning_on_unlabelled_data_is_a_recipe_error(tmp_path, host):
    recipe = tiny_recipe(tmp_path)
    recipe["data"] = {"kind": "folder", "path": str(tmp_path / "imgs"), "resolution": 16}
    (tmp_path / "imgs").mkdir()
    for i in range(3):
        Image.new("RGB", (20, 20), (i * 40, 0, 0)).save(tmp_path / "imgs" / f"{i}.png")
    recipe["architecture"]["conditional"] = True
    with pytest.raises(RecipeError, match="conditional: true needs a labelled dataset"):
        run_recipe(resolve(recipe, host), host)
    assert not (tmp_path / "runs").exists()


def test_per_class_grid_rows_and_generate_by_class(tmp_path, host):
    recipe = tiny_recipe(tmp_path, steps=2, grid_size=16)
    recipe["architecture"]["conditional"] = True
    resolved = resolve(recipe, host)
    data = load_data(resolved, host)
    trainer = Trainer(build_architecture(resolved, host, data.spec), data, resolved.recipe.train.to_settings(), 0,
                      torch.device("cpu"))
    # A 16-image grid has 4 columns: one class per row, cycling through the classes.
    assert trainer.grid_labels.tolist() == [0] * 4 + [1] * 4 + [0] * 4 + [1] * 4
    result = run_recipe(resolved, host)

    # The CLI's host lacks this test's dataset plugin: generating needs only the architecture.
    out = tmp_path / "by-class"
    args = ["generate", str(result.run_dir.path), "-n", "2", "--out", str(out)]
    assert runner.invoke(app, args + ["--class", "class1"]).exit_code == 0
    assert len(list(out.glob("*.png"))) == 2
    bad = runner.invoke(app, args + ["--class", "shoe"])
    assert bad.exit_code == 2 and "Classes: 0 class0, 1 class1" in bad.stderr
    trunc = runner.invoke(app, args + ["--truncation", "0.5"])
    assert trunc.exit_code == 2 and "does not offer this sampling option" in trunc.stderr


def test_truncation_for_stylegan_lite(tmp_path, host):
    recipe = tiny_recipe(tmp_path, steps=2)
    recipe["architecture"] = {"kind": "stylegan-lite", "preset": "tiny"}
    result = run_recipe(resolve(recipe, host), host)
    out = tmp_path / "trunc"
    args = ["generate", str(result.run_dir.path), "-n", "2", "--out", str(out), "--truncation", "0.7"]
    assert runner.invoke(app, args).exit_code == 0
    too_big = runner.invoke(app, args[:-1] + ["1.5"])
    assert too_big.exit_code == 2 and "truncation must be between 0 and 1" in too_big.stderr
    unconditional = runner.invoke(app, args + ["--class", "0"])
    assert unconditional.exit_code == 2 and "not class-conditional" in unconditional.stderr
