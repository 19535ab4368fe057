"""StyleGAN-lite: contract, the paper's pieces, truncation, sane training."""
import pytest
import torch

from ganzoo.api import ImageSpec
from ganzoo.testing import check_architecture, check_training_sanity
from ganzoo_stylegan_lite import StyleGANLite, StyleGANLiteConfig
from ganzoo_stylegan_lite.layers import ModulatedConv2d, minibatch_stddev


def test_contract():
    check_architecture(StyleGANLite, {"preset": "tiny"}, resolutions=(16, 32))


def test_contract_conditional():
    check_architecture(StyleGANLite, {"preset": "tiny", "conditional": True}, resolutions=(16,), channels=(3,),
                       classes=3)


@pytest.mark.parametrize("config", [{"preset": "tiny"}, {"preset": "tiny", "conditional": True, "path_length": 2.0,
                                                         "path_length_every": 2}])
def test_training_is_sane(config):
    records = check_training_sanity(StyleGANLite, config, steps=20)
    assert any("Dreg/r1" in r for r in records)  # lazy R1 ran (steps 0 and 16)
    if config.get("path_length"):
        assert any("Greg/path_length" in r for r in records)


def test_preset_and_overrides():
    config = StyleGANLiteConfig(preset="tiny", width=16)
    assert (config.z_dim, config.mapping_layers, config.width) == (32, 2, 16)
    assert StyleGANLiteConfig(preset="paper").mapping_layers == 8


def test_lazy_regularisation_adjusts_adam():
    arch = StyleGANLite(StyleGANLiteConfig(preset="tiny"), ImageSpec(32, 3))
    d = arch.optimizer_settings()["discriminator"]
    assert d.lr == pytest.approx(0.0025 * 16 / 17) and d.betas[1] == pytest.approx(0.99 ** (16 / 17))
    assert arch.optimizer_settings()["generator"].lr == 0.0025  # no path-length reg: no correction


def test_mapping_lr_multiplier_and_demodulation():
    G = StyleGANLite(StyleGANLiteConfig(preset="tiny"), ImageSpec(16, 3)).build_generator()
    assert all(layer.lr_mul == 0.01 for layer in G.mapping.net)
    conv = ModulatedConv2d(4, 6, 3, w_dim=8)
    x, w = torch.randn(2, 4, 8, 8), torch.randn(2, 8)
    # Reference: convolve each sample with its own modulated, demodulated weight (the paper's equations 1-3).
    weight = conv.weight[None] * conv.weight_gain * conv.affine(w)[:, None, :, None, None]
    weight = weight * torch.rsqrt(weight.square().sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
    assert torch.allclose(weight.square().sum(dim=(2, 3, 4)), torch.ones(2, 6), atol=1e-4)
    expected = torch.cat([torch.nn.functional.conv2d(x[i:i + 1], weight[i], padding=1) for i in range(2)])
    assert torch.allclose(conv(x, w), expected, atol=1e-5)


def test_discriminator_output_uses_the_equalised_learning_rate_and_mbstd_group():
    from pydantic import ValidationError

    from ganzoo_stylegan_lite.layers import EqualLinear
    arch = StyleGANLite(StyleGANLiteConfig(preset="tiny", conditional=True, mbstd_group=8),
                        ImageSpec(16, 3, ("a", "b")))
    D = arch.build_discriminator()
    assert isinstance(D.out, EqualLinear) and isinstance(D.embed, EqualLinear) and D.mbstd_group == 8
    assert not any(type(m) is torch.nn.Linear for m in D.modules())  # every layer equalised
    logits = D(torch.randn(8, 3, 16, 16), torch.tensor([0, 1] * 4))
    assert logits.shape == (8,)
    with pytest.raises(ValidationError, match="mbstd_group"):
        StyleGANLiteConfig(mbstd_group=0)


def test_minibatch_stddev_adds_one_channel_for_any_batch():
    for n in (1, 3, 4, 6, 8):
        assert minibatch_stddev(torch.randn(n, 5, 4, 4)).shape == (n, 6, 4, 4)


def test_truncation_pulls_towards_the_mean_and_eval_is_deterministic():
    arch = StyleGANLite(StyleGANLiteConfig(preset="tiny"), ImageSpec(16, 3))
    G = arch.build_generator()
    G.train()
    G.mapping(torch.randn(64, 32))  # populate w_avg
    G.eval()
    z = torch.randn(4, 32)
    with torch.no_grad():
        full, again = arch.generate(G, z), arch.generate(G, z)
        half, zero = arch.generate(G, z, truncation=0.5), arch.generate(G, z, truncation=0.0)
    assert torch.equal(full, again)  # constant noise and no mixing outside training
    assert torch.allclose(zero[0], zero[1])  # psi = 0: every latent maps to the average image
    assert (half - zero).abs().mean() < (full - zero).abs().mean()
    with pytest.raises(ValueError, match="between 0 and 1"):
        arch.generate(G, z, truncation=1.5)


@pytest.mark.parametrize("resolution", [256, 512])
def test_trains_a_step_at_high_resolution(resolution):
    check_architecture(StyleGANLite, {"preset": "tiny", "width": 4, "max_width": 8}, resolutions=(resolution,),
                       channels=(3,), batch_size=2)


def test_channels_above_128_px_follow_stylegan2():
    """StyleGAN2's 32768 / resolution caps the large maps: 128 channels at 256 px, 64 at 512, even for "paper"."""
    from ganzoo_stylegan_lite.networks import channels_at
    assert [channels_at(r, 512, 512, 512) for r in (512, 256, 128, 64)] == [64, 128, 512, 512]
    assert [channels_at(r, 128, 512, 512) for r in (128, 64)] == [512, 512]  # 128 px "paper" as it always was
    assert [channels_at(r, 512, 64, 256) for r in (512, 256, 128, 64)] == [64, 128, 256, 256]  # "small"


def test_unsupported_resolution():
    with pytest.raises(ValueError, match="16, 32, 64, 128"):
        StyleGANLite(StyleGANLiteConfig(), ImageSpec(28, 1))


def test_ema_updates_once_per_step_with_two_generator_phases(monkeypatch):
    """Path-length regularisation adds a second generator phase (Greg); the EMA must still move once a step."""
    from ganzoo.api import ImageData
    from ganzoo.engine.ema import EMA
    from ganzoo.engine.loop import Trainer
    from ganzoo.recipe import TrainSection
    calls = []
    original = EMA.update
    monkeypatch.setattr(EMA, "update", lambda self, source, seen: calls.append(seen) or original(self, source, seen))
    arch = StyleGANLite(StyleGANLiteConfig(preset="tiny", path_length=2.0, path_length_every=1), ImageSpec(16, 3))
    data = ImageData(torch.randint(0, 256, (16, 3, 16, 16), dtype=torch.uint8))
    Trainer(arch, data, TrainSection(steps=3, batch_size=4).to_settings(), seed=0, device=torch.device("cpu")).run()
    assert len(calls) == 3 and calls == sorted(calls)
