"""Reading a recipe: YAML (with line numbers) and ``--set`` overrides in, a validated ResolvedRecipe out."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from ganzoo.api import PluginConfig
from ganzoo.errors import RecipeError
from ganzoo.host import Host
from ganzoo.host.registry import Registry
from ganzoo.recipe.models import COMMON_DATA_FIELDS, PluginSection, Recipe, ResolvedRecipe
from ganzoo.recipe.requires import check_requirements
from ganzoo.recipe.validation import Document, check_plugin_section, classifier_missing
from ganzoo.recipe.yamlfile import Loc, read_yaml


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


# Fields of which a document gives exactly one: a budget set with --set replaces the file's.
# A recipe's train section and a compare file's budget section.
ONE_OF = {"train": ("steps", "images", "wall_clock"), "budget": ("images", "wall_clock")}


def apply_overrides(data: dict, overrides: list[str], source: str) -> dict:
    """Apply ``--set a.b.c=value`` overrides; values are parsed as YAML (200, true, [0.5, 0.9]).

    A budget (``train.steps``, ``train.images``, ``train.wall_clock``; a compare's ``budget.images`` or
    ``budget.wall_clock``) replaces the budget the file gives; two budgets on the command line are refused.
    """
    data = copy.deepcopy(data)
    chosen: dict[str, str] = {}
    for item in overrides:
        key, _, raw = item.partition("=")
        key = key.strip()
        section, _, field = key.partition(".")
        if field in ONE_OF.get(section, ()) and raw.strip() not in ("null", "~", ""):  # null removes, not chooses
            if section in chosen and chosen[section] != key:
                raise RecipeError(f"Overrides --set {chosen[section]}=... and --set {key}=... give two budgets; "
                                  f"give one of {', '.join(f'{section}.{f}' for f in ONE_OF[section])}.")
            chosen[section] = key
            if isinstance(data.get(section), dict):
                for other in ONE_OF[section]:
                    if other != field:
                        data[section].pop(other, None)  # the command line's budget replaces the file's
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise RecipeError(f"Override '{item}' is not of the form section.field=value (for example "
                              f"train.steps=200).")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        node = data
        parts = key.strip().split(".")
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise RecipeError(f"Override '{item}': {'.'.join(parts[:depth + 1])} in {source} is a value, "
                                  f"not a section.")
            node = child
        node[parts[-1]] = value
    return data


def section_fields(section: PluginSection, skip: tuple[str, ...] = ("kind",)) -> dict[str, Any]:
    """A plugin section's fields for its plugin's Config: everything but ``kind`` (and ``skip``)."""
    return {k: v for k, v in section.model_dump().items() if k not in skip}


class _Unchecked(BaseModel):
    """A plugin section kept as it is, for uses that do not need its plugin (e.g. generating from a run)."""

    model_config = ConfigDict(extra="allow")


def resolve(data: dict, host: Host, source: str = "<recipe>", lines: Mapping[Loc, int] | None = None,
            architecture_only: bool = False) -> ResolvedRecipe:
    """Validate a recipe mapping (from YAML or a run directory's recipe.resolved.json).

    ``architecture_only`` skips the data and post-processing plugins' checks, so a
    run directory can be sampled where its dataset plugin is not installed.
    """
    document = Document("Recipe", source, lines or {})
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        raise document.explain(exc, Recipe) from None
    if not architecture_only:  # sampling a run needs its architecture only, not everything it was trained with
        check_requirements(recipe.requires, host, source, lambda i: document.where(("requires", i)))
    providers: dict[str, str] = {}

    def plugin_config(section: PluginSection, loc: Loc, registry: Registry,
                      skip: tuple[str, ...] = ("kind",)) -> PluginConfig:
        provider, config = check_plugin_section(section.kind, section_fields(section, skip), registry, document, loc,
                                                also_accepted=skip)
        providers[".".join(map(str, loc))] = f"{provider.distribution} {provider.version}".strip()
        return config

    arch_config = plugin_config(recipe.architecture, ("architecture",), host.architectures)
    if architecture_only:
        data_config = _Unchecked(**section_fields(recipe.data, COMMON_DATA_FIELDS))
        post_configs = [_Unchecked(**section_fields(step)) for step in recipe.export.postprocess]
        return ResolvedRecipe(recipe, data_config, arch_config, post_configs, source, providers)
    data_config = plugin_config(recipe.data, ("data",), host.datasets, COMMON_DATA_FIELDS)
    post_configs = [plugin_config(step, ("export", "postprocess", i), host.postprocessors)
                    for i, step in enumerate(recipe.export.postprocess)]
    # The extractor must exist when the recipe evaluates during training; otherwise it is
    # checked when installed and left for `ganzoo eval` to check when not.
    extractor = recipe.eval.extractor
    extractor_config = (plugin_config(extractor, ("eval", "extractor"), host.feature_extractors)
                        if recipe.eval.every_images or extractor.kind in host.feature_extractors else None)
    if recipe.eval.every_images and "is" in recipe.eval.metrics:  # else `ganzoo eval -e` may choose another
        missing = classifier_missing(extractor.kind, host.feature_extractors)
        if missing:
            raise document.invalid(("eval", "metrics"), missing)
    return ResolvedRecipe(recipe, data_config, arch_config, post_configs, source, providers, extractor_config)
