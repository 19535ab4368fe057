"""The recipe's own sections as pydantic models, and the resolved recipe a run is made from.

Each plugin section (``data``, ``architecture``, each ``export.postprocess`` step,
``eval.extractor``) is a ``kind`` plus fields that the plugin's own ``Config``
validates later (see ``ganzoo.recipe.load.resolve``).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_serializer, model_validator

from ganzoo.api import PluginConfig
from ganzoo.engine.settings import AdaSettings, AugmentPolicy, Budget, EMASettings, TrainSettings
from ganzoo.engine.settings import OptimizerOverride as EngineOverride
from ganzoo.recipe.requires import parse_requirement


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class RunSection(Section):
    name: Optional[str] = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=200,
                                description="Run directory name under output_dir; default: the recipe file's name.")
    output_dir: str = Field("runs", description="Folder that holds run directories (relative to the working "
                                                "directory).")
    seed: int = Field(0, ge=0, description="Seeds weights, data order, latents and grids.")
    device: str = Field("auto", pattern=r"^(auto|cpu|mps|cuda(:\d+)?)$", description="auto picks cuda > mps > cpu.")
    threads: Optional[int] = Field(None, ge=1, description="CPU threads for PyTorch; default: all cores.")


class PluginSection(BaseModel):
    """``kind`` plus the plugin's own fields, validated later by the plugin's Config."""

    model_config = ConfigDict(extra="allow")
    kind: str = Field(description="Which plugin provides this section; see `ganzoo plugins`.")


class DataSection(PluginSection):
    resolution: int = Field(32, ge=8, le=1024, description="Images are resized to resolution x resolution.")
    channels: Optional[Literal[1, 3]] = Field(None, description="Convert to 1 (grey) or 3 (RGB) channels; "
                                                                "default: as stored.")
    cache: Union[bool, Path] = Field(
        True, description="Keep decoded images for the next run: true (the user cache folder, "
                          "$GANZOO_DATA_CACHE or ~/.cache/ganzoo/datasets), a folder, or false (decode every time).")
    memory_share: float = Field(
        0.5, ge=0, le=1, description="Decoded data larger than this share of the machine's memory stays in the "
                                     "cache file and is read batch by batch (0: always; needs the cache).")
    decode_workers: int = Field(0, ge=0, description="Processes that decode images (0: every core).")


class OptimizerOverride(Section):
    name: Optional[Literal["adam", "adamw"]] = None
    lr: Optional[float] = Field(None, gt=0)
    betas: Optional[tuple[float, float]] = None
    eps: Optional[float] = Field(None, gt=0)
    weight_decay: Optional[float] = Field(None, ge=0)


class OptimizerSection(Section):
    generator: OptimizerOverride = OptimizerOverride()
    discriminator: OptimizerOverride = OptimizerOverride()


class EMASection(Section):
    enabled: bool = True
    half_life_images: int = Field(10_000, gt=0, description="Images after which an old weight's share halves.")
    rampup: Optional[float] = Field(None, gt=0, le=1, description="Cap the half-life at this fraction of the images "
                                    "seen so far (StyleGAN2-ADA uses 0.05); unset: no ramp-up.")


class AdaSection(Section):
    target: float = Field(0.6, gt=0, lt=1, description="The overfitting heuristic r_t = E[sign(D(augmented reals))] "
                                                      "that p steers toward (the paper's 0.6).")
    speed_images: int = Field(500_000, ge=1, description="Real images over which p can move from 0 to 1.")
    interval: int = Field(4, ge=1, description="Discriminator batches between adjustments of p.")
    fixed_p: Optional[float] = Field(None, ge=0, le=1, description="Hold p at this value instead of adapting it.")


AUGMENT_ACCEPTED = ("`ada` (adaptive augmentation) alone, or a list of DiffAugment policies (any of color, "
                    "translation, cutout; [] for none)")


class TrainSection(Section):
    steps: Optional[int] = Field(None, ge=1, description="Budget in generator updates.")
    images: Optional[int] = Field(None, ge=1, description="Budget in real images shown to the discriminator.")
    wall_clock: Optional[float] = Field(None, gt=0, description="Budget in seconds of training (periodic evaluation "
                                                                "excluded); not reproducible, unlike the others.")
    batch_size: int = Field(64, ge=1)
    optimizer: OptimizerSection = OptimizerSection()
    amp: Literal["off", "bf16", "fp16"] = "off"
    ema: EMASection = EMASection()
    log_every: int = Field(20, ge=1, description="Steps between JSONL records.")
    sample_every: int = Field(500, ge=1, description="Steps between sample grids.")
    checkpoint_every: int = Field(500, ge=1, description="Steps between checkpoints.")
    keep_checkpoints: int = Field(2, ge=1)
    grid_size: int = Field(64, ge=1, le=1024, description="Images in each sample grid.")
    compile: bool = Field(False, description="torch.compile the networks for training.")
    sync_batchnorm: bool = Field(False, description="With several processes (torchrun), batch norm uses the "
                                                    "statistics of the global batch; no effect in one process.")
    augment: Union[Literal["ada"], list[AugmentPolicy]] = Field(
        default_factory=list, description="Augmentation of every image the discriminator sees: `ada` (adaptive, "
                                          "Karras et al. 2020) or a list of DiffAugment policies.")
    ada: Optional[AdaSection] = Field(None, description="Options of `augment: ada`; default: the paper's.")
    freeze_discriminator: int = Field(0, ge=0, description="FreezeD: keep the discriminator's first N blocks fixed "
                                                           "(when fine-tuning with init).")

    @field_validator("amp", mode="before")
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        return "off" if value is False else value  # YAML 1.1 reads a bare `off` as false

    @field_validator("augment", mode="before")
    @classmethod
    def _ada_alone(cls, value: Any) -> Any:
        # Checked here, whole, so that a mistake reads as one sentence rather than as both sides of the Union.
        if value == "ada":
            return value
        if isinstance(value, (list, tuple)) and "ada" in value:
            raise ValueError(f"got {list(value)}, but 'ada' adapts its own pipeline and cannot be combined with "
                             f"other policies; write `augment: ada` alone, or a list of DiffAugment policies "
                             f"(color, translation, cutout)")
        if not isinstance(value, (list, tuple)) or any(policy not in get_args(AugmentPolicy) for policy in value):
            raise ValueError(f"got {value!r}; accepted: {AUGMENT_ACCEPTED}")
        return value

    @model_validator(mode="after")
    def _ada_options(self) -> "TrainSection":
        if self.ada is not None and self.augment != "ada":
            raise ValueError(f"train.ada sets options of adaptive augmentation, but train.augment is "
                             f"{self.augment!r}; set train.augment: ada, or remove train.ada")
        if self.augment == "ada" and self.ada is None:
            self.ada = AdaSection()  # the paper's defaults, written out in the resolved recipe
        return self

    @model_serializer(mode="wrap")
    def _without_unused_ada(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        if data.get("ada", 0) is None:
            del data["ada"]  # recipes without ADA read as before it existed, so their runs still resume
        return data

    @model_validator(mode="after")
    def _one_budget(self) -> "TrainSection":
        if sum(budget is not None for budget in (self.steps, self.images, self.wall_clock)) != 1:
            raise ValueError("give exactly one budget: train.steps (generator updates), train.images (real images "
                             "seen) or train.wall_clock (seconds of training)")
        return self

    def to_settings(self) -> TrainSettings:
        """The plain settings the engine trains with."""
        optimizers = {role: EngineOverride(**getattr(self.optimizer, role).model_dump())
                      for role in ("generator", "discriminator")}
        return TrainSettings(
            budget=Budget(self.steps, self.images, self.wall_clock), batch_size=self.batch_size,
            optimizers=optimizers, amp=self.amp, ema=EMASettings(**self.ema.model_dump()),
            log_every=self.log_every, sample_every=self.sample_every, checkpoint_every=self.checkpoint_every,
            keep_checkpoints=self.keep_checkpoints, grid_size=self.grid_size, compile=self.compile,
            sync_batchnorm=self.sync_batchnorm, augment=() if self.augment == "ada" else tuple(self.augment),
            ada=AdaSettings(**self.ada.model_dump()) if self.augment == "ada" else None,
            freeze_discriminator=self.freeze_discriminator)


class InitSection(Section):
    """Fine-tuning: start from another run's weights (a new run: step 0, fresh optimisers)."""

    path: str = Field(description="A run directory (its latest checkpoint) or a checkpoint's .safetensors file, "
                                  "relative to the working directory.")
    generator: bool = Field(True, description="Load the generator.")
    discriminator: bool = Field(True, description="Load the discriminator.")
    ema: bool = Field(True, description="Load the EMA generator; false: it starts as a copy of the generator.")

    @model_validator(mode="before")
    @classmethod
    def _path_alone(cls, value: Any) -> Any:
        return {"path": value} if isinstance(value, str) else value  # `init: runs/parent` for short


class ExportSection(Section):
    count: int = Field(64, ge=0, description="Images written at the end of `ganzoo run`.")
    dir: str = Field("export", description="Output folder; relative paths are inside the run directory.")
    seed: Optional[int] = Field(None, ge=0, description="Latent seed; default: run.seed.")
    postprocess: list[PluginSection] = Field(default_factory=list, description="Post-processing steps, in order.")
    provenance: bool = Field(True, description="Embed machine-readable AI-generated metadata in every exported image.")
    workers: Optional[int] = Field(None, ge=1, description="Images post-processed at once; default: CPU cores.")


class ExtractorSection(PluginSection):
    kind: str = Field("inception", description="Feature extractor plugin; see `ganzoo plugins`.")


class EvalSection(Section):
    every_images: Optional[int] = Field(None, ge=1, description="Evaluate during training every this many real "
                                                                "images shown (and at the end); default: never.")
    n_fake: int = Field(10_000, ge=2, description="Generated images per evaluation.")
    n_real: Optional[int] = Field(None, ge=2, description="Reference images (a seeded random subset); default: all.")
    metrics: list[Literal["fid", "kid", "pr", "is"]] = Field(
        ["fid", "kid", "pr"], min_length=1,
        description="fid, kid, pr (precision and recall), is (Inception Score; Inception weights only).")
    generator: Literal["ema", "raw"] = Field("ema", description="Evaluate the EMA generator or the raw one.")
    extractor: ExtractorSection = Field(default_factory=ExtractorSection,
                                        description="Feature extractor: a kind and its options.")
    batch_size: int = Field(32, ge=1, description="Images per feature-extractor batch (results do not depend on "
                                                  "it; memory does).")
    seed: int = Field(0, ge=0, description="Seeds the fake latents, the KID/PR subsets and the IS split order.")

    @field_validator("extractor", mode="before")
    @classmethod
    def _kind_alone(cls, value: Any) -> Any:
        return {"kind": value} if isinstance(value, str) else value  # `extractor: domain` for short


Requirement = Annotated[str, AfterValidator(parse_requirement)]
REQUIRES_FIELD = Field(default_factory=list, description="Distributions the recipe needs, as pip requirements "
                                                         "(PEP 508), e.g. ganzoo-sngan>=0.1; checked before anything "
                                                         "else.")


class Recipe(Section):
    requires: list[Requirement] = REQUIRES_FIELD
    run: RunSection = RunSection()
    data: DataSection
    architecture: PluginSection
    train: TrainSection
    init: Optional[InitSection] = Field(None, description="Fine-tune: start from another run's weights.")
    export: ExportSection = ExportSection()
    eval: EvalSection = EvalSection()


# How data is loaded, not which pixels: changing these never changes a result (resumable, not part of a protocol).
DATA_LOADING_FIELDS = ("cache", "memory_share", "decode_workers")
# A data section's fields that are not its plugin's.
COMMON_DATA_FIELDS = ("kind", "resolution", "channels", *DATA_LOADING_FIELDS)


@dataclass
class ResolvedRecipe:
    """A recipe with every plugin section validated and every default filled in."""

    recipe: Recipe
    data_config: PluginConfig
    architecture_config: PluginConfig
    postprocess_configs: list[PluginConfig]
    source: str = "<recipe>"
    providers: dict[str, str] = field(default_factory=dict)
    extractor_config: Optional[PluginConfig] = None  # eval.extractor, when its plugin is installed

    @property
    def name(self) -> str:
        return self.recipe.run.name or "run"

    def to_dict(self) -> dict[str, Any]:
        data = self.recipe.model_dump(mode="json")
        data["data"] = {**{k: data["data"][k] for k in COMMON_DATA_FIELDS},
                        **self.data_config.model_dump(mode="json")}
        data["architecture"] = {"kind": self.recipe.architecture.kind,
                                **self.architecture_config.model_dump(mode="json")}
        data["export"]["postprocess"] = [
            {"kind": step.kind, **cfg.model_dump(mode="json")}
            for step, cfg in zip(self.recipe.export.postprocess, self.postprocess_configs)
        ]
        if self.extractor_config is not None:
            data["eval"]["extractor"] = {"kind": self.recipe.eval.extractor.kind,
                                         **self.extractor_config.model_dump(mode="json")}
        return data

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]
