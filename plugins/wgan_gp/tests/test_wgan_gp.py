"""WGAN-GP: contract, paper defaults, a penalty that works under AMP, sane training."""
import pytest
import torch

from ganzoo import losses
from ganzoo.api import ImageSpec
from ganzoo.testing import check_architecture
from ganzoo_wgan_gp import WGANGP, WGANGPConfig


def test_contract():
    check_architecture(WGANGP, {"width": 4, "z_dim": 8}, resolutions=(16, 28))


def test_contract_conditional():
    check_architecture(WGANGP, {"width": 4, "z_dim": 8, "conditional": True}, resolutions=(16,), channels=(3,),
                       classes=3)


def test_paper_defaults():
    arch = WGANGP(WGANGPConfig(), ImageSpec(32, 3))
    (critic_phase, g_phase) = arch.phases()
    assert critic_phase.repeats == 5 and g_phase.repeats == 1
    assert arch.config.gp_weight == 10.0
    opt = arch.optimizer_settings()["discriminator"]
    assert opt.lr == 1e-4 and opt.betas == (0.0, 0.9)
    critic = arch.build_discriminator()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in critic.modules())


def test_gradient_penalty_is_float32_under_bf16_autocast():
    critic = WGANGP(WGANGPConfig(width=4), ImageSpec(16, 3)).build_discriminator()
    real, fake = torch.randn(4, 3, 16, 16), torch.randn(4, 3, 16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        penalty = losses.gradient_penalty(critic, real, fake)
    assert penalty.dtype == torch.float32 and torch.isfinite(penalty)
    penalty.backward()  # double backward reaches the critic's weights (biases do not affect input gradients)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in critic.parameters() if p.ndim > 1)


def test_gradient_penalty_closed_form():
    # D(x) = sum(a * x): grad norm is ||a|| everywhere, so the penalty is (||a|| - 1)^2.
    class Linear(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Parameter(torch.full((1, 3, 2, 2), 0.5))

        def forward(self, x, labels=None):
            return (self.a * x).flatten(1).sum(1)

    penalty = losses.gradient_penalty(Linear(), torch.randn(5, 3, 2, 2), torch.randn(5, 3, 2, 2))
    assert penalty.item() == pytest.approx((12 ** 0.5 * 0.5 - 1) ** 2, rel=1e-5)


def test_training_is_sane():
    from ganzoo.testing import check_training_sanity
    records = check_training_sanity(WGANGP, {"width": 8, "z_dim": 16}, steps=12)
    assert all(r["D/gradient_penalty"] >= 0 for r in records)
    assert records[-1]["images_seen"] == 12 * 5 * 16  # five critic batches per step


def test_trains_a_step_at_256():
    check_architecture(WGANGP, {"width": 4, "z_dim": 8}, resolutions=(256,), channels=(3,), batch_size=2)
