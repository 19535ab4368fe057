"""The training loop: phases from the architecture, everything else from here.

The loop draws nothing: it reports through callbacks (the CLI turns them into a
progress bar or plain lines). Only the main process (rank 0) writes files.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from ganzoo.api import Architecture, ImageData, OptimizerSettings, PhaseInputs
from ganzoo.augment import diff_augment
from ganzoo.engine import checkpoint
from ganzoo.engine.batches import BatchStream
from ganzoo.engine.device import autocast, check_amp, rng_state, seed_everything, set_rng_state
from ganzoo.engine.ema import EMA
from ganzoo.errors import GanzooError
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
    return int(os.environ.get("RANK", "0"))


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
        self.is_main = rank() == 0
        seed_everything(self.seed)
        arch = self.architecture
        self.generator = arch.build_generator().to(self.device)
        self.discriminator = arch.build_discriminator().to(self.device)
        self.ema = EMA(self.generator, self.config.ema.half_life_images, self.config.batch_size) if self.config.ema.enabled else None
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
        self.batches = BatchStream(self.data, self.config.batch_size, self.seed + 1, self.device)
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
        self._sums: dict[str, torch.Tensor] = {}  # loss sums since the last log, kept on the device
        self._counts: dict[str, int] = {}
        self._tensorboard = None

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
        return self.images_seen >= self.config.images

    def estimated_total_steps(self) -> int:
        if self.config.steps is not None:
            return self.config.steps
        per_step = sum(p.repeats * self.config.batch_size for p in self.phases if p.uses_real and p.every == 1)
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
            "optimizers": {k: v.state_dict() for k, v in self.optimizers.items()},
            "scalers": {k: v.state_dict() for k, v in self.scalers.items()},
            "batches": self.batches.state_dict(),
            "rng": rng_state(),
            "log_sums": {k: v.detach().cpu() for k, v in self._sums.items()}, "log_counts": dict(self._counts),
            "stats_offset": stats_offset,
        }

    def save_checkpoint(self) -> None:
        if not (self.is_main and self.run_dir):
            return
        arch = self.architecture
        metadata = {"kind": arch.kind, "architecture_config": arch.config.model_dump(mode="json"),
                    "image": {"resolution": arch.image.resolution, "channels": arch.image.channels,
                              "class_names": list(arch.image.class_names)}}
        files = checkpoint.save(self.run_dir.checkpoints, self.step, self.networks(), metadata,
                                self.state_dict(), self.config.keep_checkpoints)
        for cb in self.callbacks:
            cb.on_file("checkpoint", files.weights)

    def resume(self) -> bool:
        """Restore the latest checkpoint in the run directory, if any. Returns True if it did."""
        files = checkpoint.latest(self.run_dir.checkpoints) if self.run_dir else None
        if files is None:
            return False
        checkpoint.load_networks(files.weights, self.networks(), self.device)
        state = checkpoint.load_state(files.state)
        self.step, self.images_seen, self.elapsed = state["step"], state["images_seen"], state["elapsed"]
        for k, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][k])
        for k, scaler in self.scalers.items():
            scaler.load_state_dict(state["scalers"][k])
        self.batches.load_state_dict(state["batches"])
        set_rng_state(state["rng"])
        self._sums = {k: v.to(self.device) for k, v in state["log_sums"].items()}
        self._counts = dict(state["log_counts"])
        if self.is_main and self.run_dir.stats_file.exists():
            # Drop records written after this checkpoint; the replay writes them again.
            with open(self.run_dir.stats_file, "r+b") as handle:
                handle.truncate(state["stats_offset"])
        return True

    # ------------------------------------------------------------ outputs
    @torch.no_grad()
    def save_samples(self) -> None:
        if not (self.is_main and self.run_dir):
            return
        images = self.architecture.generate(self.sampling_generator, self.grid_z, self.grid_labels)
        path = save_grid(images.float(), self.run_dir.grids / f"fakes{self.step:08d}.png")
        for cb in self.callbacks:
            cb.on_file("grid", path)

    def _log(self, interval_images: int, interval_seconds: float) -> None:
        record: dict[str, Any] = {"step": self.step, "images_seen": self.images_seen,
                                  "elapsed_s": round(self.elapsed, 3),
                                  "images_per_s": round(interval_images / max(interval_seconds, 1e-9), 2)}
        for key, total in self._sums.items():
            value = (total / self._counts[key]).item()
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
                used += batch_size if phase.uses_real else 0
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
                scaler.step(optimizer)
                scaler.update()
                for key, value in out.items():
                    name = f"{phase.name}/{key}"
                    self._sums[name] = self._sums.get(name, 0) + value.detach().float()
                    self._counts[name] = self._counts.get(name, 0) + 1
            if trains == "generator" and self.ema:
                self.ema.update(self.generator)
        return used

    def run(self) -> dict[str, Any]:
        resumed = self.resume()
        start_step, start = self.step, time.perf_counter()
        info = {"resumed": resumed, "step": self.step, "images_seen": self.images_seen,
                "total_steps": self.estimated_total_steps(), "device": str(self.device),
                "batch_size": self.config.batch_size, "world_size": 1}
        for cb in self.callbacks:
            cb.on_start(info)
        self._open_tensorboard()
        if self.is_main and self.run_dir and not resumed:
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
                done = self.budget_reached()
                if self.step % cfg.log_every == 0 or done:
                    self._log(interval_images, now - log_tick)
                    interval_images, log_tick = 0, now
                if self.step % cfg.sample_every == 0 or done:
                    self.save_samples()
                if self.step % cfg.checkpoint_every == 0 or done:
                    self.save_checkpoint()
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
