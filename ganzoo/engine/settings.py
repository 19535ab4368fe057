"""What the engine needs to know to train: plain, frozen settings with no recipe or YAML behind them.

A recipe's ``train`` section turns into these with ``TrainSection.to_settings()``;
tests and library users can build them directly. Defaults equal the recipe's.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal, Mapping, Optional

from ganzoo.api import OptimizerSettings

Amp = Literal["off", "bf16", "fp16"]
AugmentPolicy = Literal["color", "translation", "cutout"]
Role = Literal["generator", "discriminator"]


@dataclass(frozen=True)
class Budget:
    """Exactly one of: generator updates, real images shown, or seconds of training (evaluation excluded)."""

    steps: Optional[int] = None
    images: Optional[int] = None
    wall_clock: Optional[float] = None

    def __post_init__(self) -> None:
        if sum(value is not None for value in (self.steps, self.images, self.wall_clock)) != 1:
            raise ValueError("give exactly one budget: steps (generator updates), images (real images seen) "
                             "or wall_clock (seconds of training)")

    def reached(self, step: int, images_seen: int, training_seconds: float) -> bool:
        if self.steps is not None:
            return step >= self.steps
        if self.images is not None:
            return images_seen >= self.images
        return training_seconds >= self.wall_clock

    def reached_at(self, state: Mapping) -> bool:
        """Whether a checkpoint's state (``step``, ``images_seen``, ``elapsed``, ``eval_seconds``) is at the budget."""
        return self.reached(state["step"], state["images_seen"], state["elapsed"] - state.get("eval_seconds", 0.0))


@dataclass(frozen=True)
class OptimizerOverride:
    """Fields that replace the architecture's suggested optimiser settings; None keeps the suggestion."""

    name: Optional[Literal["adam", "adamw"]] = None
    lr: Optional[float] = None
    betas: Optional[tuple[float, float]] = None
    eps: Optional[float] = None
    weight_decay: Optional[float] = None

    def applied_to(self, base: OptimizerSettings) -> OptimizerSettings:
        chosen = {k: v for k, v in vars(self).items() if v is not None}
        if "betas" in chosen:
            chosen["betas"] = tuple(chosen["betas"])
        return replace(base, **chosen)


@dataclass(frozen=True)
class EMASettings:
    enabled: bool = True
    half_life_images: int = 10_000
    rampup: Optional[float] = None


@dataclass(frozen=True)
class AdaSettings:
    """Adaptive augmentation (Karras et al. 2020); the defaults are the paper's."""

    target: float = 0.6  # r_t = E[sign(D(augmented reals))] that p steers toward
    speed_images: int = 500_000  # real images over which p can move from 0 to 1
    interval: int = 4  # discriminator batches between adjustments
    fixed_p: Optional[float] = None  # hold p here instead (the paper's fixed-p baseline)


@dataclass(frozen=True)
class TrainSettings:
    """Everything the training loop reads. See docs/recipes.md (section ``train``) for each field."""

    budget: Budget
    batch_size: int = 64
    optimizers: Mapping[Role, OptimizerOverride] = field(default_factory=dict)
    amp: Amp = "off"
    ema: EMASettings = EMASettings()
    log_every: int = 20
    sample_every: int = 500
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    grid_size: int = 64
    compile: bool = False
    sync_batchnorm: bool = False
    augment: tuple[AugmentPolicy, ...] = ()
    ada: Optional[AdaSettings] = None  # adaptive augmentation instead of ``augment``'s fixed policies
    freeze_discriminator: int = 0  # FreezeD: the discriminator's first N blocks keep their weights

    def optimizer(self, role: Role, suggested: OptimizerSettings) -> OptimizerSettings:
        """The architecture's suggestion for ``role`` with this run's overrides applied."""
        override = self.optimizers.get(role)
        return override.applied_to(suggested) if override else suggested
