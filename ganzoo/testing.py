"""Contract checks for plugin authors, also a pytest plugin (entry point ``pytest11``).

In a plugin's tests::

    from ganzoo.testing import check_architecture
    def test_contract():
        check_architecture(MyGAN, {"width": 8})

or use the ``ganzoo_check_architecture`` fixture. Heavy imports happen inside the
functions so that merely having ganzoo installed does not slow every pytest run.
"""
from __future__ import annotations

import os
import tempfile
from typing import Any, Iterable

import pytest


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

    from ganzoo.api import Architecture, PluginConfig
    from ganzoo.engine.loop import Trainer
    from ganzoo.recipe import TrainSection

    assert issubclass(cls, Architecture), f"{cls.__name__} must subclass ganzoo.api.Architecture"
    assert isinstance(getattr(cls, "kind", None), str) and cls.kind, f"{cls.__name__}.kind must be a non-empty string"
    assert issubclass(cls.Config, PluginConfig), f"{cls.__name__}.Config must subclass ganzoo.api.PluginConfig"
    cfg = cls.Config.model_validate(config or {})
    try:
        cls.Config.model_validate({**(config or {}), "no_such_field_xyz": 1})
    except Exception:
        pass
    else:
        raise AssertionError(f"{cls.__name__}.Config accepts unknown fields; keep PluginConfig's extra='forbid'")

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
            assert fake.shape == (batch_size, ch, resolution, resolution), \
                f"{where}: generator gave shape {tuple(fake.shape)}, expected {(batch_size, ch, resolution, resolution)}"
            assert torch.isfinite(fake).all(), f"{where}: generator output is not finite"
            assert fake.min() >= -1.0001 and fake.max() <= 1.0001, f"{where}: generator output leaves [-1, 1]"
            with torch.no_grad():
                logits = d(fake, labels)
            assert logits.shape == (batch_size,), f"{where}: discriminator gave shape {tuple(logits.shape)}, expected ({batch_size},)"

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
            train = TrainSection(steps=1, batch_size=batch_size, grid_size=4)
            trainer = Trainer(arch, data, train, seed=0, device=torch.device("cpu"))
            before = [p.detach().clone() for p in trainer.generator.parameters()]
            summary = trainer.run()
            assert summary["step"] == 1
            changed = any(not torch.equal(a, p) for a, p in zip(before, trainer.generator.parameters()))
            assert changed, f"{where}: one training step did not change the generator"
            for p in list(trainer.generator.parameters()) + list(trainer.discriminator.parameters()):
                assert torch.isfinite(p).all(), f"{where}: weights not finite after one step"


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
    discriminator phase must log both as mean logits); and the fake scores
    respond to the generator (one generator update raises the discriminator's
    score of the same latents' images).
    """
    import math

    import torch

    from ganzoo.api import PhaseInputs
    from ganzoo.engine.loop import Callback, Trainer
    from ganzoo.recipe import TrainSection

    records: list[dict] = []

    class Collect(Callback):
        def on_log(self, record):
            records.append(record)

    data = _squares(resolution)
    arch = cls(cls.Config.model_validate(config or {}), data.spec)
    train = TrainSection(steps=steps, batch_size=batch_size, log_every=1, grid_size=4)
    trainer = Trainer(arch, data, train, seed=0, device=torch.device("cpu"), callbacks=[Collect()])
    trainer.run()
    for record in records:
        for key, value in record.items():
            assert math.isfinite(value), f"{cls.kind}: {key} is {value} at step {record['step']}"
    real, fake = f"{phase}/real_score", f"{phase}/fake_score"
    assert real in records[0] and fake in records[0], f"{cls.kind}: the {phase} phase must log real_score and fake_score"
    gaps = [r[real] - r[fake] for r in records]
    assert gaps[-1] > 0 and gaps[-1] > gaps[0], \
        f"{cls.kind}: the discriminator did not learn to separate real from fake (gap {gaps[0]:.3f} -> {gaps[-1]:.3f})"

    G, D = trainer.generator, trainer.discriminator
    g_phase = next(p for p in trainer.phases if p.trains == "generator")
    z = arch.sample_latents(batch_size, "cpu", torch.Generator().manual_seed(5))
    labels = arch.sample_labels(batch_size, "cpu", torch.Generator().manual_seed(5))

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
