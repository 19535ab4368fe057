"""Typed recipes: YAML in, a validated and fully resolved recipe out.

The recipe's own sections are pydantic models here; each plugin section
(``data``, ``architecture``, each ``export.postprocess`` step) is a ``kind``
plus fields that the plugin's own ``Config`` model validates.
"""
from __future__ import annotations

import copy
import hashlib
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

import yaml
from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator,
                      model_validator)

from ganzoo.api import PluginConfig
from ganzoo.errors import PluginError, RecipeError
from ganzoo.host import Host
from ganzoo.registry import did_you_mean
from ganzoo.requires import check_requirements, parse_requirement
from ganzoo.yamlsrc import Loc, line_of, read_yaml


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class RunSection(Section):
    name: Optional[str] = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                                description="Run directory name under output_dir; default: the recipe file's name.")
    output_dir: str = Field("runs", description="Folder that holds run directories (relative to the working directory).")
    seed: int = Field(0, ge=0, description="Seeds weights, data order, latents and grids.")
    device: str = Field("auto", pattern=r"^(auto|cpu|mps|cuda(:\d+)?)$", description="auto picks cuda > mps > cpu.")
    threads: Optional[int] = Field(None, ge=1, description="CPU threads for PyTorch; default: all cores.")


class PluginSection(BaseModel):
    """``kind`` plus the plugin's own fields, validated later by the plugin's Config."""

    model_config = ConfigDict(extra="allow")
    kind: str = Field(description="Which plugin provides this section; see `ganzoo plugins`.")


class DataSection(PluginSection):
    resolution: int = Field(32, ge=8, le=1024, description="Images are resized to resolution x resolution.")
    channels: Optional[Literal[1, 3]] = Field(None, description="Convert to 1 (grey) or 3 (RGB) channels; default: as stored.")


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
    augment: list[Literal["color", "translation", "cutout"]] = Field(
        default_factory=list, description="DiffAugment policies applied to every image the discriminator sees.")

    @field_validator("amp", mode="before")
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        return "off" if value is False else value  # YAML 1.1 reads a bare `off` as false

    @model_validator(mode="after")
    def _one_budget(self) -> "TrainSection":
        if sum(budget is not None for budget in (self.steps, self.images, self.wall_clock)) != 1:
            raise ValueError("give exactly one budget: train.steps (generator updates), train.images (real images "
                             "seen) or train.wall_clock (seconds of training)")
        return self


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
    metrics: list[Literal["fid", "kid", "pr"]] = Field(["fid", "kid", "pr"], min_length=1,
                                                       description="fid, kid, pr (precision and recall).")
    generator: Literal["ema", "raw"] = Field("ema", description="Evaluate the EMA generator or the raw one.")
    extractor: ExtractorSection = Field(default_factory=ExtractorSection,
                                        description="Feature extractor: a kind and its options.")
    batch_size: int = Field(32, ge=1, description="Images per feature-extractor batch (results do not depend on it; memory does).")
    seed: int = Field(0, ge=0, description="Seeds the fake latents and the KID/PR subsets.")

    @field_validator("extractor", mode="before")
    @classmethod
    def _kind_alone(cls, value: Any) -> Any:
        return {"kind": value} if isinstance(value, str) else value  # `extractor: domain` for short


Requirement = Annotated[str, AfterValidator(parse_requirement)]
REQUIRES_FIELD = Field(default_factory=list, description="Distributions the recipe needs, as pip requirements "
                                                         "(PEP 508), e.g. ganzoo-sngan>=0.1; checked before anything else.")


class Recipe(Section):
    requires: list[Requirement] = REQUIRES_FIELD
    run: RunSection = RunSection()
    data: DataSection
    architecture: PluginSection
    train: TrainSection
    export: ExportSection = ExportSection()
    eval: EvalSection = EvalSection()


_COMMON_DATA_FIELDS = ("kind", "resolution", "channels")


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
        data["data"] = {**{k: data["data"][k] for k in _COMMON_DATA_FIELDS},
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


# ------------------------------------------------------------------ loading

def load_recipe(path: str | Path, host: Host, overrides: list[str] = ()) -> ResolvedRecipe:
    path = Path(path)
    data, lines = read_yaml(path)
    if not isinstance(data, dict):
        raise RecipeError(f"Recipe {path} must be a YAML mapping with sections run, data, architecture, train, export; "
                          f"got {type(data).__name__}.")
    data = apply_overrides(data, overrides, str(path))
    data.setdefault("run", {})
    if isinstance(data["run"], dict) and not data["run"].get("name"):
        data["run"]["name"] = path.stem
    return resolve(data, host, source=str(path), lines=lines)


def apply_overrides(data: dict, overrides: list[str], source: str) -> dict:
    """Apply ``--set a.b.c=value`` overrides; values are parsed as YAML (200, true, [0.5, 0.9])."""
    data = copy.deepcopy(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise RecipeError(f"Override '{item}' is not of the form section.field=value (for example train.steps=200).")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        node = data
        parts = key.strip().split(".")
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise RecipeError(f"Override '{item}': {'.'.join(parts[:depth + 1])} in {source} is a value, not a section.")
            node = child
        node[parts[-1]] = value
    return data


def check_plugin_section(section: PluginSection, loc: Loc, registry, source: str, lines: dict[Loc, int],
                         skip: tuple[str, ...] = ("kind",)):
    """The provider of ``section.kind`` and the section checked by its plugin's Config (RecipeError otherwise)."""
    try:
        provider = registry.get(section.kind)
    except PluginError as exc:
        raise RecipeError(f"Recipe {source} is invalid: {_where(lines, loc + ('kind',))}: {exc}") from None
    fields = {k: v for k, v in section.model_dump().items() if k not in skip}
    try:
        return provider, provider.obj.Config.model_validate(fields)
    except ValidationError as exc:
        raise RecipeError(_explain(exc, source, lines, provider.obj.Config, prefix=loc,
                                   what=f"{registry.category} '{section.kind}'")) from None


class _Unchecked(BaseModel):
    """A plugin section kept as it is, for uses that do not need its plugin (e.g. generating from a run)."""

    model_config = ConfigDict(extra="allow")


def resolve(data: dict, host: Host, source: str = "<recipe>", lines: dict[Loc, int] | None = None,
            architecture_only: bool = False) -> ResolvedRecipe:
    """Validate a recipe mapping (from YAML or a run directory's recipe.resolved.json).

    ``architecture_only`` skips the data and post-processing plugins' checks, so a
    run directory can be sampled where its dataset plugin is not installed.
    """
    lines = lines or {}
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        raise RecipeError(_explain(exc, source, lines, Recipe)) from None
    if not architecture_only:  # sampling a run needs its architecture only, not everything it was trained with
        check_requirements(recipe.requires, host, source, lambda i: _where(lines, ("requires", i)))
    providers: dict[str, str] = {}

    def plugin_config(section: PluginSection, loc: Loc, registry, skip: tuple[str, ...] = ("kind",)) -> PluginConfig:
        provider, config = check_plugin_section(section, loc, registry, source, lines, skip)
        providers[".".join(map(str, loc))] = f"{provider.distribution} {provider.version}".strip()
        return config

    arch_config = plugin_config(recipe.architecture, ("architecture",), host.architectures)
    if architecture_only:
        data_config = _Unchecked(**{k: v for k, v in recipe.data.model_dump().items() if k not in _COMMON_DATA_FIELDS})
        post_configs = [_Unchecked(**{k: v for k, v in step.model_dump().items() if k != "kind"})
                        for step in recipe.export.postprocess]
        return ResolvedRecipe(recipe, data_config, arch_config, post_configs, source, providers)
    data_config = plugin_config(recipe.data, ("data",), host.datasets, _COMMON_DATA_FIELDS)
    post_configs = [plugin_config(step, ("export", "postprocess", i), host.postprocessors)
                    for i, step in enumerate(recipe.export.postprocess)]
    # The extractor must exist when the recipe evaluates during training; otherwise it is
    # checked when installed and left for `ganzoo eval` to check when not.
    extractor = recipe.eval.extractor
    extractor_config = (plugin_config(extractor, ("eval", "extractor"), host.feature_extractors)
                        if recipe.eval.every_images or extractor.kind in host.feature_extractors else None)
    return ResolvedRecipe(recipe, data_config, arch_config, post_configs, source, providers, extractor_config)


# ------------------------------------------------------------------ errors

def _where(lines: dict[Loc, int], loc: Loc) -> str:
    dotted = ".".join(str(p) for p in loc)
    line = line_of(lines, loc)
    return dotted + (f" (line {line})" if line else "")


def _explain(exc: ValidationError, source: str, lines: dict[Loc, int], model: type[BaseModel],
             prefix: Loc = (), what: str = "") -> str:
    problems = []
    for err in exc.errors():
        loc = prefix + tuple(p for p in err["loc"])
        where = _where(lines, loc)
        if err["type"] == "extra_forbidden":
            accepted = _fields_at(model, tuple(err["loc"][:-1]))
            name = str(err["loc"][-1])
            hint = did_you_mean(name, accepted)
            problems.append(f"{where}: unknown field '{name}'.{hint} Accepted fields: {', '.join(accepted) or 'none'}.")
        elif err["type"] == "missing":
            problems.append(f"{where}: this field is required.")
        elif err["type"] == "value_error":
            problems.append(f"{where}: {err['msg'].removeprefix('Value error, ')}.")
        else:
            problems.append(f"{where}: got {err.get('input')!r}; {err['msg']}.")
    head = f"Recipe {source} is invalid" + (f" ({what} config)" if what else "")
    return f"{head}: " + " ".join(problems)


def _fields_at(model: Any, loc: tuple) -> list[str]:
    """Names of the fields of the (nested) model found at ``loc``, for 'accepted fields' hints."""
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or part not in model.model_fields:
            return []
        model = _model_in(model.model_fields[part].annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [n for n in model.model_fields]
    return []


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


# ------------------------------------------------------------------ schema

def recipe_schema(host: Host) -> dict[str, Any]:
    """JSON Schema of recipes, with each plugin section a union over the installed plugins' configs."""

    def union(registry, base: type[BaseModel]) -> Any:
        variants = [
            create_model(f"{base.__name__}_{p.kind}".replace("-", "_"), __base__=(p.obj.Config,),
                         __doc__=p.obj.description or None,
                         kind=(Literal[p.kind], Field(description=f"provided by {p.distribution}")),
                         **{n: (f.annotation, f) for n, f in base.model_fields.items() if n != "kind"})
            for p in registry
        ]
        if not variants:
            return base
        if len(variants) == 1:
            return variants[0]
        return typing.Annotated[Union[tuple(variants)], Field(discriminator="kind")]

    data_section = union(host.datasets, DataSection)
    arch_section = union(host.architectures, PluginSection)
    post_step = union(host.postprocessors, PluginSection)
    export = create_model("ExportSection", __base__=ExportSection,
                          postprocess=(list[post_step], Field(default_factory=list)))
    schema_model = create_model("Recipe", __base__=Section, requires=(list[Requirement], REQUIRES_FIELD),
                                run=(RunSection, RunSection()),
                                data=(data_section, ...), architecture=(arch_section, ...),
                                train=(TrainSection, ...), export=(export, ExportSection()),
                                eval=(create_model("EvalSection", __base__=EvalSection,
                                                   extractor=(union(host.feature_extractors, ExtractorSection),
                                                              Field(default_factory=ExtractorSection))),
                                      EvalSection()))
    schema = schema_model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "ganzoo recipe"
    return schema
