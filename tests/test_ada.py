"""Adaptive discriminator augmentation: the pipeline, the heuristic that steers p, the recipe, resume, torchrun."""
import json
import math

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file
from torch import nn
from typer.testing import CliRunner

from ganzoo import losses
from ganzoo.api import Architecture, ImageData, Phase, PluginConfig
from ganzoo.cli import app
from ganzoo.engine import Budget, Callback, Trainer, TrainSettings
from ganzoo.engine.ada import AdaptiveAugment
from ganzoo.engine.ada_pipeline import TRANSFORMS, ada_augment
from ganzoo.engine.settings import AdaSettings, EMASettings
from ganzoo.errors import RecipeError
from ganzoo.recipe import resolve
from ganzoo.runner import run_recipe
from tests.conftest import tiny_recipe
from tests.distributed_workers import free_port, join


def images(n=16, c=3, r=16, seed=0):
    return torch.rand(n, c, r, r, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# ------------------------------------------------------------------ the pipeline

@pytest.mark.parametrize("transform", TRANSFORMS)
def test_each_transform_changes_images_at_p_1_and_none_at_p_0(transform):
    x = images(n=64)
    torch.manual_seed(0)
    changed = ((ada_augment(x, 1.0, [transform]) - x).abs().flatten(1).amax(1) > 1e-3).float().mean().item()
    # Flips choose mirror-or-not (1/2 change), rotate90 one of four turns (3/4), an integer shift at 16 px is
    # (0, 0) one time in 16; the others change every image.
    assert changed >= {"xflip": 0.35, "lumaflip": 0.35, "rotate90": 0.6}.get(transform, 0.85), changed
    assert ada_augment(x, 0.0, [transform]) is x and ada_augment(x, 0.0) is x


def test_p_is_the_chance_per_image():
    x = images(n=400, r=8)
    torch.manual_seed(0)
    changed = ((ada_augment(x, 0.3, ["brightness"]) - x).abs().flatten(1).amax(1) > 1e-6).float().mean().item()
    assert abs(changed - 0.3) < 0.08, changed  # 400 Bernoulli(0.3): std 0.023


def test_integer_moves_are_exact_and_every_op_keeps_shape_and_dtype():
    x = images()
    torch.manual_seed(1)
    y = ada_augment(x, 1.0, ["xflip", "rotate90"])
    for a, b in zip(x, y):  # the same pixels, moved: no interpolation blur
        assert torch.allclose(a.flatten().sort().values, b.flatten().sort().values, atol=1e-5)
    grey = images(c=1)
    assert ada_augment(grey, 1.0).shape == grey.shape
    assert ada_augment(x.half(), 0.5).dtype == torch.float16


def test_gradients_flow_through_every_transform_and_the_same_seed_gives_the_same_images():
    x = images().requires_grad_(True)
    torch.manual_seed(2)
    out = ada_augment(x, 1.0)
    (out * torch.linspace(0, 1, out.numel()).view_as(out)).sum().backward()
    assert torch.isfinite(x.grad).all() and (x.grad.abs().flatten(1).sum(1) > 0).all()
    torch.manual_seed(2)
    assert torch.equal(ada_augment(x.detach(), 1.0), out.detach())


def test_unknown_transform_is_refused():
    with pytest.raises(ValueError, match="unknown ADA transform"):
        ada_augment(images(), 0.5, ["shear"])


# ------------------------------------------------------------------ the heuristic

def test_p_rises_when_the_discriminator_overfits_and_falls_otherwise_at_the_papers_speed():
    ada = AdaptiveAugment(AdaSettings(), torch.device("cpu"))
    batch = 64
    step = batch * 4 / 500_000  # the paper: batch x interval / 500k images per adjustment
    for _ in range(3):
        ada.report(torch.full((batch,), 2.0))  # confident "real" on every real: overfitting
        ada.adjust()
    assert ada.p == 0.0  # not yet: p moves every 4 discriminator batches
    ada.report(torch.full((batch,), 2.0))
    ada.adjust()
    assert ada.rt == 1.0 and ada.p == pytest.approx(step)
    for _ in range(4 * 9):
        ada.report(torch.full((batch,), 2.0))
        ada.adjust()
    assert ada.p == pytest.approx(10 * step)
    # 0 to 1 takes 500k images: 500k / (64 x 4) adjustments.
    for _ in range(4 * math.ceil(500_000 / (batch * 4))):
        ada.report(torch.full((batch,), 2.0))
        ada.adjust()
    assert ada.p == 1.0  # clamped
    logits = torch.cat([torch.full((batch // 2,), 1.0), torch.full((batch // 2,), -1.0)])  # r_t = 0 < 0.6
    for _ in range(8):
        ada.report(logits)
        ada.adjust()
    assert ada.rt == 0.0 and ada.p == pytest.approx(1 - 2 * step)
    at_target = torch.cat([torch.full((80,), 1.0), torch.full((20,), -1.0)])  # r_t = 0.6 exactly: p stays
    for _ in range(4):
        ada.report(at_target)
        ada.adjust()
    assert ada.rt == pytest.approx(0.6) and ada.p == pytest.approx(1 - 2 * step)


def test_fixed_p_holds_and_p_never_goes_below_0():
    fixed = AdaptiveAugment(AdaSettings(fixed_p=0.25), torch.device("cpu"))
    falling = AdaptiveAugment(AdaSettings(), torch.device("cpu"))
    for _ in range(8):
        for ada in (fixed, falling):
            ada.report(-torch.ones(8))
            ada.adjust()
    assert fixed.p == 0.25 and fixed.rt == -1.0 and falling.p == 0.0


# ------------------------------------------------------------------ the engine

class SilentConfig(PluginConfig):
    z_dim: int = 8


class Net(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x, labels=None):
        return self.net(x)


class SilentGAN(Architecture):
    """A discriminator loss written before plugin API 1.3: it never reports its real logits."""

    kind = "silent-gan"
    Config = SilentConfig

    def build_generator(self):
        return Net(nn.Sequential(nn.Linear(8, 3 * 16 * 16), nn.Tanh(), nn.Unflatten(1, (3, 16, 16))))

    def build_discriminator(self):
        return Net(nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 1), nn.Flatten(0)))

    def phases(self):
        def d_loss(x):
            real, fake = x.augment(x.real), x.augment(x.generator(x.z).detach())
            return {"loss": losses.nonsaturating_d(x.discriminator(real), x.discriminator(fake))}

        def g_loss(x):
            return {"loss": losses.nonsaturating_g(x.discriminator(x.augment(x.generator(x.z))))}

        return [Phase("D", "discriminator", d_loss), Phase("G", "generator", g_loss, uses_real=False)]


def _silent_trainer(ada: AdaSettings) -> Trainer:
    data = ImageData(torch.randint(0, 256, (16, 3, 16, 16), dtype=torch.uint8))
    settings = TrainSettings(Budget(steps=2), batch_size=4, grid_size=4, ema=EMASettings(enabled=False), ada=ada)
    architecture = SilentGAN(SilentGAN.Config(), data.spec)
    return Trainer(architecture, data, settings, 0, torch.device("cpu"))


def test_an_architecture_that_never_reports_is_refused_at_the_first_step():
    trainer = _silent_trainer(AdaSettings())
    with pytest.raises(RecipeError, match="architecture 'silent-gan' does not report .*x.report_real_logits"):
        trainer.run()
    assert trainer.step == 0
    _silent_trainer(AdaSettings(fixed_p=0.5)).run()  # a fixed p needs no reports


def test_half_plus_resume_with_ada_equals_straight_run(tmp_path, host):
    """p, r_t and a part-filled sum (checkpoint at step 4, adjustments every 3 batches) resume exactly."""
    ada = {"augment": "ada", "ada": {"speed_images": 48, "interval": 3}}  # p moves by 0.5 (3 x 8 images) at a time
    straight = tiny_recipe(tmp_path / "a", steps=8, checkpoint_every=4, **ada)
    result_a = run_recipe(resolve(straight, host), host)
    halves = tiny_recipe(tmp_path / "b", steps=4, checkpoint_every=4, **ada)
    run_recipe(resolve(halves, host), host)
    halves["train"]["steps"] = 8
    result_b = run_recipe(resolve(halves, host), host)
    assert result_b.summary["resumed"]

    def strip(run):
        recs = [json.loads(line) for line in run.run_dir.stats_file.read_text().splitlines()]
        return [{k: v for k, v in r.items() if k not in ("elapsed_s", "images_per_s")} for r in recs]
    records = strip(result_a)
    assert records == strip(result_b)
    assert all("augment_p" in r for r in records) and any(r["augment_p"] > 0 for r in records)
    assert {"augment_rt"} <= records[-1].keys()
    wa, wb = (load_file(str(r.run_dir.checkpoints / "step-00000008.safetensors")) for r in (result_a, result_b))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


# ------------------------------------------------------------------ recipes

RECIPE = """\
run: {{name: ada, output_dir: {out}, threads: 1}}
data: {{kind: catalogue, resolution: 16, size: 32}}
architecture: {{kind: dcgan, width: 8, z_dim: 16}}
train: {{steps: 2, batch_size: 8, grid_size: 4, {train}}}
export: {{count: 1}}
"""


@pytest.mark.parametrize("train, expected", [
    ("augment: [ada, color]", "train.augment (line 4): got ['ada', 'color'], but 'ada' adapts its own pipeline and "
                              "cannot be combined with other policies; write `augment: ada` alone"),
    ("augment: colour", "train.augment (line 4): got 'colour'; accepted: `ada` (adaptive augmentation) alone, or a "
                        "list of DiffAugment policies"),
    ("augment: [color], ada: {target: 0.5}", "train.ada sets options of adaptive augmentation, but train.augment is "
                                             "['color']; set train.augment: ada, or remove train.ada"),
    ("augment: ada, ada: {target: 1.5}", "train.ada.target (line 4): got 1.5; Input should be less than 1"),
])
def test_bad_augment_exits_2_with_one_paragraph_and_writes_nothing(tmp_path, train, expected):
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE.format(out=tmp_path / "runs", train=train))
    result = CliRunner().invoke(app, ["run", str(path)])
    assert result.exit_code == 2, result.output
    message = " ".join(result.stderr.split())
    assert expected in message and "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()


def test_ada_recipe_resolves_to_the_papers_defaults(host, tmp_path):
    resolved = resolve(tiny_recipe(tmp_path, augment="ada"), host)
    settings = resolved.recipe.train.to_settings()
    assert settings.ada == AdaSettings(target=0.6, speed_images=500_000, interval=4) and settings.augment == ()
    assert resolved.to_dict()["train"]["ada"]["target"] == 0.6
    plain = resolve(tiny_recipe(tmp_path, augment=["color"]), host)
    assert "ada" not in plain.to_dict()["train"] and plain.recipe.train.to_settings().ada is None


# ------------------------------------------------------------------ torchrun

class RecordP(Callback):
    def __init__(self):
        self.p = []

    def on_log(self, trainer, record):
        self.p.append(record["augment_p"])


def train_two_ranks(rank, world, port, out):
    """DCGAN with ADA in a gloo group of ``world``; each rank saves the p it logged."""
    join(rank, world, port)
    from ganzoo.host import create_host
    from ganzoo.recipe import build_architecture
    from ganzoo.recipe.build import load_data
    from tests.conftest import SquaresPlugin
    host = create_host([SquaresPlugin()])
    recipe = tiny_recipe(out.parent, steps=12, batch_size=4, log_every=1, augment="ada", ada={"speed_images": 256})
    resolved = resolve(recipe, host)
    data = load_data(resolved, host)
    record = RecordP()
    trainer = Trainer(build_architecture(resolved, host, data.spec), data, resolved.recipe.train.to_settings(),
                      resolved.recipe.run.seed + rank, torch.device("cpu"), callbacks=[record])
    trainer.run()
    torch.save(record.p, out.with_suffix(f".{rank}"))


def test_every_process_holds_the_same_p_from_the_global_batch(tmp_path, monkeypatch):
    """Ranks see different reals and draws (their seeds differ here on purpose), yet p agrees on each step."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    mp.spawn(train_two_ranks, args=(2, free_port(), tmp_path / "p"), nprocs=2)
    p0, p1 = torch.load(tmp_path / "p.0"), torch.load(tmp_path / "p.1")
    assert p0 == p1 and len(p0) == 12 and max(p0) > 0
    step = 4 * 4 * 2 / 256  # the global batch (4 per rank, 2 ranks) x interval 4 / speed_images
    assert all(abs(p / step - round(p / step)) < 1e-9 for p in p0)
