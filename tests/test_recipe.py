"""Recipes: validation messages name file, field, value and what is accepted."""
import json

import pytest

from ganzoo.errors import RecipeError
from ganzoo.recipe import apply_overrides, load_recipe, recipe_schema, resolve
from ganzoo.rundir import recipe_differences
from tests.conftest import tiny_recipe


def write(tmp_path, text):
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return path


GOOD = """\
run: {seed: 1}
data: {kind: test-squares, resolution: 16, size: 8}
architecture:
  kind: dcgan
  width: 8
train: {steps: 3}
"""


def test_good_recipe_resolves_with_defaults(tmp_path, host):
    resolved = load_recipe(write(tmp_path, GOOD), host)
    data = resolved.to_dict()
    assert data["run"]["name"] == "recipe"  # defaults to the file name
    assert data["architecture"] == {"kind": "dcgan", "z_dim": 100, "width": 8, "max_width": 512, "lr": 2e-4,
                                    "conditional": False, "embed_dim": 32}
    assert data["data"] == {"kind": "test-squares", "resolution": 16, "channels": None, "size": 8, "classes": 2,
                            "cache": True, "memory_share": 0.5, "decode_workers": 0}
    assert data["train"]["amp"] == "off" and data["export"]["count"] == 64
    assert resolved.providers["architecture"].startswith("ganzoo-dcgan")
    # The resolved form is itself a valid recipe (run directories are resumed from it).
    assert resolve(data, host).to_dict() == data


def test_unknown_plugin_field_suggests_and_lists(tmp_path, host):
    path = write(tmp_path, GOOD.replace("width: 8", "widht: 8"))
    with pytest.raises(RecipeError) as info:
        load_recipe(path, host)
    message = str(info.value)
    assert str(path) in message and "architecture.widht (line 5)" in message
    assert "Did you mean 'width'" in message and "Accepted fields: z_dim, width, max_width, lr" in message


def test_bad_value_names_value_and_accepted(tmp_path, host):
    with pytest.raises(RecipeError, match=r"train.amp \(line 6\): got 'fp32'; Input should be 'off', 'bf16' or 'fp16'"):
        load_recipe(write(tmp_path, GOOD.replace("steps: 3", "steps: 3, amp: fp32")), host)


def test_unknown_section_field_lists_accepted(tmp_path, host):
    with pytest.raises(RecipeError, match=r"train.stpes .*Did you mean 'steps'"):
        load_recipe(write(tmp_path, GOOD.replace("steps: 3", "stpes: 3")), host)


def test_unknown_kind_suggests(tmp_path, host):
    with pytest.raises(RecipeError, match=r"architecture.kind \(line 4\).*Did you mean 'dcgan'"):
        load_recipe(write(tmp_path, GOOD.replace("kind: dcgan", "kind: dcgna")), host)


def test_yaml_syntax_error_gives_line_and_column(tmp_path, host):
    with pytest.raises(RecipeError, match=r"not valid YAML at line 2, column \d+"):
        load_recipe(write(tmp_path, "run: {seed: 1\ndata: [\n"), host)


def test_exactly_one_budget(tmp_path, host):
    with pytest.raises(RecipeError, match="exactly one budget"):
        load_recipe(write(tmp_path, GOOD.replace("steps: 3", "steps: 3, images: 100")), host)


def test_missing_section(tmp_path, host):
    with pytest.raises(RecipeError, match="architecture: this field is required"):
        load_recipe(write(tmp_path, "data: {kind: test-squares}\ntrain: {steps: 1}\n"), host)


def test_overrides(tmp_path, host):
    resolved = load_recipe(write(tmp_path, GOOD), host, ["train.steps=200", "train.optimizer.generator.betas=[0, 0.9]"])
    assert resolved.recipe.train.steps == 200
    assert resolved.recipe.train.optimizer.generator.betas == (0.0, 0.9)
    with pytest.raises(RecipeError, match="section.field=value"):
        apply_overrides({}, ["train.steps"], "r.yaml")
    with pytest.raises(RecipeError, match="train.steps in r.yaml is a value"):
        apply_overrides({"train": {"steps": 1}}, ["train.steps.x=1"], "r.yaml")


def test_schema_has_each_plugins_config(host):
    schema = recipe_schema(host)
    text = json.dumps(schema)
    assert '"const": "dcgan"' in text and "max_width" in text and "test-squares" in text
    assert schema["required"] == ["data", "architecture", "train"]


def test_recipe_differences_ignore_budget(tmp_path, host):
    a = resolve(tiny_recipe(tmp_path), host).to_dict()
    b = json.loads(json.dumps(a))
    b["train"]["steps"] = 99
    b["export"]["count"] = 1
    assert recipe_differences(a, b) == []
    b["architecture"]["width"] = 16
    assert recipe_differences(a, b) == ["architecture.width: 8 -> 16"]


def test_train_section_defaults_are_the_engine_settings_defaults():
    from ganzoo.engine import Budget, TrainSettings
    from ganzoo.recipe import TrainSection
    for budget in ({"steps": 3}, {"images": 100}, {"wall_clock": 1.5}):
        settings = TrainSection(**budget).to_settings()
        assert settings.budget == Budget(**budget)
        plain = TrainSettings(Budget(**budget))
        assert {k: v for k, v in vars(settings).items() if k != "optimizers"} == \
            {k: v for k, v in vars(plain).items() if k != "optimizers"}


def test_train_section_optimizer_overrides_reach_the_engine():
    from ganzoo.api import OptimizerSettings
    from ganzoo.recipe import TrainSection
    section = TrainSection(steps=1, optimizer={"generator": {"lr": 0.001, "betas": [0.0, 0.99]},
                                               "discriminator": {"weight_decay": 0.0}})
    settings = section.to_settings()
    suggested = OptimizerSettings(lr=2e-4, betas=(0.5, 0.999), weight_decay=0.1)
    assert settings.optimizer("generator", suggested) == OptimizerSettings(lr=0.001, betas=(0.0, 0.99),
                                                                           weight_decay=0.1)
    assert settings.optimizer("discriminator", suggested).weight_decay == 0.0


def test_budget_needs_exactly_one_value():
    from ganzoo.engine import Budget
    with pytest.raises(ValueError, match="exactly one budget"):
        Budget()
    with pytest.raises(ValueError, match="exactly one budget"):
        Budget(steps=1, images=2)
    assert Budget(images=10).reached_at({"step": 1, "images_seen": 10, "elapsed": 0.0})
    assert not Budget(wall_clock=5).reached_at({"step": 1, "images_seen": 10, "elapsed": 9.0, "eval_seconds": 6.0})


def test_an_unknown_data_field_lists_the_common_fields_too(tmp_path, host):
    recipe = tiny_recipe(tmp_path)
    recipe["data"]["resolutoin"] = 16
    with pytest.raises(RecipeError) as caught:
        resolve(recipe, host)
    message = str(caught.value)
    assert "data.resolutoin: unknown field 'resolutoin'" in message
    assert "Did you mean 'resolution'" in message and "resolution, channels" in message


def test_fields_added_later_read_as_off_in_older_run_directories():
    before = {"train": {"steps": 10}}  # written before init and freeze_discriminator existed
    now = {"train": {"steps": 10, "freeze_discriminator": 0}, "init": None}
    assert recipe_differences(before, now) == []
    frozen = {"train": {"steps": 10, "freeze_discriminator": 2}, "init": {"path": "runs/parent"}}
    assert recipe_differences(before, frozen) == ['init: "<absent>" -> {"path": "runs/parent"}',
                                                  'train.freeze_discriminator: "<absent>" -> 2']
