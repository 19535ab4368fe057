"""Fine-tuning from a trained run (recipe `init`) and FreezeD (`train.freeze_discriminator`)."""
import hashlib
import json
import re
import shutil
import warnings

import pytest
import torch
import yaml
from safetensors.torch import load_file
from typer.testing import CliRunner

from ganzoo.api import hookimpl
from ganzoo.cli import app
from ganzoo.compare.recipe import load_compare
from ganzoo.engine import Trainer
from ganzoo.engine.finetune import is_class_tensor, match
from ganzoo.errors import GanzooWarning, RecipeError
from ganzoo.host import create_host
from ganzoo.recipe import build_architecture, load_data, resolve
from ganzoo.recipe.finetune import check_finetune
from ganzoo.rundir import RunDir
from ganzoo.runner import run_recipe
from ganzoo_dcgan.architecture import DCGAN
from tests.conftest import SquaresPlugin, tiny_recipe

runner = CliRunner()


def parent_run(tmp_path, host, **architecture):
    recipe = tiny_recipe(tmp_path, steps=4, checkpoint_every=4)
    recipe["run"]["name"] = "parent"
    recipe["architecture"].update(architecture)
    recipe["export"]["count"] = 0
    return run_recipe(resolve(recipe, host), host).run_dir


def child_recipe(tmp_path, parent: RunDir, name="child", **train):
    recipe = tiny_recipe(tmp_path, **{"steps": 2, **train})
    recipe["run"].update(name=name, seed=5)
    recipe["init"] = {"path": str(parent.path)}
    recipe["export"]["count"] = 0
    return recipe


def trainer_for(recipe, host, quiet=True):
    """A child's trainer as `ganzoo run` builds it, before its first step."""
    resolved = resolve(recipe, host)
    data = load_data(resolved, host)
    architecture = build_architecture(resolved, host, data.spec)
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore", GanzooWarning)
        init = check_finetune(resolved, architecture)
    return Trainer(architecture, data, resolved.recipe.train.to_settings(), resolved.recipe.run.seed,
                   torch.device("cpu"), init=init)


def parent_tensors(parent: RunDir, network: str) -> dict:
    latest = json.loads((parent.checkpoints / "latest.json").read_text())
    weights = load_file(str(parent.checkpoints / latest["weights"]))
    return {k[len(network) + 1:]: v for k, v in weights.items() if k.startswith(network + ".")}


def assert_same(module, tensors, skip=()):
    own = module.state_dict()
    assert own.keys() == tensors.keys()
    for key, value in tensors.items():
        if key not in skip:
            assert torch.equal(own[key], value), key


def test_class_tensors_are_those_that_differ_only_in_the_class_count():
    assert is_class_tensor((2, 16), (3, 16), 2, 3)
    assert is_class_tensor((16, 2), (16, 3), 2, 3)  # StyleGAN-lite's embedding holds classes in dimension 1
    assert not is_class_tensor((2, 16), (3, 32), 2, 3)
    assert not is_class_tensor((2, 16), (2, 16), 2, 2)
    mismatches, classes = match({"a": (2, 8), "b": (4,), "gone": (1,)}, {"a": (3, 8), "b": (5,), "new": (1,)}, 2, 3)
    assert classes == ["a"]
    assert [(m.name, m.saved, m.wanted) for m in mismatches] == [("b", (4,), (5,)), ("gone", (1,), None),
                                                                 ("new", None, (1,))]


def test_a_child_starts_at_step_0_from_the_parents_weights(tmp_path, host):
    parent = parent_run(tmp_path / "p", host)
    trainer = trainer_for(child_recipe(tmp_path, parent), host)
    assert trainer.step == 0 and trainer.images_seen == 0
    assert all(not opt.state for opt in trainer.optimizers.values())  # fresh optimisers
    assert_same(trainer.generator, parent_tensors(parent, "generator"))
    assert_same(trainer.discriminator, parent_tensors(parent, "discriminator"))
    assert_same(trainer.ema.module, parent_tensors(parent, "generator_ema"))

    without_ema = child_recipe(tmp_path, parent)
    without_ema["init"]["ema"] = False
    trainer = trainer_for(without_ema, host)
    assert_same(trainer.ema.module, parent_tensors(parent, "generator"))  # the EMA starts from the loaded G


def test_a_fine_tuned_run_records_its_parent_and_resumes_without_it(tmp_path, host):
    parent = parent_run(tmp_path / "p", host)
    weights = parent.checkpoints / json.loads((parent.checkpoints / "latest.json").read_text())["weights"]
    straight = run_recipe(resolve(child_recipe(tmp_path / "a", parent, steps=4, freeze_discriminator=1), host), host)

    halves = child_recipe(tmp_path / "b", parent, steps=2, freeze_discriminator=1)
    first = run_recipe(resolve(halves, host), host)
    assert first.summary == {**first.summary, "step": 2, "resumed": False}
    info = first.run_dir.read_info()["init"]
    assert info["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert info["checkpoint"] == str(weights.resolve()) and info["source"] == str(parent.path)
    assert info["images_seen"] == 32 and info["step"] == 4  # 4 steps of batch 8
    assert info["networks"] == ["generator", "discriminator", "generator_ema"] and info["reinitialised"] == []

    shutil.rmtree(parent.path)  # resuming uses the child's own checkpoint: the parent is not read again
    halves["train"]["steps"] = 4
    second = run_recipe(resolve(halves, host), host)
    assert second.summary["resumed"] and second.summary["steps_this_session"] == 2
    assert second.run_dir.read_info()["init"] == info
    a, b = (load_file(str(next(r.run_dir.checkpoints.glob("step-00000004.safetensors")))) for r in (straight, second))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # same trajectory as the straight run


def test_another_class_count_reinitialises_only_the_class_embeddings_with_one_warning(tmp_path, host):
    parent = parent_run(tmp_path / "p", host, conditional=True)
    child = child_recipe(tmp_path, parent)
    child["architecture"]["conditional"] = True
    child["data"]["classes"] = 3
    with pytest.warns(GanzooWarning) as caught:
        trainer = trainer_for(child, host, quiet=False)
    assert len(caught) == 1
    message = str(caught[0].message)
    for name in ("generator.embed.weight", "discriminator.embed.weight", "generator_ema.embed.weight"):
        assert name in message
    assert "2 classes (class0, class1)" in message and "3 (class0, class1, class2)" in message
    assert_same(trainer.generator, parent_tensors(parent, "generator"), skip=("embed.weight",))
    assert_same(trainer.discriminator, parent_tensors(parent, "discriminator"), skip=("embed.weight",))
    child.pop("init")
    scratch = trainer_for(child, host)  # the same seed from scratch: the embeddings are its fresh ones
    assert torch.equal(trainer.generator.embed.weight, scratch.generator.embed.weight)
    assert torch.equal(trainer.discriminator.embed.weight, scratch.discriminator.embed.weight)


# ------------------------------------------------------------------ FreezeD

FREEZE = {
    "dcgan": ({"kind": "dcgan", "width": 8, "z_dim": 16}, 2),
    "wgan-gp": ({"kind": "wgan-gp", "width": 8, "z_dim": 16, "n_critic": 2}, 2),
    "sngan": ({"kind": "sngan", "g_width": 8, "d_width": 8, "z_dim": 16, "n_dis": 2}, 3),
    "stylegan-lite": ({"kind": "stylegan-lite", "preset": "tiny", "r1_every": 2}, 2),
}


@pytest.mark.parametrize("name", FREEZE)
def test_frozen_discriminator_blocks_stay_bit_identical(tmp_path, host, name):
    architecture, blocks = FREEZE[name]
    recipe = tiny_recipe(tmp_path, steps=3, freeze_discriminator=1,
                         optimizer={"discriminator": {"name": "adamw", "weight_decay": 0.1}})
    recipe["architecture"] = architecture
    resolved = resolve(recipe, host)
    data = load_data(resolved, host)
    arch = build_architecture(resolved, host, data.spec)
    trainer = Trainer(arch, data, resolved.recipe.train.to_settings(), 0, torch.device("cpu"))
    found = arch.discriminator_blocks(trainer.discriminator)
    assert len(found) == blocks  # at 16 px
    own = {id(p) for p in trainer.discriminator.parameters()}
    assert all(id(p) in own for block in found for p in block.parameters())
    frozen = {id(p) for p in found[0].parameters()}
    assert frozen and {id(p) for p in trainer.frozen} == frozen
    before = {k: v.clone() for k, v in trainer.discriminator.named_parameters()}
    trainer.run()
    optimised = {id(p) for group in trainer.optimizers["discriminator"].param_groups for p in group["params"]}
    assert not optimised & frozen  # weight decay and Adam's moments never see them
    after = dict(trainer.discriminator.named_parameters())
    for key, param in after.items():
        if id(param) in frozen:
            assert torch.equal(param, before[key]) and not param.requires_grad, key
    assert any(not torch.equal(p, before[k]) for k, p in after.items() if id(p) not in frozen)


class NoBlocks(DCGAN):
    kind = "no-blocks"

    def discriminator_blocks(self, discriminator):
        return None


class NoBlocksPlugin:
    @hookimpl
    def ganzoo_register_architectures(self, register):
        register(NoBlocks)


def test_freezing_needs_an_architecture_that_names_its_blocks(tmp_path):
    host = create_host([SquaresPlugin(), NoBlocksPlugin()])
    recipe = tiny_recipe(tmp_path, freeze_discriminator=1)
    recipe["architecture"]["kind"] = "no-blocks"
    resolved = resolve(recipe, host)
    architecture = build_architecture(resolved, host, load_data(resolved, host).spec)
    with pytest.raises(RecipeError, match="'no-blocks' does not name its discriminator blocks .* Set "
                                          "train.freeze_discriminator: 0"):
        check_finetune(resolved, architecture)


def test_freezing_without_init_warns(tmp_path, host):
    resolved = resolve(tiny_recipe(tmp_path, freeze_discriminator=1), host)
    architecture = build_architecture(resolved, host, load_data(resolved, host).spec)
    with pytest.warns(GanzooWarning, match="randomly initialised discriminator"):
        assert check_finetune(resolved, architecture) is None


# ------------------------------------------------------------------ bad input, through the CLI

RECIPE = """\
run: {{name: {name}, output_dir: {out}, seed: 0, threads: 1}}
data: {{kind: catalogue, resolution: 16, size: 32}}
architecture: {{kind: {kind}, width: {width}, z_dim: 16}}
train: {{steps: 2, batch_size: 16, log_every: 2, sample_every: 2, checkpoint_every: 2, grid_size: 4,
         freeze_discriminator: {freeze}}}
export: {{count: 0}}
"""


@pytest.fixture(scope="module")
def cli_parent(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("parent")
    path = tmp / "parent.yaml"
    path.write_text(RECIPE.format(name="parent", out=tmp / "runs", kind="dcgan", width=8, freeze=0))
    assert runner.invoke(app, ["run", str(path)]).exit_code == 0
    return tmp / "runs" / "parent"


def _truncated(tmp, parent):
    weights = next((parent / "checkpoints").glob("*.safetensors"))
    cut = tmp / "cut.safetensors"
    cut.write_bytes(weights.read_bytes()[:4000])
    return cut


def _text(tmp, parent):
    path = tmp / "weights.safetensors"
    path.write_text("not weights\n")
    return path


def _empty_folder(tmp, parent):
    (tmp / "empty").mkdir()
    return tmp / "empty"


BAD = {
    "missing run": (lambda tmp, parent: tmp / "nowhere", {}, r"init.path: '.*nowhere' does not exist"),
    "other architecture": (None, {"kind": "wgan-gp"}, r"holds a 'dcgan' run, but this recipe's architecture is "
                                                      r"'wgan-gp'"),
    "other config": (None, {"width": 16}, r"tensor\(s\) differ: generator\.net\.0\.weight: saved \(16, 16, 4, 4\), "
                                          r"wanted \(16, 32, 4, 4\).*width: 8 in the parent, 16 here"),
    "truncated checkpoint": (_truncated, {}, r"Cannot read checkpoint weights .*cut.safetensors.*damaged or not a "
                                             r"safetensors file; init needs a ganzoo checkpoint"),
    "not safetensors": (_text, {}, r"damaged or not a safetensors file"),
    "folder without checkpoint": (_empty_folder, {}, r"is a folder but no run directory with a checkpoint"),
    "too many frozen blocks": (None, {"freeze": 3}, r"train.freeze_discriminator: got 3, but the 'dcgan' "
                                                    r"discriminator has 2 blocks at this resolution; choose 0 to 2"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_init_or_freeze_exits_2_before_writing_anything(tmp_path, cli_parent, case):
    make_path, fields, message = BAD[case]
    init = make_path(tmp_path, cli_parent) if make_path else cli_parent
    path = tmp_path / "child.yaml"
    path.write_text(RECIPE.format(**{"name": "child", "out": tmp_path / "runs", "kind": "dcgan", "width": 8,
                                     "freeze": 0, **fields}) + f"init: {init}\n")
    for command in ("validate", "run"):
        result = runner.invoke(app, [command, str(path)])
        assert result.exit_code == 2, (command, result.output)
        assert "Traceback" not in result.output
        assert f"Recipe {path} is invalid" in " ".join(result.output.split())
        assert re.search(message, " ".join(result.output.split())), result.output
    assert not (tmp_path / "runs").exists()


def test_validate_names_the_parent(tmp_path, cli_parent):
    path = tmp_path / "child.yaml"
    path.write_text(RECIPE.format(name="child", out=tmp_path / "runs", kind="dcgan", width=8, freeze=1)
                    + f"init: {{path: {cli_parent}, ema: false}}\n")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "Init: generator, discriminator from" in " ".join(result.output.split())


# ------------------------------------------------------------------ compare

def test_a_compare_entry_may_start_from_a_parent(tmp_path, host):
    spec = {"data": {"kind": "test-squares", "resolution": 16, "size": 48}, "budget": {"images": 32},
            "eval": {"extractor": "inception"},
            "entries": [{"name": "scratch", "architecture": {"kind": "dcgan", "width": 8}},
                        {"name": "tuned", "architecture": {"kind": "dcgan", "width": 8},
                         "init": {"path": "runs/parent", "discriminator": False}}]}
    path = tmp_path / "compare.yaml"
    path.write_text(yaml.safe_dump(spec))
    compare = load_compare(path, host)
    inits = {run.entry: run.resolved.recipe.init for run in compare.runs}
    assert inits["scratch"] is None
    assert inits["tuned"].path == "runs/parent" and not inits["tuned"].discriminator
    assert compare.runs[1].recipe["init"] == {"path": "runs/parent", "discriminator": False}
