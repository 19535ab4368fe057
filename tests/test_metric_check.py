"""`ganzoo metric-check`: each corruption does what it says, the judging, and the command's answers."""
from __future__ import annotations

import json

import pytest
import torch
from torch.nn import functional as F
from typer.testing import CliRunner

from ganzoo.api import FeatureExtractor, ImageData, PluginConfig, hookimpl
from ganzoo.cli import app
from ganzoo.host import create_host
from ganzoo.metrics import corruptions
from ganzoo.metrics.check import MIN_PER_SIDE, check_feature_space, colour_shift, split_halves
from ganzoo.metrics.errors import InputError
from ganzoo.metrics.evaluate import build_extractor
from tests.conftest import SquaresPlugin
from tests.photos import write_shop_photos

runner = CliRunner()
G = torch.Generator


def products(n: int = 240, r: int = 16, hues=((200, 40, 30), (30, 60, 200)), seed: int = 0) -> ImageData:
    """Two classes with their own colours (red-ish squares, blue-ish bars) and a textured fill, on white."""
    g = G().manual_seed(seed)
    x = torch.full((n, 3, r, r), 255, dtype=torch.uint8)
    for i in range(n):
        c = i % 2
        colour = torch.tensor(hues[c]) + torch.randint(-25, 26, (3,), generator=g)
        a, b = torch.randint(1, r // 2, (2,), generator=g).tolist()
        h, w = (r // 2, r // 2) if c == 0 else (r // 4, r - 2)
        texture = torch.randint(-30, 31, (3, h, w), generator=g)
        x[i, :, a:a + h, b:b + w] = (colour.view(3, 1, 1) + texture).clamp(0, 255).to(torch.uint8)[:, :r - a, :r - b]
    return ImageData(x, torch.arange(n) % 2, ("square", "bar"))


# ------------------------------------------------------------------ each corruption

def _laplacian_energy(x: torch.Tensor) -> float:
    kernel = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).view(1, 1, 3, 3).repeat(x.shape[1], 1, 1, 1)
    return F.conv2d(x.float(), kernel, groups=x.shape[1]).abs().mean().item()


def test_greyscale_makes_equal_channels_and_keeps_luma():
    x = products().images
    grey = corruptions.greyscale(x)
    assert grey.shape == x.shape and grey.dtype == torch.uint8
    assert torch.equal(grey[:, 0], grey[:, 1]) and torch.equal(grey[:, 1], grey[:, 2])
    luma = (x.float() * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1)
    assert (grey[:, 0].float() - luma).abs().max() <= 0.5


def test_hue_rotation_moves_colours_but_not_greys():
    red = torch.zeros(1, 3, 4, 4, dtype=torch.uint8)
    red[:, 0] = 255
    rotated = corruptions.hue_rotation(red)
    assert rotated[0, :, 0, 0].tolist() == [0, 255, 0]  # 120 degrees: red becomes green
    white = torch.full((1, 3, 4, 4), 200, dtype=torch.uint8)
    assert torch.equal(corruptions.hue_rotation(white), white)


def test_channel_swap_exchanges_red_and_blue():
    x = products().images
    swapped = corruptions.channel_swap(x)
    assert torch.equal(swapped[:, 0], x[:, 2]) and torch.equal(swapped[:, 2], x[:, 0])
    assert torch.equal(swapped[:, 1], x[:, 1])


def test_blur_removes_detail_and_more_so_when_stronger():
    x = products().images
    weak, strong = (corruptions.blur(x, s) for s in corruptions.BLUR_SIGMAS)
    assert _laplacian_energy(x) > _laplacian_energy(weak) > _laplacian_energy(strong)
    assert weak.dtype == torch.uint8 and weak.shape == x.shape


def test_jpeg_is_lossy_deterministic_and_keeps_grey_images_grey():
    x = products().images
    once, twice = corruptions.jpeg(x), corruptions.jpeg(x)
    assert torch.equal(once, twice) and not torch.equal(once, x) and once.shape == x.shape
    grey = x[:, :1]
    assert corruptions.jpeg(grey).shape == grey.shape


def test_noise_has_the_stated_spread_and_is_seeded():
    x = torch.full((64, 3, 16, 16), 128, dtype=torch.uint8)
    a, b = corruptions.noise(x, None, G().manual_seed(1)), corruptions.noise(x, None, G().manual_seed(1))
    assert torch.equal(a, b)
    deviation = a.float() - 128
    assert abs(deviation.mean().item()) < 0.5
    assert deviation.std().item() == pytest.approx(corruptions.NOISE_STD * 255, rel=0.05)


def test_one_class_draws_every_image_from_the_largest_class():
    data = products(n=90)
    labels = torch.tensor([0] * 60 + [1] * 30)
    x = data.images.clone()
    x[:, :, 0, 0] = (torch.arange(90) % 256).to(torch.uint8).view(-1, 1)  # tag each image with its index
    out = corruptions.one_class(x, labels, G().manual_seed(0))
    picked = out[:, 0, 0, 0].long()
    assert len(out) == 90 and (labels[picked] == 0).all()
    assert "one class only ('square'" in corruptions.one_class_label(labels, ("square", "bar"))


def test_one_mode_without_labels_stays_near_one_image():
    x = torch.cat([torch.zeros(50, 3, 8, 8), torch.full((50, 3, 8, 8), 255.0)]).to(torch.uint8)
    out = corruptions.one_class(x, None, G().manual_seed(0))
    assert len(out) == 100 and len(out.float().mean((1, 2, 3)).unique()) == 1  # all dark or all light


def test_repeated_subset_keeps_five_percent_of_the_images():
    x = torch.arange(200).view(200, 1, 1, 1).expand(-1, 3, 2, 2).to(torch.uint8).contiguous()
    out = corruptions.repeated_subset(x, None, G().manual_seed(0))
    assert len(out) == 200 and len(out[:, 0, 0, 0].unique()) == 10


def test_patch_shuffle_keeps_the_patches_and_loses_their_places():
    x = products().images
    out = corruptions.patch_shuffle(x, None, G().manual_seed(0))
    assert not torch.equal(out, x)
    for before, after in zip(x[:5], out[:5]):
        cut = lambda im: sorted(tuple(im[:, i:i + 4, j:j + 4].flatten().tolist())  # noqa: E731
                                for i in range(0, 16, 4) for j in range(0, 16, 4))
        assert cut(before) == cut(after)


# ------------------------------------------------------------------ judging

class LooksConfig(PluginConfig):
    colour: bool = True


class Looks(FeatureExtractor):
    """4x4 pooled pixels and detail energy; with colour false, of luma only (a colour-blind space)."""

    kind = "test-looks"
    space = "pooled pixels and detail"
    Config = LooksConfig

    def __init__(self, config, device="cpu"):
        super().__init__(config, device)
        self.dims = (48 if config.colour else 16) + 1

    def protocol(self):
        return {"weights_sha256": "none", "input": f"colour={self.config.colour}", "comparable_to_published": False}

    def __call__(self, images):
        x = images.float() / 255
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if not self.config.colour:
            x = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
        kernel = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).view(1, 1, 3, 3).repeat(x.shape[1], 1, 1, 1)
        detail = F.conv2d(x, kernel, groups=x.shape[1]).abs().mean((1, 2, 3))[:, None] * 10
        return torch.cat([F.adaptive_avg_pool2d(x, 4).flatten(1), detail], 1)


class LooksPlugin:
    @hookimpl
    def ganzoo_register_feature_extractors(self, register):
        register(Looks)


@pytest.fixture
def looks_host(monkeypatch):
    host = create_host([LooksPlugin(), SquaresPlugin()])
    monkeypatch.setattr("ganzoo.host.default_host", lambda: host)
    return host


def _check(host, data, **options):
    loaded = build_extractor(host, "test-looks", options, "cpu", data)
    return check_feature_space(loaded, data, {"kind": "test"}, seed=0)


def test_every_case_is_scored_against_the_floor(looks_host):
    data = products()
    report = _check(looks_host, data)
    names = [c.name for c in report.cases]
    assert names == ["floor", "greyscale", "hue", "channel_swap", "blur_weak", "blur_strong", "jpeg", "noise",
                     "one_class", "subset", "patch_shuffle"]
    floor = report.case("floor")
    assert floor.status == "floor" and report.images_per_side == 120
    for case in report.cases[1:]:
        assert case.fid is not None and case.kid is not None and 0 <= case.recall <= 1, case
        assert case.status == "pass", (case.name, case.fid, floor.fid, case.note)
    assert report.passed and all(check.passed for check in report.checks)
    assert report.case("blur_strong").fid > report.case("blur_weak").fid
    saved = json.loads(json.dumps(report.to_dict()))
    assert saved["passed"] is True and saved["cases"][0]["name"] == "floor"


def test_a_colour_blind_space_fails_the_colour_cases(looks_host):
    report = _check(looks_host, products(), colour=False)
    # Luma alone: greyscale keeps it exactly; hue changes move luma too (red and green differ in brightness).
    assert report.case("greyscale").status == "fail"
    assert not report.passed and any("greyscale" in what for what in report.failed)
    assert "within the margin of the floor" in report.case("greyscale").note


def test_colour_cases_do_not_apply_when_hues_are_evenly_spread(looks_host):
    """Every hue equally likely: rotating hues gives equally likely products, which no space should flag."""
    g = G().manual_seed(0)
    hsv_hue = torch.rand(400, generator=g)
    pixel = torch.stack([torch.tensor(__import__("colorsys").hsv_to_rgb(float(h), 0.8, 0.8)) for h in hsv_hue])
    x = (pixel.view(400, 3, 1, 1) * 255).round().to(torch.uint8).expand(-1, -1, 8, 8).contiguous()
    report = _check(looks_host, ImageData(x))
    assert report.case("hue").status == "n/a" and report.case("channel_swap").status == "n/a"
    assert "colours are the same" in report.case("hue").note
    assert report.case("greyscale").status == "pass"


def test_grey_data_skips_the_colour_cases(looks_host):
    data = products()
    grey = ImageData(corruptions.greyscale(data.images)[:, :1].contiguous(), data.labels, data.class_names)
    report = _check(looks_host, grey)
    assert [c.status for c in report.cases[1:4]] == ["skipped"] * 3
    assert all(c.note == "the data has no colour" for c in report.cases[1:4])


def test_colour_shift_is_small_between_halves_and_large_for_greyscale():
    data = products()
    a, b = split_halves(len(data), None, 0)
    floor = colour_shift(data.images[a], data.labels[a], data.images[b], data.labels[b])
    grey = colour_shift(corruptions.greyscale(data.images[a]), data.labels[a], data.images[b], data.labels[b])
    assert grey > 5 * floor


def test_too_little_data_says_how_much_is_needed():
    with pytest.raises(InputError, match=f"at least {2 * MIN_PER_SIDE} real images"):
        split_halves(2 * MIN_PER_SIDE - 1, None, 0)
    with pytest.raises(InputError, match="too few"):
        split_halves(1000, MIN_PER_SIDE - 1, 0)


# ------------------------------------------------------------------ the command

def _flat(text: str) -> str:
    return " ".join(text.split())


def test_command_exit_codes_and_json(looks_host, tmp_path):
    good = runner.invoke(app, ["metric-check", "test-squares:size=240,resolution=16", "-e", "test-looks", "--json"])
    assert good.exit_code in (0, 1), good.output
    report = json.loads(good.stdout)
    assert report["images_per_side"] == 120 and len(report["cases"]) == 11
    assert good.exit_code == (0 if report["passed"] else 1)

    blind = runner.invoke(app, ["metric-check", "test-squares:size=240,resolution=16", "-e", "test-looks",
                                "-o", "colour=false"])
    assert blind.exit_code == 1, blind.output
    assert "check(s) failed" in _flat(blind.stdout) and "FAIL" in blind.stdout

    small = runner.invoke(app, ["metric-check", "test-squares:size=50,resolution=16", "-e", "test-looks"])
    assert small.exit_code == 2 and "needs at least 200 real images" in _flat(small.stderr)
    assert "Traceback" not in small.output


def test_command_on_a_folder_of_shop_photos_with_the_domain_extractor(tmp_path, monkeypatch):
    """Unlabelled, mixed-format photos: the domain extractor trains without labels and is then checked."""
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))
    photos = write_shop_photos(tmp_path / "photos", count=240)
    spec = f"folder:path={photos},resolution=16"
    options = ["-o", "width=4", "-o", "epochs=2", "-o", "batch_size=64"]
    missing = runner.invoke(app, ["metric-check", spec, "-e", "domain", *options])
    assert missing.exit_code == 2 and "ganzoo features train domain" in _flat(missing.stderr)
    checked = runner.invoke(app, ["metric-check", spec, "-e", "domain", *options, "--json", "--train"])
    assert checked.exit_code in (0, 1), checked.output
    assert "training one on its 240 images first" in _flat(checked.stderr)
    report = json.loads(checked.stdout)
    assert report["extractor"]["objective"] == "contrastive views (shift, mirror)"  # no labels in a flat folder
    again = runner.invoke(app, ["features", "train", "domain", spec, *options])
    assert again.exit_code == 0 and "already trained" in again.stdout
    assert report["extractor"]["kind"] == "domain" and report["cases"][8]["label"].startswith("one mode only")
    model = next((tmp_path / "cache" / "features" / "domain").glob("*.safetensors"))
    wrong_size = runner.invoke(app, ["metric-check", f"folder:path={photos},resolution=32", "-e", "domain",
                                     "-o", f"weights={model}"])
    assert wrong_size.exit_code == 2 and "trained on 16x16 images but got 32x32" in _flat(wrong_size.stderr)
