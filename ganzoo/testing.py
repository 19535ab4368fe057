"""Contract checks for plugin authors, also a pytest plugin (entry point ``pytest11``).

One check per plugin type, plus one for the plugin module itself. In a plugin's tests::

    from ganzoo.testing import check_architecture, check_plugin
    from ganzoo_mygan import plugin, MyGAN

    def test_contract():
        check_architecture(MyGAN, {"width": 8})

    def test_plugin():
        check_plugin(plugin, {"architecture": ["mygan"]})

The per-type checks are also fixtures (``ganzoo_check_architecture``,
``ganzoo_check_dataset``, ``ganzoo_check_postprocessor``,
``ganzoo_check_feature_extractor``, ``ganzoo_check_inverter``). Heavy imports happen inside the functions so
that merely having ganzoo installed does not slow every pytest run.
"""
from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Iterable
from unittest import mock

import pytest

__all__ = [
    "check_architecture", "check_training_sanity", "check_resume", "check_dataset", "check_postprocessor",
    "check_feature_extractor", "check_plugin", "ganzoo_check_architecture", "ganzoo_check_dataset",
    "ganzoo_check_postprocessor", "ganzoo_check_feature_extractor", "check_inverter", "ganzoo_check_inverter"
]


def _check_class(cls: type, base_name: str, config: dict[str, Any] | None):
    """Shared by every check: the base class, ``kind``, a strict ``Config``; returns the validated config."""
    import ganzoo.api as api

    base = getattr(api, base_name)
    assert isinstance(cls, type) and issubclass(cls, base), f"{cls!r} must subclass ganzoo.api.{base_name}"
    assert isinstance(getattr(cls, "kind", None), str) and cls.kind, f"{cls.__name__}.kind must be a non-empty string"
    assert issubclass(cls.Config, api.PluginConfig), f"{cls.__name__}.Config must subclass ganzoo.api.PluginConfig"
    cfg = cls.Config.model_validate(config or {})
    try:
        cls.Config.model_validate({**(config or {}), "no_such_field_xyz": 1})
    except Exception:
        pass
    else:
        raise AssertionError(f"{cls.__name__}.Config accepts unknown fields; keep PluginConfig's extra='forbid'")
    return cfg


def _tiny_data(resolution: int, channels: int, classes: int, n: int = 16):
    import torch

    from ganzoo.api import ImageData
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, channels, resolution, resolution), generator=g, dtype=torch.uint8)
    if classes:
        return ImageData(images, torch.arange(n) % classes, tuple(f"c{i}" for i in range(classes)))
    return ImageData(images)


def check_architecture(cls: type, config: dict[str, Any] | None = None,
                       resolutions: Iterable[int] = (16,), channels: Iterable[int] = (3, 1),
                       classes: int = 0, batch_size: int = 4) -> None:
    """Assert that ``cls`` fits the engine: builds, trains a step on CPU, round-trips weights, is seeded.

    ``config`` should be tiny (a few channels) so the check takes a second or two.
    """
    import torch
    from safetensors.torch import load_file, save_file

    from ganzoo.engine import Budget, Trainer, TrainSettings

    cfg = _check_class(cls, "Architecture", config)

    torch.set_num_threads(max(1, torch.get_num_threads()))
    for resolution in resolutions:
        for ch in channels:
            data = _tiny_data(resolution, ch, classes)
            image = data.spec
            arch = cls(cfg, image)
            where = f"{cls.kind} at {resolution}px, {ch} channel(s)"
            torch.manual_seed(0)
            g1 = arch.build_generator()
            torch.manual_seed(0)
            g2 = arch.build_generator()
            for (name, a), b in zip(g1.state_dict().items(), g2.state_dict().values()):
                assert torch.equal(a, b), f"{where}: same seed gave different generator weights ({name})"
            d = arch.build_discriminator()
            z = arch.sample_latents(batch_size, "cpu", torch.Generator().manual_seed(1))
            labels = arch.sample_labels(batch_size, "cpu", torch.Generator().manual_seed(1))
            g1.eval()
            with torch.no_grad():
                fake = arch.generate(g1, z, labels)
            wanted = (batch_size, ch, resolution, resolution)
            assert fake.shape == wanted, f"{where}: generator gave shape {tuple(fake.shape)}, expected {wanted}"
            assert torch.isfinite(fake).all(), f"{where}: generator output is not finite"
            assert fake.min() >= -1.0001 and fake.max() <= 1.0001, f"{where}: generator output leaves [-1, 1]"
            with torch.no_grad():
                logits = d(fake, labels)
            assert logits.shape == (batch_size,), \
                f"{where}: discriminator gave shape {tuple(logits.shape)}, expected ({batch_size},)"
            _check_discriminator_blocks(arch, d, where)

            # Round trip through safetensors, as checkpoints do.
            tensors = {k: v.contiguous() for k, v in g1.state_dict().items()}
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "g.safetensors")
                save_file(tensors, path)
                g3 = arch.build_generator()
                g3.load_state_dict(load_file(path))
            g3.eval()
            with torch.no_grad():
                assert torch.equal(arch.generate(g3, z, labels), fake), f"{where}: weights do not round-trip"

            # One real training step through the engine.
            train = TrainSettings(Budget(steps=1), batch_size=batch_size, grid_size=4)
            trainer = Trainer(arch, data, train, seed=0, device=torch.device("cpu"))
            before = [p.detach().clone() for p in trainer.generator.parameters()]
            summary = trainer.run()
            assert summary["step"] == 1
            changed = any(not torch.equal(a, p) for a, p in zip(before, trainer.generator.parameters()))
            assert changed, f"{where}: one training step did not change the generator"
            for p in list(trainer.generator.parameters()) + list(trainer.discriminator.parameters()):
                assert torch.isfinite(p).all(), f"{where}: weights not finite after one step"


def _check_discriminator_blocks(arch: Any, discriminator: Any, where: str) -> None:
    """FreezeD's blocks (plugin API 1.3), when the architecture names them: modules holding the
    discriminator's own parameters, each in one block only."""
    blocks = arch.discriminator_blocks(discriminator)
    if blocks is None:
        return
    assert isinstance(blocks, list) and blocks, f"{where}: discriminator_blocks must return a non-empty list or None"
    own, seen = {id(p) for p in discriminator.parameters()}, set()
    for index, block in enumerate(blocks):
        params = {id(p) for p in block.parameters()}
        assert params and params <= own, \
            f"{where}: discriminator block {index} holds no parameters, or some that are not the discriminator's"
        assert not params & seen, f"{where}: discriminator block {index} shares parameters with an earlier block"
        seen |= params


@pytest.fixture
def ganzoo_check_architecture():
    """The :func:`check_architecture` function, as a fixture for plugin test suites."""
    return check_architecture


def _squares(resolution: int, n: int = 64):
    """Dark squares on white: structured enough that a discriminator can tell fakes quickly."""
    import torch

    from ganzoo.api import ImageData
    g = torch.Generator().manual_seed(0)
    images = torch.full((n, 3, resolution, resolution), 255, dtype=torch.uint8)
    for i in range(n):
        s = int(torch.randint(resolution // 4, resolution // 2, (1,), generator=g))
        x, y = torch.randint(0, resolution - s, (2,), generator=g).tolist()
        images[i, :, y:y + s, x:x + s] = torch.randint(0, 120, (3, 1, 1), generator=g, dtype=torch.uint8)
    return ImageData(images, torch.arange(n) % 2, ("a", "b"))


def check_training_sanity(cls: type, config: dict[str, Any] | None = None, steps: int = 40,
                          resolution: int = 16, batch_size: int = 16, phase: str = "D") -> list[dict]:
    """Train briefly on CPU and assert training is sane; returns the per-step records.

    Sane means: every logged value is finite; the discriminator learns to separate
    real from fake (``<phase>/real_score`` ends above ``<phase>/fake_score``, the
    discriminator phase must log both as mean logits, and the trained
    discriminator separates real images from the final fakes better than it did
    untrained: an untrained one may already tell them apart by their statistics);
    and the fake scores respond to the generator (one generator update raises the
    discriminator's score of the same latents' images).
    """
    import copy
    import math

    import torch

    from ganzoo.api import PhaseInputs, to_float_images
    from ganzoo.engine import Budget, Callback, Trainer, TrainSettings

    records: list[dict] = []

    class Collect(Callback):
        def on_log(self, trainer, record):
            records.append(record)

    data = _squares(resolution)
    arch = cls(cls.Config.model_validate(config or {}), data.spec)
    train = TrainSettings(Budget(steps=steps), batch_size=batch_size, log_every=1, grid_size=4)
    trainer = Trainer(arch, data, train, seed=0, device=torch.device("cpu"), callbacks=[Collect()])
    untrained = copy.deepcopy(trainer.discriminator)
    trainer.run()
    for record in records:
        for key, value in record.items():
            assert math.isfinite(value), f"{cls.kind}: {key} is {value} at step {record['step']}"
    real, fake = f"{phase}/real_score", f"{phase}/fake_score"
    assert real in records[0] and fake in records[0], \
        f"{cls.kind}: the {phase} phase must log real_score and fake_score"
    assert records[-1][real] > records[-1][fake], \
        (f"{cls.kind}: after training the discriminator scores fakes above reals "
         f"({records[-1][fake]:.3f} > {records[-1][real]:.3f})")

    G, D = trainer.generator, trainer.discriminator
    g_phase = next(p for p in trainer.phases if p.trains == "generator")
    z = arch.sample_latents(batch_size, "cpu", torch.Generator().manual_seed(5))
    labels = arch.sample_labels(batch_size, "cpu", torch.Generator().manual_seed(5))
    reals = to_float_images(data.images[:batch_size])
    real_labels = data.labels[:batch_size] if arch.conditional else None
    with torch.no_grad():
        torch.manual_seed(7)
        fakes = arch.generate(G, z, labels)
        learned, initial = ((net(reals, real_labels).mean() - net(fakes, labels).mean()).item()
                            for net in (D, untrained))
    assert learned > initial, (f"{cls.kind}: the discriminator did not learn to separate real from fake "
                               f"(score gap {initial:.3f} untrained, {learned:.3f} trained)")

    def fake_score() -> float:
        torch.manual_seed(7)  # the same noise and style-mixing draws before and after the update
        with torch.no_grad():
            return D(arch.generate(G, z, labels), labels).mean().item()

    before = fake_score()
    D.requires_grad_(False)
    G.requires_grad_(True)
    optimizer = trainer.optimizers["generator"]
    optimizer.zero_grad(set_to_none=True)
    g_phase.loss(PhaseInputs(G, D, None, None, z, labels, trainer.step))["loss"].backward()
    optimizer.step()
    after = fake_score()
    assert after > before, f"{cls.kind}: a generator update did not raise the fake score ({before:.4f} -> {after:.4f})"
    return records


def check_resume(cls: type, config: dict[str, Any] | None = None, steps: int = 4, resolution: int = 16,
                 batch_size: int = 8) -> None:
    """Assert that training ``steps`` straight equals ``steps // 2``, a checkpoint, a resume and the rest.

    Bit for bit on the CPU: every weight (EMA included) and every logged value. It
    fails when a phase draws random numbers the engine cannot replay (an RNG of
    your own, state kept outside the networks).
    """
    import torch

    from ganzoo.engine import Budget, Trainer, TrainSettings
    from ganzoo.rundir import RunDir

    data = _squares(resolution)
    cfg = _check_class(cls, "Architecture", config)
    half = max(1, steps // 2)

    def train(folder: Path, budget: int) -> tuple[Trainer, dict]:
        folder.mkdir(exist_ok=True)
        section = TrainSettings(Budget(steps=budget), batch_size=batch_size, log_every=1, sample_every=steps,
                                checkpoint_every=half, grid_size=4)
        trainer = Trainer(cls(cfg, data.spec), data, section, seed=0, device=torch.device("cpu"),
                          writer=RunDir(folder))
        return trainer, trainer.run()

    def records(folder: Path) -> list[dict]:
        timing = ("elapsed_s", "images_per_s")
        return [{k: v for k, v in json.loads(line).items() if k not in timing}
                for line in (folder / "stats.jsonl").read_text().splitlines()]

    with tempfile.TemporaryDirectory() as tmp, mock.patch.dict(os.environ, {"GANZOO_TENSORBOARD": "0"}):
        straight, _ = train(Path(tmp) / "straight", steps)
        train(Path(tmp) / "halves", half)
        resumed, summary = train(Path(tmp) / "halves", steps)
        assert summary["resumed"] and summary["steps_this_session"] == steps - half, "the second session did not resume"
        assert records(Path(tmp) / "straight") == records(Path(tmp) / "halves"), \
            f"{cls.kind}: logged values after resuming differ from a straight run"
        for name, net in straight.networks().items():
            other = resumed.networks()[name].state_dict()
            for key, value in net.state_dict().items():
                assert torch.equal(value, other[key]), f"{cls.kind}: {name}.{key} differs after resuming"


def check_dataset(cls: type, config: dict[str, Any] | None = None, resolutions: Iterable[int] = (16, 32)) -> None:
    """Assert that ``cls`` loads uint8 ``(N, C, R, R)`` images at each resolution, the same ones every time,
    and that its ``check()``, when it has one, tells the same channels and classes (and at least as many images:
    decoding may skip unreadable files)."""
    from ganzoo.api import DataCheck, ImageData

    cfg = _check_class(cls, "Dataset", config)
    for resolution in resolutions:
        data = cls(cfg, resolution).load()
        where = f"{cls.kind} at {resolution}px"
        assert isinstance(data, ImageData), f"{where}: load() returned {type(data).__name__}, not ganzoo.api.ImageData"
        n, channels, height, width = data.images.shape
        assert n > 0, f"{where}: no images"
        assert (height, width) == (resolution, resolution), f"{where}: images are {height}x{width}"
        assert channels in (1, 3), f"{where}: images have {channels} channels; give 1 (grey) or 3 (RGB)"
        if data.labels is not None:
            assert 0 <= int(data.labels.min()) and int(data.labels.max()) < len(data.class_names), \
                f"{where}: labels outside 0..{len(data.class_names) - 1}"
        again = cls(cfg, resolution).load()
        assert again.content_hash() == data.content_hash(), f"{where}: two loads gave different images or labels"
        found = cls(cfg, resolution).check()  # optional (plugin API 1.3): must agree with what load gives
        if found is not None:
            assert isinstance(found, DataCheck), f"{where}: check() returned {type(found).__name__}, not DataCheck"
            assert (found.channels, tuple(found.class_names)) == (channels, data.spec.class_names), \
                f"{where}: check() says {found.channels} channel(s), classes {found.class_names}; load() gives " \
                f"{channels}, {data.spec.class_names}"
            assert found.size >= n, f"{where}: check() counts {found.size} images, load() gives {n}"


def check_postprocessor(cls: type, config: dict[str, Any] | None = None,
                        modes: Iterable[str] = ("L", "RGB", "RGBA")) -> None:
    """Assert that ``cls`` handles generated and file images in each mode, the same way on several threads.

    Runs the step through the trial ganzoo runs before exporting (every test image
    through the step, encoded in memory in the format it asks for), then runs it
    on many threads at once and compares with the one-thread result.
    """
    from concurrent.futures import ThreadPoolExecutor

    from ganzoo.errors import GanzooError
    from ganzoo.export.pipeline import Pipeline, check_pipeline, probe_images

    step = cls(_check_class(cls, "PostProcessor", config))
    pipeline = Pipeline([step], [f"{cls.kind}"], f"{cls.__name__} contract check")
    base = {"run_id": "check", "kind": "check", "seed": 0}
    for files in (False, True):
        try:
            check_pipeline(pipeline, probe_images(modes), base, provenance=True, files=files)
        except GanzooError as exc:
            raise AssertionError(str(exc)) from None
    for probe in probe_images(modes):
        def run(_=None, probe=probe):
            meta = {**base, "index": 0, "label": None, "class_name": None, "format": "png", "source": None}
            return step(probe.copy(), meta).tobytes()

        alone = run()
        with ThreadPoolExecutor(4) as pool:
            assert all(out == alone for out in pool.map(run, range(16))), \
                f"{cls.kind}: a {probe.mode} image came out differently when steps ran on several threads at once"


def check_feature_extractor(cls: type, config: dict[str, Any] | None = None,
                            resolutions: Iterable[int] = (16, 32)) -> None:
    """Assert that ``cls`` gives finite ``(N, dims)`` features, per image (not per batch), with a JSON protocol,
    when it names a ``classifier``, finite ``(N, classes)`` class logits, and when it is ``perceptual``,
    differentiable per-image ``feature_maps`` (since plugin API 1.4).

    ``load`` gets a tiny labelled reference set; a trainable extractor's config
    should point at weights it can load without training.
    """
    import torch

    cfg = _check_class(cls, "FeatureExtractor", config)
    extractor = cls(cfg, "cpu")
    extractor.load(_tiny_data(16, 3, 2))
    assert isinstance(extractor.dims, int) and extractor.dims > 0, \
        f"{cls.kind}: dims must be a positive int after load()"
    protocol = extractor.protocol()
    json.dumps(protocol)  # it keys a cache and is written next to every number
    assert isinstance(protocol.get("comparable_to_published"), bool), \
        f"{cls.kind}: protocol() must include comparable_to_published (True or False)"
    for resolution in resolutions:
        for channels in (1, 3):
            images = _tiny_data(resolution, channels, 0, n=6).images
            where = f"{cls.kind} at {resolution}px, {channels} channel(s)"
            features = extractor(images)
            assert isinstance(features, torch.Tensor) and features.is_floating_point(), \
                f"{where}: features must be a float tensor"
            assert features.shape == (6, extractor.dims), \
                f"{where}: features {tuple(features.shape)}, expected (6, {extractor.dims})"
            assert torch.isfinite(features).all(), f"{where}: features are not finite"
            one_by_one = torch.cat([extractor(images[i:i + 1]) for i in range(len(images))])
            assert torch.allclose(one_by_one, features, rtol=1e-4, atol=1e-5), \
                f"{where}: an image's features depend on the rest of its batch"
    if cls.classifier:  # plugin API 1.1: the classifier behind the Inception Score
        logits = extractor.class_logits(features)
        assert isinstance(logits, torch.Tensor) and logits.is_floating_point() and logits.ndim == 2, \
            f"{cls.kind}: class_logits must return a float tensor (N, classes)"
        assert len(logits) == len(features) and logits.shape[1] >= 2, \
            f"{cls.kind}: class_logits gave {tuple(logits.shape)} for {len(features)} feature vectors"
        assert torch.isfinite(logits).all(), f"{cls.kind}: class logits are not finite"
    if cls.perceptual:  # plugin API 1.4: feature maps for a perceptual loss (ganzoo project --features)
        pixels = (_tiny_data(16, 3, 0, n=3).images.float() / 127.5 - 1).requires_grad_(True)
        maps = extractor.feature_maps(pixels)
        assert maps and all(isinstance(m, torch.Tensor) and m.ndim == 4 and len(m) == 3 for m in maps), \
            f"{cls.kind}: feature_maps must return a non-empty list of (N, C, H, W) tensors"
        sum(m.square().mean() for m in maps).backward()
        assert pixels.grad is not None and torch.isfinite(pixels.grad).all() and pixels.grad.abs().sum() > 0, \
            f"{cls.kind}: feature_maps must be differentiable with respect to the images"
        alone = extractor.feature_maps(pixels[:1].detach())
        assert all(torch.allclose(a, m[:1].detach(), rtol=1e-4, atol=1e-5) for a, m in zip(alone, maps)), \
            f"{cls.kind}: an image's feature maps depend on the rest of its batch"


def toy_inversion_runs() -> list:
    """Two tiny 8 px runs for inverter checks, as ``InversionRun``: a z-only generator and a style-based one
    (z, w, w+, two styles), each with random frozen weights and a pooled-pixel feature space."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    from ganzoo.api import Architecture, ImageSpec, InversionRun, PluginConfig

    class ToyConfig(PluginConfig):
        z_dim: int = 8

    class ToyGenerator(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mapping = nn.Linear(8, 8)
            self.layers = nn.ModuleList([nn.Linear(8, 3 * 8 * 8) for _ in range(2)])

        def synthesis(self, ws):
            return torch.tanh(sum(layer(ws[:, i]) for i, layer in enumerate(self.layers))).view(-1, 3, 8, 8)

        def forward(self, z, labels=None):
            return self.synthesis(self.mapping(z)[:, None].expand(-1, 2, -1))

    class ToyZ(Architecture):
        kind, Config = "toy-z", ToyConfig

        def build_generator(self):
            return ToyGenerator()

    class ToyStyle(ToyZ):
        kind = "toy-style"

        def latent_spaces(self):
            return ("z", "w", "w+")

        def mapping(self, generator, z, labels=None):
            return generator.mapping(z)

        def synthesis(self, generator, w_plus, labels=None):
            return generator.synthesis(w_plus)

        def num_ws(self, generator):
            return 2

        def style_groups(self, generator):
            return {"coarse": range(0, 1), "middle": range(1, 1), "fine": range(1, 2)}

        def style_weights(self, generator):
            return torch.cat([layer.weight for layer in generator.layers]).detach()

    runs = []
    for cls in (ToyZ, ToyStyle):
        torch.manual_seed(0)
        architecture = cls(ToyConfig(), ImageSpec(8, 3))
        generator = architecture.build_generator().eval().requires_grad_(False)
        runs.append(InversionRun(architecture, generator, torch.device("cpu"), run_id=f"{cls.kind}-run",
                                 features=lambda x, labels=None: [F.avg_pool2d(x, 2)]))
    return runs


def check_inverter(cls: type, config: dict[str, Any] | None = None, setup: Any = None,
                   must_improve: bool = True) -> None:
    """Assert that ``cls`` inverts generated images of two toy runs (z-only and style-based): an ``Inversion``
    of one finite latent per image in a space the run offers, progress reported, JSON-able info, the same
    latents for the same seed and, with ``must_improve``, reconstructions closer to the targets than the
    generator's image of the mean latent. ``setup(run)`` (optional) prepares what the inverter needs for a run
    (a trained encoder, say) and returns config fields to add for it. Since plugin API 1.3.
    """
    import torch

    from ganzoo.api import Inversion

    _check_class(cls, "Inverter", config)
    for run in toy_inversion_runs():
        extra = setup(run) if setup is not None else {}
        inverter = cls(cls.Config.model_validate({**(config or {}), **(extra or {})}))
        architecture, G = run.architecture, run.generator
        where = f"{cls.kind} on a {architecture.kind} run"
        targets = architecture.generate(G, torch.randn(4, architecture.z_dim, generator=torch.Generator()
                                                       .manual_seed(1))).detach()
        calls: list[tuple[int, int]] = []

        def invert():
            torch.manual_seed(0)
            return inverter.invert(run, targets.clone(), None, lambda done, total: calls.append((done, total)))

        result = invert()
        assert isinstance(result, Inversion), f"{where}: invert() must return a ganzoo.api.Inversion"
        assert result.space in architecture.latent_spaces(), \
            f"{where}: space {result.space!r} is not one of the run's {architecture.latent_spaces()}"
        shapes = {"z": (4, architecture.z_dim), "w": (4, 8), "w+": (4, 2, 8)}
        assert tuple(result.latents.shape) == shapes[result.space], \
            f"{where}: {result.space} latents of shape {tuple(result.latents.shape)}, expected {shapes[result.space]}"
        assert torch.isfinite(result.latents).all(), f"{where}: latents are not finite"
        assert result.labels is None, f"{where}: labels must be None for an unconditional generator"
        json.dumps(result.info)
        assert calls and all(0 <= done <= total for done, total in calls), \
            f"{where}: call progress(done, total) as work proceeds, with 0 <= done <= total"
        assert torch.equal(invert().latents, result.latents), f"{where}: the same seed gave other latents"
        if must_improve:
            with torch.no_grad():
                mean_image = architecture.generate(G, torch.zeros(1, architecture.z_dim))
                codes = result.latents if result.space != "w" else result.latents[:, None].expand(-1, 2, -1)
                recon = architecture.generate(G, codes) if result.space == "z" else architecture.synthesis(G, codes)
            error, baseline = (recon - targets).square().mean(), (mean_image - targets).square().mean()
            assert error < baseline, f"{where}: reconstructions ({error:.4f} MSE) are no closer to the targets " \
                                     f"than the mean latent's image ({baseline:.4f})"


def check_plugin(plugin: object, provides: dict[str, list[str]], distribution: str | None = None) -> None:
    """Assert that ``plugin`` (the module your entry point names) loads and provides exactly ``provides``.

    ``provides`` maps a category (architecture, dataset, postprocessor,
    feature_extractor) to kinds, e.g. ``{"architecture": ["mygan"]}``. The plugin
    must declare ``GANZOO_PLUGIN_API``. With ``distribution``, also check that the
    installed distribution's ``ganzoo`` entry point names this module, and that in
    the whole installed environment it loads and every kind it provides is its
    own: a kind another installed distribution provides too is ambiguous, and no
    recipe could use it (until a user chooses with ``GANZOO_PROVIDERS``).
    """
    import importlib.metadata as metadata

    from ganzoo.host import ENTRY_POINT_GROUP, apiversion, create_host

    name = getattr(plugin, "__name__", type(plugin).__name__)
    assert apiversion.declared(plugin) is not None, \
        (f"{name} does not declare the plugin API it targets; add "
         f"{apiversion.ATTRIBUTE} = {apiversion.PLUGIN_API_VERSION!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        record = create_host([plugin], entry_points=False).records[0]
    assert record.status == "loaded", f"{name} did not load: {record.error}"
    assert record.provides == provides, f"{name} provides {record.provides}, expected {provides}"
    if distribution is None:
        return
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        raise AssertionError(f"{distribution} is not installed; run `pip install -e .` in its folder") from None
    points = [ep for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP]
    assert points, (f"{distribution} has no entry point in the '{ENTRY_POINT_GROUP}' group; add "
                    f"[project.entry-points.{ENTRY_POINT_GROUP}] to pyproject.toml and reinstall")
    assert any(ep.load() is plugin for ep in points), \
        f"{distribution}'s entry points ({', '.join(ep.value for ep in points)}) do not name {name}"
    _check_installed_environment(distribution, provides)


def _check_installed_environment(distribution: str, provides: dict[str, list[str]]) -> None:
    from ganzoo.host import create_host

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        host = create_host()  # every installed plugin, as `ganzoo` itself loads them
    records = [r for r in host.records if r.distribution == distribution]
    assert records and all(r.status == "loaded" for r in records), \
        f"{distribution} does not load beside the installed plugins: {'; '.join(r.error for r in records)}"
    for category, kinds in provides.items():
        registry = host.registries[category]
        for kind in kinds:
            others = [p.distribution for p in registry.conflicts().get(kind, []) if p.distribution != distribution]
            assert not others, (f"the {category} kind '{kind}' is also provided by {', '.join(others)}, installed "
                                f"here: recipes cannot use it while both are installed. Choose another kind name.")


@pytest.fixture
def ganzoo_check_dataset():
    """The :func:`check_dataset` function, as a fixture."""
    return check_dataset


@pytest.fixture
def ganzoo_check_postprocessor():
    """The :func:`check_postprocessor` function, as a fixture."""
    return check_postprocessor


@pytest.fixture
def ganzoo_check_feature_extractor():
    """The :func:`check_feature_extractor` function, as a fixture."""
    return check_feature_extractor


@pytest.fixture
def ganzoo_check_inverter():
    """The :func:`check_inverter` function, as a fixture."""
    return check_inverter
