"""Process bodies for tests/test_distributed.py (not a test module itself).

Functions here run in processes started by torch.multiprocessing (``join`` sets
the environment torchrun would), or under torchrun itself:
``python -m torch.distributed.run ... -m tests.distributed_workers RECIPE.json KILL_STEP``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import sys
from pathlib import Path

import numpy as np
import torch

from ganzoo.engine import distributed
from ganzoo.engine.loop import Callback, Trainer
from ganzoo.host import create_host
from ganzoo.metrics.evaluate import LoadedExtractor, extract
from ganzoo.metrics.sources import dataset_source, generator_source
from ganzoo.recipe import build_architecture, resolve
from ganzoo.recipe.build import load_data
from ganzoo.runner import run_recipe
from tests.conftest import SquaresPlugin
from tests.test_metrics import Pixels, PixelsConfig, PixelsPlugin, images


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def join(rank: int, world: int, port: int) -> None:
    """Join a gloo process group as torchrun's environment would describe it."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    distributed.setup("cpu")


# ------------------------------------------------------------------ equivalence

class KeyedDraws:
    """Random draws keyed by call number and by position in the global batch.

    A process of rank r in a world of w draws rows [r*n, (r+1)*n) of the w*n rows one
    process of batch w*n draws, so the two runs see the same latents and penalty
    interpolates. Real runs give each process its own stream; only this equivalence
    check needs them tied together.
    """

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, sample, n: int, *shape: int) -> torch.Tensor:
        rank, world = distributed.rank() if distributed.active() else 0, distributed.world_size()
        generator = torch.Generator().manual_seed(10_000 + self.calls)
        self.calls += 1
        return sample(n * world, *shape, generator=generator)[rank * n:(rank + 1) * n]


def keyed(cls):
    """The architecture ``cls`` with its training latents and in-loss ``torch.rand`` draws keyed."""

    class Keyed(cls):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.draws = KeyedDraws()

        def sample_latents(self, n, device="cpu", generator=None):
            if generator is not None:  # grids and export: their own seeded stream, as always
                return super().sample_latents(n, device, generator)
            return self.draws(torch.randn, n, self.z_dim).to(device)

        def phases(self):
            return [dataclasses.replace(phase, loss=self._keyed_rand(phase.loss)) for phase in super().phases()]

        def _keyed_rand(self, loss):
            def run(inputs):
                real_rand = torch.rand

                def rand(*size, device=None, **kwargs):  # e.g. WGAN-GP's interpolation weights, one per image
                    return self.draws(real_rand, *size).to(device)

                torch.rand = rand
                try:
                    return loss(inputs)
                finally:
                    torch.rand = real_rand
            return run

    return Keyed


def train_keyed(rank: int, world: int, port: int, jobs: list[tuple[dict, str]]) -> None:
    """Train each (recipe, out) job with keyed draws; rank 0 saves every network's state dict to ``out``."""
    if world > 1:
        join(rank, world, port)
    host = create_host([SquaresPlugin()])
    for recipe, out in jobs:
        resolved = resolve(recipe, host)
        data = load_data(resolved, host)
        architecture = keyed(host.architectures.get(resolved.recipe.architecture.kind).obj)(
            resolved.architecture_config, data.spec)
        trainer = Trainer(architecture, data, resolved.recipe.train.to_settings(), resolved.recipe.run.seed,
                          torch.device("cpu"))
        initial = {k: v.clone() for k, v in trainer.generator.state_dict().items()}
        trainer.run()
        if distributed.is_main():
            torch.save({"initial_generator": initial,
                        **{name: net.state_dict() for name, net in trainer.networks().items()}}, out)


# ------------------------------------------------------------------ evaluation

def extract_both(rank: int, world: int, port: int, out: str) -> None:
    """Statistics of a dataset and of a generator's images; rank 0 saves them to ``out`` (.npz)."""
    if world > 1:
        join(rank, world, port)
    torch.manual_seed(0)
    extractor = Pixels(PixelsConfig(size=4))
    loaded = LoadedExtractor(extractor, {"kind": "test-pixels"})
    data = extract(loaded, dataset_source(images(100), "data", {}), batch_size=16, keep=40, seed=1)
    host = create_host([SquaresPlugin()])
    resolved = resolve({"data": {"kind": "test-squares", "resolution": 16},
                        "architecture": {"kind": "dcgan", "width": 8, "z_dim": 16}, "train": {"steps": 1}}, host)
    architecture = build_architecture(resolved, host, load_data(resolved, host).spec)
    torch.manual_seed(0)
    generator = architecture.build_generator()
    fake = extract(loaded, generator_source(architecture, generator, 70, 5, torch.device("cpu"), "g", {}),
                   batch_size=8, keep=70, seed=2)
    if distributed.is_main():
        np.savez(out, **{f"{name}_{key}": value for name, stats in (("data", data), ("fake", fake))
                         for key, value in (("n", stats.n), ("mean", stats.mean), ("sigma", stats.sigma),
                                            ("features", stats.features))})


# ------------------------------------------------------------------ under torchrun

class DieOnce(Callback):
    """Kills rank 1 at ``step`` of the first attempt, as a crashed GPU or machine would."""

    def __init__(self, step: int):
        self.step = step

    def on_log(self, trainer, record) -> None:
        if record["step"] == self.step and distributed.rank() == 1 and not distributed.restarted():
            os.kill(os.getpid(), signal.SIGKILL)


def main(recipe_file: str, kill_step: str) -> None:
    """``run_recipe`` as ``ganzoo run`` calls it, with the test dataset and extractor installed."""
    host = create_host([SquaresPlugin(), PixelsPlugin()])
    resolved = resolve(json.loads(Path(recipe_file).read_text()), host)
    run_recipe(resolved, host, [DieOnce(int(kill_step))])


if __name__ == "__main__":
    main(*sys.argv[1:])
