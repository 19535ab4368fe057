"""SNGAN fits ganzoo's engine (contract, sane training, exact resume) and follows the paper."""
import pytest
import torch

from ganzoo.api import ImageSpec
from ganzoo.testing import check_architecture, check_resume, check_training_sanity
from ganzoo_sngan import SNGAN, SNGANConfig
from ganzoo_sngan.networks import DownBlock, UpBlock

TINY = {"g_width": 8, "d_width": 8, "z_dim": 8, "n_dis": 2}


def test_contract():
    check_architecture(SNGAN, TINY, resolutions=(16, 28, 32))


def test_contract_conditional():
    check_architecture(SNGAN, {**TINY, "conditional": True}, resolutions=(16,), channels=(3,), classes=3)


@pytest.mark.parametrize("conditional", [False, True])
def test_training_is_sane(conditional):
    records = check_training_sanity(SNGAN, {**TINY, "g_width": 16, "d_width": 16, "conditional": conditional},
                                    steps=20)
    assert records[-1]["images_seen"] == 20 * 2 * 16  # n_dis real batches per step


def test_resume_equals_a_straight_run():
    check_resume(SNGAN, TINY)  # spectral norm's power-iteration vectors are buffers: they are checkpointed too


def test_paper_defaults():
    arch = SNGAN(SNGANConfig(), ImageSpec(32, 3))
    d_phase, g_phase = arch.phases()
    assert (d_phase.trains, d_phase.repeats) == ("discriminator", 5) and g_phase.trains == "generator"
    for settings in arch.optimizer_settings().values():
        assert settings.lr == 2e-4 and settings.betas == (0.0, 0.9)
    g, d = arch.build_generator(), arch.build_discriminator()
    # CIFAR-10 model: 4x4x256 from z in R^128, three up-blocks of 256; four D blocks of 128, two of them downsampling.
    assert g.project.in_features == 128 and g.project.out_features == 4 * 4 * 256
    assert sum(isinstance(m, UpBlock) for m in g.modules()) == 3
    blocks = [m for m in d.modules() if isinstance(m, DownBlock)]
    assert [b.down for b in blocks] == [True, True, False, False] and blocks[0].first
    assert all(b.conv1.out_channels == 128 for b in blocks)


def test_every_discriminator_weight_is_spectrally_normalised():
    d = SNGAN(SNGANConfig(d_width=8, conditional=True), ImageSpec(16, 3, ("a", "b"))).build_discriminator()
    weighted = [m for m in d.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear, torch.nn.Embedding))]
    assert weighted and all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in weighted)
    g = SNGAN(SNGANConfig(g_width=8), ImageSpec(16, 3)).build_generator()
    assert not any(torch.nn.utils.parametrize.is_parametrized(m) for m in g.modules())  # SN only in D


def test_spectral_norm_bounds_the_largest_singular_value():
    d = SNGAN(SNGANConfig(d_width=8), ImageSpec(16, 3)).build_discriminator().train()
    conv = d.blocks[1].conv1
    for _ in range(30):  # power iterations run in training-mode forward passes
        d(torch.randn(2, 3, 16, 16))
    sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2)
    assert sigma.item() == pytest.approx(1.0, abs=0.05)


def test_hinge_losses():
    arch = SNGAN(SNGANConfig(g_width=8, d_width=8, z_dim=8), ImageSpec(16, 3))

    class Constant(torch.nn.Module):
        def __init__(self, real, fake):
            super().__init__()
            self.real, self.fake = real, fake

        def forward(self, images, labels=None):
            return torch.full((len(images),), self.real if images.mean() > 0.5 else self.fake)

    from ganzoo.api import PhaseInputs
    x = PhaseInputs(lambda z, labels=None: torch.zeros(len(z), 3, 16, 16), Constant(0.3, -2.0),
                    torch.ones(4, 3, 16, 16), None, torch.zeros(4, 8), None, 0)
    # max(0, 1 - 0.3) + max(0, 1 + (-2)) = 0.7; the generator minimises -D(G(z)) = 2.
    assert arch.discriminator_loss(x)["loss"].item() == pytest.approx(0.7)
    assert arch.generator_loss(x)["loss"].item() == pytest.approx(2.0)


@pytest.mark.parametrize("resolution", [64, 128])
def test_shapes_large_resolutions(resolution):
    arch = SNGAN(SNGANConfig(g_width=8, d_width=8, z_dim=8), ImageSpec(resolution, 1))
    fake = arch.build_generator()(torch.randn(2, 8))
    assert fake.shape == (2, 1, resolution, resolution) and arch.build_discriminator()(fake).shape == (2,)


def test_trains_a_step_at_256():
    check_architecture(SNGAN, {"g_width": 8, "d_width": 8, "z_dim": 8}, resolutions=(256,), channels=(3,),
                       batch_size=2)


def test_maps_above_128_px_halve_their_channels():
    """Constant width up to 128 px (the CIFAR model); the 256 x 256 maps get half of it, in G and in D."""
    arch = SNGAN(SNGANConfig(g_width=64, d_width=32, z_dim=8), ImageSpec(256, 3))
    g, d = arch.build_generator(), arch.build_discriminator()
    assert [b.conv2.out_channels for b in g.blocks] == [64, 64, 64, 64, 64, 32]
    assert g.out[2].in_channels == 32
    assert [b.conv1.out_channels for b in d.blocks] == [16, 32, 32, 32, 32, 32, 32]
    small = SNGAN(SNGANConfig(g_width=64, d_width=32, z_dim=8), ImageSpec(128, 3))
    assert {b.conv2.out_channels for b in small.build_generator().blocks} == {64}


@pytest.mark.parametrize("resolution", [20, 48])
def test_unsupported_resolution_names_the_supported_ones(resolution):
    with pytest.raises(ValueError, match="16, 32, 64, 128"):
        SNGAN(SNGANConfig(), ImageSpec(resolution, 3))


def test_bad_values_are_refused():
    from pydantic import ValidationError
    for bad in ({"n_dis": 0}, {"lr": 0}, {"g_width": 2}, {"betas": [0.5]}):
        with pytest.raises(ValidationError):
            SNGANConfig(**bad)
