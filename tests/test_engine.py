"""Engine behaviour beyond resume: budgets, precision, EMA, channels, divergence, lazy phases."""
import json

import pytest
import torch

from ganzoo.api import Phase
from ganzoo.engine import checkpoint
from ganzoo.engine.loop import TrainingDiverged
from ganzoo.errors import RecipeError
from ganzoo.recipe import resolve
from ganzoo.runner import run_recipe
from ganzoo_dcgan import DCGAN
from tests.conftest import tiny_recipe


def records(result):
    return [json.loads(line) for line in result.run_dir.stats_file.read_text().splitlines()]


def test_image_budget_counts_real_images(tmp_path, host):
    recipe = tiny_recipe(tmp_path, steps=None, images=100)
    result = run_recipe(resolve(recipe, host), host)
    assert result.summary["step"] == 13 and result.summary["images_seen"] == 104


def test_bf16_autocast_trains_on_cpu(tmp_path, host):
    result = run_recipe(resolve(tiny_recipe(tmp_path, steps=2, amp="bf16"), host), host)
    assert all(torch.isfinite(torch.tensor(r["D/loss"])) for r in records(result))


def test_fp16_needs_cuda(tmp_path, host):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(RecipeError, match="fp16 training needs CUDA"):
        run_recipe(resolve(tiny_recipe(tmp_path, amp="fp16"), host), host)
    assert not (tmp_path / "runs" / "tiny").exists()  # refused before anything was written


def test_ema_is_saved_and_differs_and_can_be_off(tmp_path, host):
    result = run_recipe(resolve(tiny_recipe(tmp_path, steps=4), host), host)
    weights = checkpoint.latest(result.run_dir.checkpoints).weights
    assert checkpoint.network_names(weights) == {"generator", "discriminator", "generator_ema"}
    recipe = tiny_recipe(tmp_path / "off", steps=2, ema={"enabled": False})
    result = run_recipe(resolve(recipe, host), host)
    assert (checkpoint.network_names(checkpoint.latest(result.run_dir.checkpoints).weights)
            == {"generator", "discriminator"})


def test_ema_rampup_caps_the_half_life_early_on():
    from ganzoo.engine.ema import EMA
    net = torch.nn.Linear(2, 2)
    plain, ramped = EMA(net, 10_000, 32), EMA(net, 10_000, 32, rampup=0.05)
    assert plain.beta(320) == pytest.approx(0.5 ** (32 / 10_000))
    assert ramped.beta(320) == pytest.approx(0.5 ** (32 / 16))  # half-life 0.05 x 320 images
    assert ramped.beta(1_000_000) == plain.beta(1_000_000)  # capped by half_life_images later
    source = torch.nn.Linear(2, 2)
    ramped.update(source, images_seen=0)  # half-life 0: the average jumps to the live weights
    assert torch.equal(ramped.module.weight, source.weight)


def test_ema_rampup_out_of_range_is_a_recipe_error(tmp_path, host):
    with pytest.raises(RecipeError, match=r"train\.ema\.rampup"):
        resolve(tiny_recipe(tmp_path, ema={"rampup": 2}), host)


def test_checkpoint_metadata_rebuilds_the_model(tmp_path, host):
    result = run_recipe(resolve(tiny_recipe(tmp_path, steps=2), host), host)
    meta = checkpoint.read_metadata(checkpoint.latest(result.run_dir.checkpoints).weights)
    assert meta["kind"] == "dcgan" and meta["architecture_config"]["width"] == 8
    assert meta["image"] == {"resolution": 16, "channels": 3, "class_names": ["class0", "class1"]}


def test_channels_are_converted(tmp_path, host):
    recipe = tiny_recipe(tmp_path, steps=1)
    recipe["data"]["channels"] = 1
    result = run_recipe(resolve(recipe, host), host)
    meta = checkpoint.read_metadata(checkpoint.latest(result.run_dir.checkpoints).weights)
    assert meta["image"]["channels"] == 1


class NaNGAN(DCGAN):
    kind = "test-nan"

    def phases(self):
        def nan_loss(x):
            return {"loss": x.discriminator(x.real).mean() * float("nan")}
        return [Phase("D", "discriminator", nan_loss)]


class LazyGAN(DCGAN):
    kind = "test-lazy"

    def phases(self):
        def constant(x):
            return {"loss": x.discriminator(x.real).mean() * 0, "marker": torch.tensor(1.0)}
        return [*super().phases(), Phase("Dreg", "discriminator", constant, every=2)]


def _host_with(host, cls):
    host.architectures.add(cls, "tests")
    return host


def test_divergence_is_a_clear_error(tmp_path, host):
    recipe = tiny_recipe(tmp_path, steps=4)
    recipe["architecture"]["kind"] = "test-nan"
    with pytest.raises(TrainingDiverged, match=r"diverged at step 2: D/loss is nan"):
        run_recipe(resolve(recipe, _host_with(host, NaNGAN)), host)


def test_lazy_phase_runs_every_n_steps_and_logs_its_own_mean(tmp_path, host):
    recipe = tiny_recipe(tmp_path, steps=4, log_every=4)
    recipe["architecture"]["kind"] = "test-lazy"
    result = run_recipe(resolve(recipe, _host_with(host, LazyGAN)), host)
    (record,) = records(result)
    assert record["Dreg/marker"] == 1.0  # ran on steps 0 and 2; mean over the runs, not over all steps
    assert record["images_seen"] == 4 * 8 + 2 * 8


def test_the_estimated_steps_of_an_image_budget_count_lazy_phases_and_match_the_end(tmp_path, host):
    from ganzoo.engine.loop import Callback
    seen = {}

    class Start(Callback):
        def on_start(self, trainer, info):
            seen["total"] = info["total_steps"]

    recipe = tiny_recipe(tmp_path, steps=None, images=96)
    recipe["architecture"]["kind"] = "test-lazy"
    result = run_recipe(resolve(recipe, _host_with(host, LazyGAN)), host, callbacks=[Start()])
    assert result.summary["images_seen"] == 96 and seen["total"] == result.summary["step"] == 8  # 8 + 4 reals a step


def test_loss_steps_score_augmented_reals_and_detached_fakes():
    from ganzoo import losses
    from ganzoo.api import PhaseInputs
    G, D = torch.nn.Linear(2, 3), torch.nn.Linear(3, 1)
    seen = []
    x = PhaseInputs(generator=lambda z, y: G(z), discriminator=lambda im, y: D(im).flatten(),
                    real=torch.ones(4, 3), real_labels=None, z=torch.randn(4, 2), fake_labels=None, step=0,
                    augment=lambda im: seen.append(im) or im * 2)
    out = losses.discriminator_step(x, losses.hinge_d)
    assert set(out) == {"loss", "real_score", "fake_score"} and len(seen) == 2
    out["loss"].backward()
    assert G.weight.grad is None and D.weight.grad is not None  # fakes were detached
    assert torch.allclose(out["real_score"], D(torch.ones(4, 3) * 2).mean())
    g = losses.generator_step(x, losses.hinge_g)
    g["loss"].backward()
    assert G.weight.grad is not None and set(g) == {"loss"}


@pytest.mark.parametrize("env, expected", [("1", 1), ("", None), ("zero", None)])
def test_default_threads_follow_omp_num_threads(monkeypatch, env, expected):
    """Several runs sharing a machine set OMP_NUM_THREADS=1 each; a thread per core each thrashes."""
    import os

    from ganzoo.engine.device import set_threads
    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", env)
    try:
        assert set_threads(None) == (expected or len(os.sched_getaffinity(0)))
        assert set_threads(3) == 3  # run.threads in the recipe wins
    finally:
        torch.set_num_threads(before)
