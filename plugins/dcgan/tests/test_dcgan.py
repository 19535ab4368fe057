"""DCGAN passes the architecture contract at every supported resolution, and trains sanely."""
import pytest
import torch

from ganzoo.api import ImageSpec
from ganzoo.testing import check_architecture
from ganzoo_dcgan import DCGAN, DCGANConfig


def test_contract_small_resolutions():
    check_architecture(DCGAN, {"width": 4, "z_dim": 8}, resolutions=(16, 28, 32))


@pytest.mark.parametrize("resolution", [64, 128])
def test_shapes_large_resolutions(resolution):
    arch = DCGAN(DCGANConfig(width=4, z_dim=8), ImageSpec(resolution, 3))
    g, d = arch.build_generator(), arch.build_discriminator()
    fake = g(torch.randn(2, 8))
    assert fake.shape == (2, 3, resolution, resolution)
    assert d(fake).shape == (2,)


def test_paper_architecture_details():
    arch = DCGAN(DCGANConfig(width=64), ImageSpec(64, 3))
    g, d = arch.build_generator(), arch.build_discriminator()
    assert [m.out_channels for m in g.modules() if isinstance(m, torch.nn.ConvTranspose2d)] == [512, 256, 128, 64, 3]
    assert isinstance(list(g.modules())[-1], torch.nn.Tanh)
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [m.out_channels for m in convs] == [64, 128, 256, 512, 1]
    assert all(m.negative_slope == 0.2 for m in d.modules() if isinstance(m, torch.nn.LeakyReLU))
    # No batch norm right after the image input (paper, section 3).
    assert not isinstance(list(d.features)[1], torch.nn.BatchNorm2d)
    opt = arch.optimizer_settings()["generator"]
    assert opt.lr == 2e-4 and opt.betas == (0.5, 0.999)


def test_trains_a_step_at_256():
    check_architecture(DCGAN, {"width": 4, "z_dim": 8}, resolutions=(256,), channels=(3,), batch_size=2)


def test_channels_shrink_towards_256():
    """One more stage than at 128 px; the finest maps stay at width, the coarse ones at max_width."""
    arch = DCGAN(DCGANConfig(width=64), ImageSpec(256, 3))
    g, d = arch.build_generator(), arch.build_discriminator()
    assert [m.out_channels for m in g.modules() if isinstance(m, torch.nn.ConvTranspose2d)] == \
        [512, 512, 512, 256, 128, 64, 3]
    assert [m.out_channels for m in d.modules() if isinstance(m, torch.nn.Conv2d)] == [64, 128, 256, 512, 512, 512, 1]


@pytest.mark.parametrize("resolution", [20, 48, 512])
def test_unsupported_resolution_names_the_supported_ones(resolution):
    with pytest.raises(ValueError, match="16, 28, 32, 64, 128, 256"):
        DCGAN(DCGANConfig(), ImageSpec(resolution, 3))


@pytest.mark.parametrize("conditional", [False, True])
def test_training_is_sane(conditional):
    from ganzoo.testing import check_training_sanity
    check_training_sanity(DCGAN, {"width": 8, "z_dim": 16, "conditional": conditional})


def test_contract_conditional():
    check_architecture(DCGAN, {"width": 4, "z_dim": 8, "conditional": True}, resolutions=(16,), channels=(3,),
                       classes=4)


def test_conditional_needs_labels():
    with pytest.raises(ValueError, match="needs a labelled dataset"):
        DCGAN(DCGANConfig(conditional=True), ImageSpec(32, 3))
