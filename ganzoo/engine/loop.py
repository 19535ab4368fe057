"""The training loop: phases from the architecture, everything else from here.

Each step reads as stanzas: the architecture's phases (discriminator and generator
updates, lazy regularisers), then the EMA, then maintenance (log, evaluate,
sample, checkpoint). The loop draws nothing: it reports through callbacks (the
CLI turns them into a progress bar or plain lines) and writes through a
:class:`~ganzoo.engine.writer.RunWriter`. Only the main process (rank 0) writes.
"""
from __future__ import annotations

import math
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Protocol

import torch
from torch import nn

from ganzoo.api import Architecture, ImageData, OptimizerSettings, Phase, PhaseInputs
from ganzoo.engine import checkpoint, distributed, syncbn
from ganzoo.engine.ada import AdaptiveAugment
from ganzoo.engine.augment import diff_augment
from ganzoo.engine.batches import BatchStream
from ganzoo.engine.device import autocast, check_amp, rng_state, seed_everything, set_rng_state
from ganzoo.engine.ema import EMA
from ganzoo.engine.finetune import InitialWeights, frozen_parameters
from ganzoo.engine.images import grid_columns
from ganzoo.engine.settings import TrainSettings
from ganzoo.engine.writer import RunWriter
from ganzoo.errors import GanzooError, GanzooWarning


class TrainingDiverged(GanzooError):
    """A loss became NaN or infinite."""


class Callback:
    """Hooks the loop calls, each with the trainer first; override any. ``record`` is what goes into stats.jsonl."""

    def on_start(self, trainer: "Trainer", info: dict[str, Any]) -> None: ...
    def on_log(self, trainer: "Trainer", record: dict[str, Any]) -> None: ...
    def on_file(self, trainer: "Trainer", kind: str, path: Path) -> None: ...
    def on_metrics(self, trainer: "Trainer", record: dict[str, Any]) -> None: ...  # an evaluation's record
    def on_end(self, trainer: "Trainer", summary: dict[str, Any]) -> None: ...


class Evaluator(Protocol):
    """Evaluation during training (``ganzoo.metrics.periodic`` provides one from a recipe's ``eval`` section)."""

    every_images: int  # evaluate when this many more real images were shown, checked at each log record

    def evaluate(self, trainer: "Trainer") -> dict[str, Any]:
        """Score the trainer's generator; every process calls it. Returns the record's fields (``eval/...``)."""


def rank() -> int:
    """This process's rank under torchrun (0 when not distributed)."""
    return distributed.rank()


@dataclass
class Trainer:
    """Trains one architecture on in-memory data; ``run()`` resumes from the writer's latest checkpoint first.

    ``settings`` says how (budget, batch, optimisers, EMA, intervals); ``writer``
    where records, grids and checkpoints go (None: nowhere); ``evaluator`` scores
    the generator every ``evaluator.every_images`` real images and at the end.
    Its time is counted apart, so a wall-clock budget is training time only.
    ``init`` (fine-tuning) replaces the fresh weights with a parent's; a resumed run's own checkpoint wins.
    """

    architecture: Architecture
    data: ImageData
    settings: TrainSettings
    seed: int
    device: torch.device
    writer: Optional[RunWriter] = None
    callbacks: list[Callback] = field(default_factory=list)
    evaluator: Optional[Evaluator] = None
    init: Optional[InitialWeights] = None

    def __post_init__(self) -> None:
        check_amp(self.device, self.settings.amp)
        # Data parallel under torchrun (ganzoo.engine.distributed): settings.batch_size is each process's batch.
        self.rank, self.world = rank(), distributed.world_size()
        self.is_main = self.rank == 0
        self.global_batch_size = self.settings.batch_size * self.world
        seed_everything(self.seed)
        arch = self.architecture
        self.generator = arch.build_generator().to(self.device)
        self.discriminator = arch.build_discriminator().to(self.device)
        if self.init:
            self.init.load_into({"generator": self.generator, "discriminator": self.discriminator})
        # FreezeD: out of the optimiser too, so weight decay and Adam's moments cannot move them.
        self.frozen = frozen_parameters(arch, self.discriminator, self.settings.freeze_discriminator)
        if self.world > 1:
            if self.settings.sync_batchnorm:
                self.generator, self.discriminator = syncbn.convert(self.generator), syncbn.convert(self.discriminator)
            distributed.broadcast_modules([self.generator, self.discriminator])  # rank 0's initial weights
        self.average_gradients = distributed.GradientAverager()
        ema = self.settings.ema
        self.ema = (EMA(self.generator, ema.half_life_images, self.global_batch_size, ema.rampup)
                    if ema.enabled else None)
        if self.init and self.ema:  # without the parent's EMA it starts from the (loaded) generator
            self.init.load_into({"generator_ema": self.ema.module})
        suggested = arch.optimizer_settings()
        self.optimizers = {role: self._optimizer(net, self.settings.optimizer(role, suggested[role]))
                           for role, net in (("generator", self.generator), ("discriminator", self.discriminator))}
        fp16 = self.settings.amp == "fp16"
        self.scalers = {name: torch.amp.GradScaler(self.device.type, enabled=fp16) for name in self.optimizers}
        self.train_nets = {"generator": self.generator, "discriminator": self.discriminator}
        if self.settings.compile:
            self.train_nets = {k: torch.compile(v) for k, v in self.train_nets.items()}
        self.phases = arch.phases()
        # Adaptive augmentation (train.augment: ada) or the fixed DiffAugment policies (identity when none).
        self.ada = AdaptiveAugment(self.settings.ada, self.device) if self.settings.ada else None
        self.augment = self.ada or diff_augment(self.settings.augment)
        self.batches = BatchStream(self.data, self.settings.batch_size, self.seed + 1, self.device, self.rank,
                                   self.world)
        # Fixed grid latents from their own generator, drawn on the CPU: the same on every device.
        grid_rng = torch.Generator().manual_seed(self.seed)
        n = self.settings.grid_size
        self.grid_z = arch.sample_latents(n, "cpu", grid_rng).to(self.device)
        self.grid_labels = None
        if arch.conditional:
            # One class per row of the saved grid.
            self.grid_labels = (torch.arange(n) // grid_columns(n) % arch.image.num_classes).to(self.device)
        self.step = 0
        self.images_seen = 0
        self.elapsed = 0.0       # seconds of this run, every session, evaluation included
        self.eval_seconds = 0.0  # of which evaluation: not part of a wall-clock budget
        self._clock_at = time.perf_counter()
        self._interval = (0, self._clock_at)  # real images shown and the time when the last log record began
        self._next_eval = 0
        self._sums: dict[str, torch.Tensor] = {}  # loss sums since the last log, kept on the device
        self._counts: dict[str, int] = {}
        self._tensorboard = None
        if self.world > 1:  # weights, data order and grids come from the run seed; latents, noise... per rank
            seed_everything(distributed.rank_seed(self.seed, self.rank))

    def _optimizer(self, module: nn.Module, chosen: OptimizerSettings) -> torch.optim.Optimizer:
        cls = torch.optim.AdamW if chosen.name == "adamw" else torch.optim.Adam
        frozen = {id(p) for p in self.frozen}
        params = [p for p in module.parameters() if id(p) not in frozen]
        return cls(params, lr=chosen.lr, betas=tuple(chosen.betas), eps=chosen.eps,
                   weight_decay=chosen.weight_decay)

    @property
    def sampling_generator(self) -> nn.Module:
        return self.ema.module if self.ema else self.generator

    @property
    def writes(self) -> bool:
        """True in the one process that writes files, when there is somewhere to write."""
        return self.is_main and self.writer is not None

    def budget_reached(self) -> bool:
        return self.settings.budget.reached(self.step, self.images_seen, self.elapsed - self.eval_seconds)

    def estimated_total_steps(self) -> Optional[int]:
        """Steps the budget allows; None for a wall-clock budget (unknown in advance)."""
        budget = self.settings.budget
        if budget.steps is not None:
            return budget.steps
        if budget.wall_clock is not None:
            return None
        # Lazy phases (R1 every 16 steps) show reals too, on average batch/every per step: the progress bar's total
        # then matches the step the budget ends on (it overshot by 6% for StyleGAN-lite).
        per_step = sum(p.repeats * self.global_batch_size / p.every for p in self.phases if p.uses_real)
        return math.ceil(budget.images / max(per_step, 1e-9))

    # ------------------------------------------------------------ the loop
    def run(self) -> dict[str, Any]:
        resumed = self.resume()
        start_step, start = self.step, time.perf_counter()
        info = {"resumed": resumed, "step": self.step, "images_seen": self.images_seen,
                "total_steps": self.estimated_total_steps(), "wall_clock": self.settings.budget.wall_clock,
                "budget_reached": self.budget_reached(), "device": str(self.device),
                "batch_size": self.settings.batch_size, "world_size": self.world,
                "global_batch_size": self.global_batch_size}
        self._notify("on_start", info)
        self._open_tensorboard()
        if self.writer and not resumed:
            if self.is_main:
                self.writer.truncate_stats(0)  # a run that died before its first checkpoint starts over
                self.writer.save_grid(self.data.images[: self.settings.grid_size], "reals")
            self.save_samples()
        if self.evaluator:
            every = self.evaluator.every_images
            self._next_eval = (self.images_seen // every + 1) * every
        self._clock_at = time.perf_counter()
        self._interval = (0, self._clock_at)
        try:
            while not self.budget_reached():
                used = self.train_step()
                self.step += 1
                self.images_seen += used
                self._interval = (self._interval[0] + used, self._interval[1])
                self._clock()
                self._agree_on_clock()
                self.maintain(done=self.budget_reached())
        finally:
            if self._tensorboard:
                self._tensorboard.close()
        summary = {"step": self.step, "images_seen": self.images_seen, "steps_this_session": self.step - start_step,
                   "seconds_this_session": time.perf_counter() - start, "resumed": resumed}
        self._notify("on_end", summary)
        return summary

    def train_step(self) -> int:
        """The architecture's phases due at this step, then the EMA; returns the real images shown."""
        reports = self.ada.reports if self.ada else 0
        used = sum(self.run_phase(phase) for phase in self.phases if self.step % phase.every == 0)
        if self.ada and used:  # the first step already tells whether the architecture reports for ADA
            self.ada.check_reported(self.architecture.kind, reports)
        if self.ema:  # once per step, after every generator phase (StyleGAN's Greg too)
            self.ema.update(self.generator, self.images_seen + used)
        return used

    def maintain(self, done: bool) -> None:
        """After a step: log, evaluate, sample and checkpoint when due (all of them at the last step)."""
        due = lambda every: self.step % every == 0 or done  # noqa: E731
        if due(self.settings.log_every):
            self.log()
            if self.evaluator and (self.images_seen >= self._next_eval or self.budget_reached()):
                # The budget may end between multiples of every_images (and before the estimated last step,
                # when a lazy regulariser also shows real images, as StyleGAN's R1): the end always evaluates.
                self.evaluate()
        if due(self.settings.sample_every):
            self.save_samples()
        if due(self.settings.checkpoint_every):
            self.save_checkpoint()
        self._agree_on_clock()

    # ------------------------------------------------------------ one phase
    def run_phase(self, phase: Phase) -> int:
        """``phase.repeats`` updates of the network it trains; returns the real images shown."""
        trains = phase.trains
        for role, net in (("generator", self.generator), ("discriminator", self.discriminator)):
            net.requires_grad_(role == trains)
        for p in self.frozen:
            p.requires_grad_(False)
        optimizer, scaler = self.optimizers[trains], self.scalers[trains]
        batch_size, used = self.settings.batch_size, 0
        for _ in range(phase.repeats):
            real, real_labels = self.batches.next() if phase.uses_real else (None, None)
            used += self.global_batch_size if phase.uses_real else 0
            inputs = PhaseInputs(
                generator=self.train_nets["generator"], discriminator=self.train_nets["discriminator"],
                real=real, real_labels=real_labels,
                z=self.architecture.sample_latents(batch_size, self.device),
                fake_labels=self.architecture.sample_labels(batch_size, self.device), step=self.step,
                augment=self.augment, report_real_logits=self.ada.report if self.ada else _ignore)
            optimizer.zero_grad(set_to_none=True)
            with autocast(self.device, self.settings.amp):
                out = phase.loss(inputs)
            scaler.scale(out["loss"].float()).backward()
            self.average_gradients(optimizer)  # over processes; nothing in a single one
            scaler.step(optimizer)
            scaler.update()
            if self.ada:
                self.ada.adjust()  # every ada.interval reported batches
            for key, value in out.items():
                name = f"{phase.name}/{key}"
                self._sums[name] = self._sums.get(name, 0) + value.detach().float()
                self._counts[name] = self._counts.get(name, 0) + 1
        if self.world > 1:  # buffers follow rank 0 (as DistributedDataParallel's), so the EMA copies agree
            distributed.broadcast_modules([self.generator, self.discriminator], buffers_only=True)
        return used

    # ------------------------------------------------------------ maintenance
    def log(self) -> None:
        images, since = self._interval
        now = time.perf_counter()
        self._interval = (0, now)
        record: dict[str, Any] = {"step": self.step, "images_seen": self.images_seen,
                                  "elapsed_s": round(self.elapsed, 3),
                                  "images_per_s": round(images / max(now - since, 1e-9), 2)}
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
        if self.ada:
            record["augment_p"] = self.ada.p
            if self.ada.rt is not None:
                record["augment_rt"] = self.ada.rt
        if self.writes:
            self.writer.append_stats(record)
            if self._tensorboard:
                for key, value in record.items():
                    if key != "step":
                        self._tensorboard.add_scalar(key, value, self.step)
        self._notify("on_log", record)

    def evaluate(self) -> None:
        """Score the generator; its time goes into ``eval_seconds`` (and ``elapsed``), not into training time."""
        self._clock()
        result = self.evaluator.evaluate(self)
        seconds = self._clock()
        self.eval_seconds += seconds
        every = self.evaluator.every_images
        self._next_eval = (self.images_seen // every + 1) * every
        record = {"step": self.step, "images_seen": self.images_seen, **result, "eval/seconds": round(seconds, 3)}
        if not self.is_main:  # every process extracts its share of the features; rank 0 reports
            return
        if self.writer:
            self.writer.append_stats(record)
        self._notify("on_metrics", record)

    @torch.no_grad()
    def save_samples(self) -> None:
        if not self.writer:
            return
        # Every process generates (a raw generator in training mode updates its batch-norm statistics,
        # and synchronised batch norm needs every rank); rank 0 writes.
        images = self.architecture.generate(self.sampling_generator, self.grid_z, self.grid_labels)
        if self.is_main:
            self._notify("on_file", "grid", self.writer.save_grid(images.float(), f"fakes{self.step:08d}"))

    def save_checkpoint(self) -> None:
        ranks = distributed.all_gather_objects(self._rank_state()) if self.world > 1 and self.writer else None
        if not self.writes:
            return
        arch = self.architecture
        metadata = {"kind": arch.kind, "architecture_config": arch.config.model_dump(mode="json"),
                    "image": {"resolution": arch.image.resolution, "channels": arch.image.channels,
                              "class_names": list(arch.image.class_names)}}
        state = self.state_dict()
        if ranks:
            state["ranks"] = ranks  # rank r resumes with ranks[r]
        files = checkpoint.save(self.writer.checkpoints, self.step, self.networks(), metadata,
                                state, self.settings.keep_checkpoints)
        self._notify("on_file", "checkpoint", files.weights)

    # ------------------------------------------------------------ state
    def networks(self) -> dict[str, nn.Module]:
        nets = {"generator": self.generator, "discriminator": self.discriminator}
        if self.ema:
            nets["generator_ema"] = self.ema.module
        return nets

    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step, "images_seen": self.images_seen, "elapsed": self.elapsed,
            "eval_seconds": self.eval_seconds,
            "optimizers": {k: v.state_dict() for k, v in self.optimizers.items()},
            "scalers": {k: v.state_dict() for k, v in self.scalers.items()},
            "batches": self.batches.state_dict(),
            "rng": rng_state(),
            "log_sums": {k: v.detach().cpu() for k, v in self._sums.items()}, "log_counts": dict(self._counts),
            "stats_offset": self.writer.stats_size() if self.writer else 0,
            **({"augment": self.ada.state_dict()} if self.ada else {}),
        }

    def _rank_state(self) -> dict[str, Any]:
        """What differs between processes: their random streams and their loss sums since the last log."""
        return {"rng": rng_state(), "log_sums": {k: v.detach().cpu() for k, v in self._sums.items()},
                "log_counts": dict(self._counts), **({"augment": self.ada.state_dict()} if self.ada else {})}

    def resume(self) -> bool:
        """Restore the writer's latest checkpoint, if any. Returns True if it did."""
        files = None
        if self.writer and (self.is_main or self.world == 1):
            files = checkpoint.latest(self.writer.checkpoints)
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
        if self.ada and own.get("augment"):
            self.ada.load_state_dict(own["augment"])
        if self.is_main:  # drop records written after this checkpoint; the replay writes them again
            self.writer.truncate_stats(state["stats_offset"])
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
        return {"rng": None, "log_sums": state["log_sums"], "log_counts": state["log_counts"],
                "augment": state.get("augment")}  # p is the same everywhere; rank 0's partial sums keep ranks in step

    # ------------------------------------------------------------ helpers
    def _notify(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(self, *args)

    def _clock(self) -> float:
        """Add the time since the last call to ``elapsed``; return it."""
        now = time.perf_counter()
        seconds, self._clock_at = now - self._clock_at, now
        self.elapsed += seconds
        return seconds

    def _agree_on_clock(self) -> None:
        """A wall-clock budget must end on the same step in every process: all take rank 0's clock."""
        if self.world > 1 and self.settings.budget.wall_clock is not None:
            clock = torch.tensor([self.elapsed, self.eval_seconds], dtype=torch.float64)
            distributed.broadcast_tensors([clock])
            self.elapsed, self.eval_seconds = clock.tolist()

    def _open_tensorboard(self) -> None:
        if not self.writes or os.environ.get("GANZOO_TENSORBOARD", "1") == "0":
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is optional
            return
        self._tensorboard = SummaryWriter(str(self.writer.tensorboard_dir), purge_step=self.step or None)


def _ignore(real_logits: torch.Tensor) -> None:
    """``report_real_logits`` when nothing adapts to them."""


def train(architecture: Architecture, data: ImageData, settings: TrainSettings, seed: int, device: torch.device,
          writer: Optional[RunWriter] = None, callbacks: list[Callback] = (),
          evaluator: Optional[Evaluator] = None) -> Trainer:
    """Train (or resume) and return the trainer, whose networks hold the result."""
    trainer = Trainer(architecture, data, settings, seed, device, writer, list(callbacks), evaluator)
    trainer.run()
    return trainer
