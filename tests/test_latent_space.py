"""The latent-space API (plugin API 1.3): z, w and w+ for StyleGAN-lite, z only elsewhere, and the latents file."""
import pytest
import torch

from ganzoo.api import ImageSpec
from ganzoo.errors import UsageError
from ganzoo.export.latents import Latents, check_latents_for, read_latents, synthesise, write_latents
from ganzoo.host import default_host


def build(kind, resolution=16, **config):
    cls = default_host().architectures.get(kind).obj
    architecture = cls(cls.Config(**config), ImageSpec(resolution, 3, ("a", "b")))
    torch.manual_seed(0)
    return architecture, architecture.build_generator().eval()


def test_an_architecture_without_styles_offers_z_only_and_says_so():
    dcgan, G = build("dcgan", width=8)
    assert dcgan.latent_spaces() == ("z",)
    for call in (lambda: dcgan.mapping(G, torch.randn(2, dcgan.z_dim)), lambda: dcgan.num_ws(G),
                 lambda: dcgan.synthesis(G, torch.randn(2, 3, 4)), lambda: dcgan.style_groups(G)):
        with pytest.raises(NotImplementedError, match="'dcgan' has no style"):
            call()
    # ... but it gives SeFa its first layer acting on z (outputs, z_dim)
    assert dcgan.style_weights(G).shape == (G.net[0].weight[0].numel(), dcgan.z_dim)


@pytest.mark.parametrize("conditional", [False, True])
def test_stylegan_lite_generates_the_same_images_from_z_w_and_w_plus(conditional):
    sg, G = build("stylegan-lite", preset="tiny", conditional=conditional)
    assert sg.latent_spaces() == ("z", "w", "w+")
    z = torch.randn(3, sg.z_dim)
    labels = torch.tensor([0, 1, 0]) if conditional else None
    with torch.no_grad():
        images = sg.generate(G, z, labels)
        w = sg.mapping(G, z, labels)
        w_plus = w[:, None].repeat(1, sg.num_ws(G), 1)
        assert torch.equal(synthesise(sg, G, w, "w", labels), images)
        assert torch.equal(synthesise(sg, G, w_plus, "w+", labels), images)
        assert torch.equal(synthesise(sg, G, z, "z", labels), images)


@pytest.mark.parametrize("resolution, groups", [
    (16, {"coarse": range(0, 1), "middle": range(1, 3), "fine": range(3, 6)}),
    (64, {"coarse": range(0, 3), "middle": range(3, 7), "fine": range(7, 10)}),  # StyleGAN's 4-8 / 16-32 / 64 px
])
def test_style_groups_split_every_layer_once(resolution, groups):
    sg, G = build("stylegan-lite", resolution, preset="tiny")
    assert sg.style_groups(G) == groups
    assert [i for g in groups.values() for i in g] == list(range(sg.num_ws(G)))


def test_style_weights_stack_every_modulation_affine():
    sg, G = build("stylegan-lite", preset="tiny")
    weights = sg.style_weights(G)
    affines = [m for m in G.synthesis.modules() if hasattr(m, "affine")]
    assert weights.shape == (sum(a.affine.weight.shape[0] for a in affines), sg.config.w_dim)
    assert not weights.requires_grad


def test_w_avg_is_tracked_or_estimated():
    sg, G = build("stylegan-lite", preset="tiny")
    estimated = sg.w_avg(G)  # a fresh generator never tracked it: the mean over 10k z
    with torch.no_grad():
        direct = G.mapping(torch.randn(20_000, sg.z_dim)).mean(0)
    assert torch.allclose(estimated, direct, atol=0.05 * direct.abs().max().item())
    G.mapping.w_avg.fill_(0.5)
    assert torch.equal(sg.w_avg(G), torch.full((sg.config.w_dim,), 0.5))


def test_latents_file_round_trips(tmp_path):
    sg, _ = build("stylegan-lite", preset="tiny")
    codes = torch.randn(2, 6, 32)
    path = write_latents(tmp_path / "a.safetensors", Latents(codes, "w+", "run-1", sg.kind, [0, 1], ["x.png", "y.png"]))
    back = read_latents(path)
    assert torch.equal(back.latents, codes) and back.space == "w+" and back.run_id == "run-1"
    assert back.labels == [0, 1] and back.names == ["x.png", "y.png"] and back.kind == "stylegan-lite"
    check_latents_for(back, sg, "run-1", str(path))
    unlabelled = read_latents(write_latents(tmp_path / "z.safetensors", Latents(torch.randn(2, 8), "z", None, "dcgan")))
    assert unlabelled.labels is None and unlabelled.names == ["000000", "000001"]


def test_latents_file_refusals_name_the_problem(tmp_path):
    dcgan, _ = build("dcgan", width=8)
    path = write_latents(tmp_path / "w.safetensors", Latents(torch.randn(1, 4), "w", "r", "dcgan"))
    with pytest.raises(UsageError, match="offers z"):
        check_latents_for(read_latents(path), dcgan, "r", str(path))
    other = write_latents(tmp_path / "s.safetensors", Latents(torch.randn(1, 4), "z", "r", "stylegan-lite"))
    with pytest.raises(UsageError, match="'stylegan-lite' generator"):
        check_latents_for(read_latents(other), dcgan, "r", str(other))
    (tmp_path / "junk.safetensors").write_bytes(b"not a file")
    with pytest.raises(UsageError, match="not a ganzoo latents file"):
        read_latents(tmp_path / "junk.safetensors")
    with pytest.raises(ValueError, match="w\\+ latents must be"):
        Latents(torch.randn(2, 4), "w+", None, "x")
