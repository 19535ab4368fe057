"""The first-party inverters keep the inverter contract; the encoder refuses a generator it was not trained for."""
import pytest
import torch

from ganzoo.errors import UsageError
from ganzoo.testing import check_inverter, check_plugin, toy_inversion_runs
from ganzoo_inverters import plugin
from ganzoo_inverters.encoder import EncoderInverter
from ganzoo_inverters.optimize import OptimizeInverter


def test_plugin_registers_both():
    check_plugin(plugin, {"inverter": ["optimize", "encoder"]}, distribution="ganzoo-inverters")


@pytest.mark.parametrize("space", ["auto", "z"])
def test_optimize_contract(space):
    check_inverter(OptimizeInverter, {"steps": 20, "space": space})


def test_optimize_refuses_a_space_the_run_lacks():
    run = toy_inversion_runs()[0]  # z only
    inverter = OptimizeInverter(OptimizeInverter.Config(space="w+", steps=1))
    with pytest.raises(UsageError, match="offers z"):
        inverter.invert(run, torch.zeros(1, 3, 8, 8), None, lambda done, total: None)


def _train(tmp_path, run, steps=60):
    out = tmp_path / f"{run.architecture.kind}.safetensors"
    torch.manual_seed(0)
    config = EncoderInverter.Config(steps=steps, batch_size=8, width=8, lr=3e-3)
    EncoderInverter(config).train(run, out, lambda d, t: None)
    return out


def test_encoder_contract(tmp_path):
    check_inverter(EncoderInverter, {"refine_steps": 3}, setup=lambda run: {"weights": _train(tmp_path, run)})


def test_encoder_learns_the_w_plus_of_generated_images(tmp_path):
    run = toy_inversion_runs()[1]
    encoder = EncoderInverter(EncoderInverter.Config(weights=_train(tmp_path, run, steps=200)))
    net, w_avg, meta = encoder.load(run)
    assert meta["space"] == "w+" and meta["run_id"] == "toy-style-run"
    torch.manual_seed(5)
    z = torch.randn(16, 8)
    with torch.no_grad():
        images = run.architecture.generate(run.generator, z)
        result = encoder.invert(run, images, None, lambda d, t: None)
        recon = run.architecture.synthesis(run.generator, result.latents)
        mean = run.architecture.synthesis(run.generator, w_avg.expand(16, 2, -1))
    assert (recon - images).square().mean() < 0.5 * (mean - images).square().mean()


def test_encoder_refuses_another_generator(tmp_path):
    run = toy_inversion_runs()[1]
    weights = _train(tmp_path, run)
    with torch.no_grad():
        run.generator.mapping.bias.add_(0.01)  # a later checkpoint of the same run: other weights
    with pytest.raises(UsageError, match="was trained for run toy-style-run"):
        EncoderInverter(EncoderInverter.Config(weights=weights)).invert(run, torch.zeros(1, 3, 8, 8), None,
                                                                         lambda d, t: None)
    with pytest.raises(UsageError, match="No encoder at"):
        EncoderInverter(EncoderInverter.Config(weights=tmp_path / "none.safetensors")).load(run)
