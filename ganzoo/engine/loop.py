"""The training loop: phases from the architecture, everything else from here.

The loop draws nothing: it reports through callbacks (the CLI turns them into a
progress bar or plain lines). Only the main process (rank 0) writes files.
"""
from __future__ import annotations

import json
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from ganzoo import distributed
from ganzoo.api import Architecture, ImageData, OptimizerSettings, PhaseInputs
from ganzoo.augment import diff_augment
from ganzoo.engine import checkpoint, syncbn
from ganzoo.engine.batches import BatchStream
from ganzoo.engine.device import autocast, check_amp, rng_state, seed_everything, set_rng_state
from ganzoo.engine.ema import EMA
from ganzoo.errors import GanzooError, GanzooWarning
from ganzoo.images import grid_columns, save_grid
from ganzoo.recipe import TrainSection
from ganzoo.rundir import RunDir


class TrainingDiverged(GanzooError):
    """A loss became NaN or infinite."""


class Callback:
    """Hooks the loop calls; override any. ``record`` is what goes into stats.jsonl."""

    def on_start(self, info: dict[str, Any]) -> None: ...
    def on_log(self, record: dict[str, Any]) -> None: ...
    def on_file(self, kind: str, path: Path) -> None: ...
    def on_end(self, summary: dict[str, Any]) -> None: ...
    def on_metrics(self, record: dict[str, Any]) -> None: ...  # from periodic evaluation (ganzoo.metrics.periodic)


def rank() -> int:
    """This process's rank under torchrun (0 when not distributed)."""
    return distributed.rank()


@dataclass
class Trainer:
    architecture: Architecture
    data: ImageData
    config: TrainSection
    seed: int
    device: torch.device
    run_dir: Optional[RunDir] = None
    callbacks: list[Callback] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_amp(self.device, self.config.amp)
        # Data parallel under torchrun (ganzoo.distributed): train.batch_size is each process's batch.
        self.rank, self.world = rank(), distributed.world_size()
        self.is_main = self.rank == 0
        self.global_batch_size = self.config.batch_size * self.world
        seed_everything(self.seed)
        arch = self.architecture
        self.generator = arch.build_generator().to(self.device)
        self.discriminator = arch.build_discriminator().to(self.device)
        if self.world > 1:
            if self.config.sync_batchnorm:
                self.generator, self.discriminator = syncbn.convert(self.generator), syncbn.convert(self.discriminator)
            distributed.broadcast_modules([self.generator, self.discriminator])  # rank 0's initial weights
        self.average_gradients = distributed.GradientAverager()
        ema = self.config.ema
        self.ema = (EMA(self.generator, ema.half_life_images, self.global_batch_size, ema.rampup)
                    if ema.enabled else None)
        self.optimizers = {
            "generator": self._optimizer(self.generator, "generator"),
            "discriminator": self._optimizer(self.discriminator, "discriminator"),
        }
        fp16 = self.config.amp == "fp16"
        self.scalers = {name: torch.amp.GradScaler(self.device.type, enabled=fp16) for name in self.optimizers}
        self.train_nets = {"generator": self.generator, "discriminator": self.discriminator}
        if self.config.compile:
            self.train_nets = {k: torch.compile(v) for k, v in self.train_nets.items()}
        self.phases = arch.phases()
        self.augment = diff_augment(self.config.augment)
        self.batches = BatchStream(self.data, self.config.batch_size, self.seed + 1, self.device, self.rank, self.world)
        # Fixed grid latents from their own generator, drawn on the CPU: the same on every device.
        grid_rng = torch.Generator().manual_seed(self.seed)
        n = self.config.grid_size
        self.grid_z = arch.sample_latents(n, "cpu", grid_rng).to(self.device)
        self.grid_labels = None
        if arch.conditional:
            # One class per row of the saved grid.
            self.grid_labels = (torch.arange(n) // grid_columns(n) % arch.image.num_classes).to(self.device)
        self.step = 0
        self.images_seen = 0
        self.elapsed = 0.0
        self.eval_seconds = 0.0  # spent in periodic evaluation inside the loop: not part of a wall-clock budget
        self._sums: dict[str, torch.Tensor] = {}  # loss sums since the last log, kept on the device
        self._counts: dict[str, int] = {}
        self._tensorboard = None
        if self.world > 1:  # weights, data order and grids come from the run seed; latents, noise... per rank
            seed_everything(distributed.rank_seed(self.seed, self.rank))

    # ------------------------------------------------------------ setup helpers
    def _optimizer(self, module: nn.Module, role: str) -> torch.optim.Optimizer:
        base: OptimizerSettings = self.architecture.optimizer_settings()[role]
        override = getattr(self.config.optimizer, role)
        name = override.name or base.name
        kwargs = dict(lr=override.lr or base.lr, betas=tuple(override.betas or base.betas),
                      eps=override.eps or base.eps,
                      weight_decay=base.weight_decay if override.weight_decay is None else override.weight_decay)
        cls = torch.optim.AdamW if name == "adamw" else torch.optim.Adam
        return cls(module.parameters(), **kwargs)

    @property
    def sampling_generator(self) -> nn.Module:
        return self.ema.module if self.ema else self.generator

    def budget_reached(self) -> bool:
        if self.config.steps is not None:
            return self.step >= self.config.steps
        if self.config.wall_clock is not None:
            return self.elapsed - self.eval_seconds >= self.config.wall_clock
        return self.images_seen >= self.config.images

    def estimated_total_steps(self) -> Optional[int]:
        """Steps the budget allows; None for a wall-clock budget (unknown in advance)."""
        if self.config.steps is not None:
            return self.config.steps
        if self.config.wall_clock is not None:
            return None
        per_step = sum(p.repeats * self.global_batch_size for p in self.phases if p.uses_real and p.every == 1)
        return math.ceil(self.config.images / max(per_step, 1))

    # ------------------------------------------------------------ state
    def networks(self) -> dict[str, nn.Module]:
        nets = {"generator": self.generator, "discriminator": self.discriminator}
        if self.ema:
            nets["generator_ema"] = self.ema.module
        return nets

    def state_dict(self) -> dict[str, Any]:
        stats_offset = self.run_dir.stats_file.stat().st_size if self.run_dir and self.run_dir.stats_file.exists() else 0
        return {
            "step": self.step, "images_seen": self.images_seen, "elapsed": self.elapsed,
            "eval_seconds": self.eval_seconds,
            "optimizers": {k: v.state_dict() for k, v in self.optimizers.items()},
            "scalers": {k: v.state_dict() for k, v in self.scalers.items()},
            "batches": self.batches.state_dict(),
            "rng": rng_state(),
            "log_sums": {k: v.detach().cpu() for k, v in self._sums.items()}, "log_counts": dict(self._counts),
            "stats_offset": stats_offset,
        }

    def _rank_state(self) -> dict[str, Any]:
        """What differs between processes: their random streams and their loss sums since the last log."""
        return {"rng": rng_state(), "log_sums": {k: v.detach().cpu() for k, v in self._sums.items()},
                "log_counts": dict(self._counts)}

    def save_checkpoint(self) -> None:
        ranks = distributed.all_gather_objects(self._rank_state()) if self.world > 1 and self.run_dir else None
        if not (self.is_main and self.run_dir):
            return
        arch = self.architecture
        metadata = {"kind": arch.kind, "architecture_config": arch.config.model_dump(mode="json"),
                    "image": {"resolution": arch.image.resolution, "channels": arch.image.channels,
                              "class_names": list(arch.image.class_names)}}
        state = self.state_dict()
        if ranks:
            state["ranks"] = ranks  # rank r resumes with ranks[r]
        files = checkpoint.save(self.run_dir.checkpoints, self.step, self.networks(), metadata,
                                state, self.config.keep_checkpoints)
        for cb in self.callbacks:
            cb.on_file("checkpoint", files.weights)

    def resume(self) -> bool:
        """Restore the latest checkpoint in the run directory, if any. Returns True if it did."""
        files = None
        if self.run_dir and (self.is_main or self.world == 1):
            files = checkpoint.latest(self.run_dir.checkpoints)
        files = distributed.broadcast_object(files)  # every process resumes from the checkpoint rank 0 found
        if files is None:
            return False
        checkpoint.load_networks(files.weights, self.networks(), self.device)
        state = checkpoint.load_state(files.state)
        self.step, self.images_seen, self.elapsed = state["step"], state["images_seen"], state["elapsed"]
        self.eval_seconds = state.get("eval_seconds", 0.0)  # absent from checkpoints written before it existed
        for k, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][k])
        for k, scaler in self.scalers.items():
            scaler.load_state_dict(state["scalers"][k])
        self.batches.load_state_dict(state["batches"])
        own = self._own_state(state)
        if own["rng"] is None:
            seed_everything(distributed.rank_seed(self.seed, self.rank, self.step))
        else:
            set_rng_state(own["rng"])
        self._sums = {k: v.to(self.device) for k, v in own["log_sums"].items()}
        self._counts = dict(own["log_counts"])
        if self.is_main and self.run_dir.stats_file.exists():
            # Drop records written after this checkpoint; the replay writes them again.
            with open(self.run_dir.stats_file, "r+b") as handle:
                handle.truncate(state["stats_offset"])
        return True

    def _own_state(self, state: dict[str, Any]) -> dict[str, Any]:
        """This process's part of a checkpoint (its RNGs and loss sums)."""
        ranks = state.get("ranks")
        if self.world == 1 or (ranks and len(ranks) == self.world):
            return ranks[self.rank] if self.world > 1 else state
        # Another number of processes wrote it: rank 0 goes on with rank 0's streams, the others start new ones.
        if self.is_main:
            warnings.warn(f"Resuming with {self.world} processes from a checkpoint written by {len(ranks or [0])}: "
                          f"training goes on, but not exactly as an uninterrupted run would.", GanzooWarning)
            return state
        return {"rng": None, "log_sums": state["log_sums"], "log_counts": state["log_counts"]}

    # ------------------------------------------------------------ outputs
    @torch.no_grad()
    def save_samples(self) -> None:
        if not self.run_dir:
            return
        # Every process generates (a raw generator in training mode updates its batch-norm statistics,
        # and synchronised batch norm needs every rank); rank 0 writes.
        images = self.architecture.generate(self.sampling_generator, self.grid_z, self.grid_labels)
        if not self.is_main:
            return
        path = save_grid(images.float(), self.run_dir.grids / f"fakes{self.step:08d}.png")
        for cb in self.callbacks:
            cb.on_file("grid", path)

    def _log(self, interval_images: int, interval_seconds: float) -> None:
        record: dict[str, Any] = {"step": self.step, "images_seen": self.images_seen,
                                  "elapsed_s": round(self.elapsed, 3),
                                  "images_per_s": round(interval_images / max(interval_seconds, 1e-9), 2)}
        means = {key: total / self._counts[key] for key, total in self._sums.items()}
        if self.world > 1:
            self.average_gradients.check()
            if means:  # the mean over every process's batches, so every process sees the same numbers
                means = dict(zip(means, distributed.all_reduce_mean(torch.stack(list(means.values())))))
        for key, mean in means.items():
            value = mean.item()
            if not math.isfinite(value):
                raise TrainingDiverged(f"Training diverged at step {self.step}: {key} is {value}. "
                                       f"Try a lower learning rate, train.amp: off, or another seed.")
            record[key] = value
        self._sums, self._counts = {}, {}
        if self.is_main and self.run_dir:
            with open(self.run_dir.stats_file, "a") as handle:
                handle.write(json.dumps(record) + "\n")
            if self._tensorboard:
                for key, value in record.items():
                    if key != "step":
                        self._tensorboard.add_scalar(key, value, self.step)
        for cb in self.callbacks:
            cb.on_log(record)

    def _open_tensorboard(self) -> None:
        if not (self.is_main and self.run_dir) or os.environ.get("GANZOO_TENSORBOARD", "1") == "0":
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is optional
            return
        self._tensorboard = SummaryWriter(str(self.run_dir.path / "tensorboard"), purge_step=self.step or None)

    def _agree_on_clock(self) -> None:
        """A wall-clock budget must end on the same step in every process: all take rank 0's clock."""
        if self.world > 1 and self.config.wall_clock is not None:
            clock = torch.tensor([self.elapsed, self.eval_seconds], dtype=torch.float64)
            distributed.broadcast_tensors([clock])
            self.elapsed, self.eval_seconds = clock.tolist()

    # ------------------------------------------------------------ the loop
    def train_step(self) -> int:
        """One generator update and the discriminator updates scheduled with it; returns real images used."""
        used = 0
        for phase in self.phases:
            if self.step % phase.every:
                continue
            trains = phase.trains
            for role, net in (("generator", self.generator), ("discriminator", self.discriminator)):
                net.requires_grad_(role == trains)
            optimizer, scaler = self.optimizers[trains], self.scalers[trains]
            batch_size = self.config.batch_size
            for _ in range(phase.repeats):
                real, real_labels = self.batches.next() if phase.uses_real else (None, None)
                used += self.global_batch_size if phase.uses_real else 0
                inputs = PhaseInputs(
                    generator=self.train_nets["generator"], discriminator=self.train_nets["discriminator"],
                    real=real, real_labels=real_labels,
                    z=self.architecture.sample_latents(batch_size, self.device),
                    fake_labels=self.architecture.sample_labels(batch_size, self.device), step=self.step,
                    augment=self.augment)
                optimizer.zero_grad(set_to_none=True)
                with autocast(self.device, self.config.amp):
                    out = phase.loss(inputs)
                scaler.scale(out["loss"].float()).backward()
                self.average_gradients(optimizer)  # over processes; nothing in a single one
                scaler.step(optimizer)
                scaler.update()
                for key, value in out.items():
                    name = f"{phase.name}/{key}"
                    self._sums[name] = self._sums.get(name, 0) + value.detach().float()
                    self._counts[name] = self._counts.get(name, 0) + 1
            if self.world > 1:  # buffers follow rank 0 (as DistributedDataParallel's), so the EMA copies agree
                distributed.broadcast_modules([self.generator, self.discriminator], buffers_only=True)
        if self.ema:  # once per step, after every generator phase (StyleGAN's Greg too)
            self.ema.update(self.generator, self.images_seen + used)
        return used

    def run(self) -> dict[str, Any]:
        resumed = self.resume()
        start_step, start = self.step, time.perf_counter()
        info = {"resumed": resumed, "step": self.step, "images_seen": self.images_seen,
                "total_steps": self.estimated_total_steps(), "wall_clock": self.config.wall_clock,
                "budget_reached": self.budget_reached(), "device": str(self.device),
                "batch_size": self.config.batch_size, "world_size": self.world,
                "global_batch_size": self.global_batch_size}
        for cb in self.callbacks:
            cb.on_start(info)
        self._open_tensorboard()
        if self.run_dir and not resumed:
            if self.is_main:
                self.run_dir.stats_file.write_text("")  # a run that died before its first checkpoint starts over
                save_grid(self.data.images[: self.config.grid_size], self.run_dir.grids / "reals.png")
            self.save_samples()
        cfg = self.config
        interval_images, tick, log_tick = 0, start, start
        try:
            while not self.budget_reached():
                used = self.train_step()
                self.step += 1
                self.images_seen += used
                interval_images += used
                now = time.perf_counter()
                self.elapsed += now - tick
                tick = now
                self._agree_on_clock()
                done = self.budget_reached()
                if self.step % cfg.log_every == 0 or done:
                    self._log(interval_images, now - log_tick)
                    interval_images, log_tick = 0, now
                    # Periodic evaluation runs inside _log and adds to eval_seconds: count its time in elapsed
                    # now, so elapsed - eval_seconds stays the training time (a reached wall-clock budget stays
                    # reached, and the checkpoint holds both).
                    after = time.perf_counter()
                    self.elapsed += after - tick
                    tick = after
                if self.step % cfg.sample_every == 0 or done:
                    self.save_samples()
                if self.step % cfg.checkpoint_every == 0 or done:
                    self.save_checkpoint()
                self._agree_on_clock()
        finally:
            if self._tensorboard:
                self._tensorboard.close()
        wall = time.perf_counter() - start
        summary = {"step": self.step, "images_seen": self.images_seen, "steps_this_session": self.step - start_step,
                   "seconds_this_session": wall, "resumed": resumed}
        for cb in self.callbacks:
            cb.on_end(summary)
        return summary


def train(architecture: Architecture, data: ImageData, config: TrainSection, seed: int, device: torch.device,
          run_dir: Optional[RunDir] = None, callbacks: list[Callback] = ()) -> Trainer:
    """Train (or resume) and return the trainer, whose networks hold the result."""
    trainer = Trainer(architecture, data, config, seed, device, run_dir, list(callbacks))
    trainer.run()
    return trainer
