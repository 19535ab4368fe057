"""Compare recipes: one dataset, one evaluation protocol, one budget, seeds, and the entries to compare.

Each entry x seed becomes an ordinary recipe, resolved by ganzoo.recipe as ``ganzoo run`` resolves
one, so its errors read the same (file, field, YAML line, what is accepted). What makes the
comparison fair is not left to the entries: the data, the budget, the seeds and the evaluation
come from the compare alone; an entry that sets a budget is refused, and a recipe entry must
train on the compare's data.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Optional

from pydantic import Field, ValidationError, field_validator, model_validator

from ganzoo.engine.settings import Budget
from ganzoo.errors import RecipeError
from ganzoo.host import Host
from ganzoo.recipe import (
    COMMON_DATA_FIELDS,
    DataSection,
    Document,
    EvalSection,
    InitSection,
    PluginSection,
    ResolvedRecipe,
    Section,
    TrainSection,
    apply_overrides,
    check_plugin_section,
    resolve,
    section_fields,
)
from ganzoo.recipe.yamlfile import read_yaml
from ganzoo.rundir import recipe_differences

BUDGETS = ("steps", "images", "wall_clock")  # TrainSection's budgets; a compare offers images and wall_clock
NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class SharedTrain(TrainSection):
    """``train`` settings without a budget: the compare's (for every entry) and each entry's own."""

    @model_validator(mode="after")
    def _one_budget(self) -> "SharedTrain":  # replaces TrainSection's check: no budget may be given here
        given = [name for name in BUDGETS if getattr(self, name) is not None]
        if given:
            raise ValueError(f"'{given[0]}' is a budget; every run of a compare has the same budget, set once "
                             f"in `budget` (images or wall_clock)")
        return self


class BudgetSection(Section):
    images: Optional[int] = Field(None, ge=1, description="Real images shown to the discriminator, per run.")
    wall_clock: Optional[float] = Field(None, gt=0, description="Seconds of training per run (evaluation excluded).")

    @model_validator(mode="after")
    def _one_budget(self) -> "BudgetSection":
        if (self.images is None) == (self.wall_clock is None):
            raise ValueError("give exactly one budget: images (real images seen per run) or wall_clock "
                             "(seconds of training per run)")
        return self


class EntrySection(Section):
    name: str = Field(pattern=NAME, description="The entry's name in the report; its runs are NAME-sSEED.")
    architecture: Optional[PluginSection] = Field(None, description="An architecture kind and its config fields.")
    recipe: Optional[str] = Field(None, description="A recipe file whose architecture and train sections this "
                                                    "entry uses (relative to the compare file's folder).")
    train: SharedTrain = Field(default_factory=SharedTrain, description="This entry's training settings, over "
                                                                        "the compare's `train`.")
    init: Optional[InitSection] = Field(None, description="Fine-tune: start this entry's runs from another run's "
                                                          "weights (a recipe's `init` section).")

    @model_validator(mode="after")
    def _one_source(self) -> "EntrySection":
        if (self.architecture is None) == (self.recipe is None):
            raise ValueError("give exactly one of architecture ({kind: KIND, ...fields}) or recipe (a recipe file)")
        return self


class SamplesSection(Section):
    count: int = Field(36, ge=1, le=256, description="Images in each run's sample grid in the report.")
    seed: int = Field(0, ge=0, description="Seeds the grids' latents (and classes): the same for every entry.")


class CompareRecipe(Section):
    output: Optional[str] = Field(None, description="Folder for the runs and the report; default: "
                                                    "compares/<compare file name>.")
    data: DataSection
    budget: BudgetSection
    seeds: list[Annotated[int, Field(ge=0)]] = Field([0], min_length=1, description="Each entry trains once per seed.")
    eval: EvalSection = Field(default_factory=EvalSection, description="The one evaluation protocol.")
    train: SharedTrain = Field(default_factory=SharedTrain, description="Training settings for every entry.")
    device: str = Field("auto", pattern=r"^(auto|cpu|mps|cuda(:\d+)?)$",
                        description="auto or cuda with several GPUs: one run per GPU at once.")
    threads: Optional[int] = Field(None, ge=1, description="CPU threads for PyTorch; default: all cores.")
    samples: SamplesSection = Field(default_factory=SamplesSection)
    entries: list[EntrySection] = Field(min_length=1)

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError("each seed may be listed once")
        return seeds

    @field_validator("entries")
    @classmethod
    def _distinct_names(cls, entries: list[EntrySection]) -> list[EntrySection]:
        names = [e.name for e in entries]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"entry names must differ (they name run directories); {', '.join(twice)} is used twice")
        return entries


@dataclass
class PlannedRun:
    entry: str
    seed: int
    resolved: ResolvedRecipe
    recipe: dict[str, Any]  # the generated recipe, as written to OUTPUT/recipes/NAME.yaml

    @property
    def name(self) -> str:
        return self.resolved.name


@dataclass
class Entry:
    name: str
    kind: str
    origin: str  # "architecture", or the recipe file it came from


@dataclass
class Compare:
    source: Path
    spec: CompareRecipe
    output: Path
    entries: list[Entry]
    runs: list[PlannedRun]
    data: dict[str, Any]  # the data section with every default filled in (as in recipe.resolved.json)

    @property
    def budget(self) -> Budget:
        """Every run's budget, in the engine's terms."""
        return Budget(images=self.spec.budget.images, wall_clock=self.spec.budget.wall_clock)

    @property
    def budget_label(self) -> str:
        b = self.spec.budget
        return f"{b.images:,} real images" if b.images is not None else f"{b.wall_clock:g} s of training"

    def to_dict(self) -> dict[str, Any]:
        """The compare as resolved, for compare.resolved.json and the report."""
        spec = self.spec.model_dump(mode="json")
        spec["data"] = self.data
        spec["output"] = str(self.output)
        spec["entries"] = [{"name": e.name, "kind": e.kind, "origin": e.origin} for e in self.entries]
        return spec


# ------------------------------------------------------------------ loading

def load_compare(path: str | Path, host: Host, overrides: list[str] = ()) -> Compare:
    """Read and check a compare recipe and every run it makes (nothing is trained or written)."""
    path = Path(path)
    raw, lines = read_yaml(path, what="Compare recipe")
    source = str(path)
    if not isinstance(raw, dict):
        raise RecipeError(f"Compare recipe {path} must be a YAML mapping with data, budget, eval, seeds and "
                          f"entries; got {type(raw).__name__}.")
    raw = apply_overrides(raw, list(overrides), source)
    document = Document("Compare recipe", source, lines)
    try:
        spec = CompareRecipe.model_validate(raw)
    except ValidationError as exc:
        raise document.explain(exc, CompareRecipe) from None
    if spec.budget.wall_clock is not None and spec.eval.every_images is None:
        raise document.invalid(("budget", "wall_clock"), "with a wall-clock budget, set eval.every_images too (how "
                               "many images a run will see is not known in advance, and the report's curves need "
                               "evaluations during training).")
    data = _canonical_data(spec.data, host, document)
    check_plugin_section(spec.eval.extractor.kind, section_fields(spec.eval.extractor), host.feature_extractors,
                         document, ("eval", "extractor"))
    output = Path(spec.output) if spec.output else Path("compares") / path.stem
    entries, runs = [], []
    for index, entry in enumerate(spec.entries):
        made = _entry_recipe(spec, index, entry, raw["entries"][index], path, host, document, data)
        entries.append(Entry(entry.name, made["architecture"]["kind"], made["origin"]))
        for seed in spec.seeds:
            generated = _generated(spec, entry.name, seed, made["architecture"], made["train"], raw, output,
                                   made["init"])
            resolved = resolve(generated, host, source=made["source"], lines=made["lines"])
            if resolved.recipe.eval.generator == "ema" and not resolved.recipe.train.ema.enabled:
                raise document.invalid(("entries", index, "train", "ema", "enabled"),
                                       f"entry '{entry.name}' turns the EMA generator off, but eval.generator is "
                                       f"ema: it would be scored on its raw generator while the others are scored "
                                       f"on their EMA generators. Keep train.ema.enabled: true, or set "
                                       f"eval.generator: raw for every entry.")
            runs.append(PlannedRun(entry.name, seed, resolved, generated))
    return Compare(path, spec, output, entries, runs, data)


def _canonical_data(section: DataSection, host: Host, document: Document) -> dict[str, Any]:
    _, config = check_plugin_section(section.kind, section_fields(section, COMMON_DATA_FIELDS), host.datasets,
                                     document, ("data",), also_accepted=COMMON_DATA_FIELDS)
    common = section.model_dump(mode="json")
    return {**{k: common[k] for k in COMMON_DATA_FIELDS}, **config.model_dump(mode="json")}


def _deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _entry_recipe(spec: CompareRecipe, index: int, entry: EntrySection, raw_entry: dict, path: Path, host: Host,
                  document: Document, data: dict) -> dict[str, Any]:
    """An entry's architecture and train mappings, and where their errors point."""
    shared = spec.train.model_dump(mode="json", exclude_unset=True)
    own = entry.train.model_dump(mode="json", exclude_unset=True)
    if entry.architecture is not None:
        architecture = dict(raw_entry["architecture"])
        # Errors point into the compare file: the entry's own fields first, then the shared ones.
        lines = document.lines
        mapped = {loc: line for loc, line in lines.items() if loc[:1] in (("data",), ("eval",), ("train",))}
        mapped.update({("train",) + loc[2:]: line for loc, line in lines.items() if loc[:2] == ("budget", "images")})
        mapped.update({loc[2:]: line for loc, line in lines.items()
                       if loc[:2] == ("entries", index) and loc[2:3] in (("architecture",), ("train",), ("init",))})
        return {"architecture": architecture, "train": _deep_merge(shared, own), "origin": "architecture",
                "source": f"{path} (entry '{entry.name}', entries.{index})", "lines": mapped,
                "init": raw_entry.get("init")}
    at = ("entries", index, "recipe")
    file = (path.parent / entry.recipe).resolve() if not Path(entry.recipe).is_absolute() else Path(entry.recipe)
    if not file.is_file():
        raise document.invalid(at, f"recipe file '{entry.recipe}' does not exist (looked for {file}; a relative "
                                   f"path is taken from the compare file's folder).")
    theirs, their_lines = read_yaml(file)
    if not isinstance(theirs, dict) or not isinstance(theirs.get("architecture"), dict):
        raise document.invalid(at, f"'{entry.recipe}' has no architecture section, so it cannot be an entry; give "
                                   f"the entry an architecture: {{kind: ...}} instead.")
    their_source = f"{file} (entry '{entry.name}' of {path})"
    if isinstance(theirs.get("data"), dict):
        theirs_document = Document("Recipe", their_source, their_lines)
        try:
            their_data = _canonical_data(DataSection.model_validate(theirs["data"]), host, theirs_document)
        except ValidationError as exc:
            raise theirs_document.explain(exc, DataSection, prefix=("data",)) from None
        differences = recipe_differences(data, their_data, ignore=(), prefix="data.")
        if differences:
            raise document.invalid(
                at, f"'{entry.recipe}' trains on other data than this compare "
                    f"({'; '.join(d.replace(' -> ', ' here, ') + ' in the recipe' for d in differences)}). Every "
                    f"entry of a compare trains on the compare's data; make the recipe's data section the same, or "
                    f"give the entry an architecture: {{kind: ...}} instead of the recipe.")
    their_train = {k: v for k, v in (theirs.get("train") or {}).items() if k not in BUDGETS}
    mapped = {loc: line for loc, line in their_lines.items() if loc[:1] in (("architecture",), ("train",), ("init",))}
    return {"architecture": dict(theirs["architecture"]),
            "train": _deep_merge(_deep_merge(shared, their_train), own), "origin": entry.recipe,
            "source": their_source, "lines": mapped,
            "init": raw_entry["init"] if entry.init is not None else theirs.get("init")}  # the entry's wins


def _generated(spec: CompareRecipe, entry: str, seed: int, architecture: dict, train: dict, raw: dict,
               output: Path, init: Any = None) -> dict[str, Any]:
    """One entry x seed as an ordinary recipe: everything that makes the comparison fair comes from the compare."""
    budget = spec.budget
    evaluation = spec.eval.model_dump(mode="json")
    if evaluation["every_images"] is None:  # curves need evaluations during training; ten points by default
        evaluation["every_images"] = max(1, budget.images // 10)
    return {
        "run": {"name": f"{entry}-s{seed}", "output_dir": str(output / "runs"), "seed": seed,
                "device": spec.device, "threads": spec.threads},
        "data": copy.deepcopy(raw["data"]),
        "architecture": copy.deepcopy(architecture),
        "train": {**train, **({"images": budget.images} if budget.images is not None
                              else {"wall_clock": budget.wall_clock})},
        "export": {"count": 0},  # the report draws its own grids; nothing to export
        "eval": evaluation,
        **({"init": copy.deepcopy(init)} if init is not None else {}),
    }
