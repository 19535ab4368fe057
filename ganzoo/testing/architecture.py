"""Contract checks for architectures: building, one training step, learning, exact resume."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable
from unittest import mock

from ganzoo.testing.shared import check_class, tiny_data


def check_architecture(cls: type, config: dict[str, Any] | None = None,
                       resolutions: Iterable[int] = (16,), channels: Iterable[int] = (3, 1),
                       classes: int = 0, batch_size: int = 4) -> None:
    """Assert that ``cls`` fits the engine: builds, trains a step on CPU, round-trips weights, is seeded.

    ``config`` should be tiny (a few channels) so the check takes a second or two.
    """
    import torch
    from safetensors.torch import load_file, save_file

    from ganzoo.engine import Budget, Trainer, TrainSettings

    cfg = check_class(cls, "Architecture", config)

    torch.set_num_threads(max(1, torch.get_num_threads()))
    for resolution in resolutions:
        for ch in channels:
            data = tiny_data(resolution, ch, classes)
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
            _check_style_resolutions(arch, g1, where)

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


def _check_style_resolutions(arch: Any, generator: Any, where: str) -> None:
    """Plugin API 1.5: ``style_resolutions``, when given, names a resolution for every w+ index."""
    resolutions = arch.style_resolutions(generator)
    if resolutions is None:
        return
    count = arch.num_ws(generator)
    assert len(resolutions) == count, \
        f"{where}: style_resolutions gave {len(resolutions)} entries for {count} w+ indices (num_ws)"
    assert all(isinstance(r, int) and 0 < r <= arch.image.resolution for r in resolutions), \
        f"{where}: style_resolutions must be resolutions in px up to {arch.image.resolution}, got {resolutions}"


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
    cfg = check_class(cls, "Architecture", config)
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
