"""One validator for every document that names plugins, and one way of saying what is wrong with it.

Recipes, pipeline files, compare files, dataset specs and extractor options all
hold *plugin sections*: a ``kind`` plus fields that the plugin's own ``Config``
validates. :func:`check_plugin_section` finds the plugin and validates the
fields; :class:`Document` phrases every error the same way: what the document
is, its name, the dotted field, its YAML line, and what would be accepted.
"""
from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Any, Mapping

from pydantic import BaseModel, ValidationError

from ganzoo.api import PluginConfig
from ganzoo.errors import GanzooError, PluginError, RecipeError
from ganzoo.host.registry import Provider, Registry, did_you_mean
from ganzoo.recipe.yamlfile import Loc, line_of


@dataclass(frozen=True)
class Document:
    """A document being validated: how errors name it, and the YAML line of each key path (when read from YAML)."""

    what: str = "Recipe"  # "Recipe", "Pipeline file", "Compare file", "Dataset spec", ...
    source: str = "<recipe>"
    lines: Mapping[Loc, int] = field(default_factory=dict)
    error: type[GanzooError] = RecipeError  # the error class raised (exit code 2 for all of ganzoo's)
    verb: str = "is"  # "are" for a plural name ("The options of feature extractor 'x' are invalid")

    @property
    def name(self) -> str:
        return " ".join(part for part in (self.what, self.source) if part)

    def where(self, loc: Loc) -> str:
        """``a.b.0.c (line N)``: the dotted path and the line of it, or of its nearest ancestor in the file."""
        line = line_of(dict(self.lines), tuple(loc))
        return ".".join(str(p) for p in loc) + (f" (line {line})" if line else "")

    def invalid(self, loc: Loc, problem: str) -> GanzooError:
        """``<what> <source> is invalid: <where>: <problem>`` as this document's error."""
        return self.error(f"{self.name} {self.verb} invalid: {self.where(loc)}: {problem}")

    def explain(self, exc: ValidationError, model: type[BaseModel], prefix: Loc = (), subject: str = "",
                also_accepted: tuple[str, ...] = ()) -> GanzooError:
        """A pydantic error as one paragraph: each problem with its place and, for unknown fields, what is accepted
        (``also_accepted``: fields the section takes beside the model's own, e.g. a data section's resolution)."""
        problems = []
        for err in exc.errors():
            where = self.where(tuple(prefix) + tuple(err["loc"]))
            if err["type"] == "extra_forbidden":
                top_level = len(err["loc"]) == 1
                accepted = fields_at(model, tuple(err["loc"][:-1])) + (list(also_accepted) if top_level else [])
                name = str(err["loc"][-1])
                problems.append(f"{where}: unknown field '{name}'.{did_you_mean(name, accepted)} "
                                f"Accepted fields: {', '.join(accepted) or 'none'}.")
            elif err["type"] == "missing":
                problems.append(f"{where}: this field is required.")
            elif err["type"] == "value_error":
                problems.append(f"{where}: {err['msg'].removeprefix('Value error, ')}.")
            else:
                problems.append(f"{where}: got {err.get('input')!r}; {err['msg']}.")
        head = f"{self.name} {self.verb} invalid" + (f" ({subject} config)" if subject else "")
        return self.error(f"{head}: " + " ".join(problems))


def check_plugin_section(kind: str, fields: Mapping[str, Any], registry: Registry, document: Document,
                         loc: Loc = (), also_accepted: tuple[str, ...] = ()) -> tuple[Provider, PluginConfig]:
    """The provider of ``kind`` in ``registry`` and ``fields`` validated by its plugin's Config.

    ``loc`` is where the section sits in ``document`` (e.g. ``("export", "postprocess", 2)``);
    ``also_accepted`` names the section's fields that are not the plugin's (said when a field is unknown).
    Raises ``document.error``: an unknown kind names what is installed, a bad field what is accepted.
    """
    try:
        provider = registry.get(kind)
    except PluginError as exc:
        raise document.invalid(tuple(loc) + ("kind",), str(exc)) from None
    try:
        return provider, provider.obj.Config.model_validate(dict(fields))
    except ValidationError as exc:
        raise document.explain(exc, provider.obj.Config, prefix=tuple(loc),
                               subject=f"{registry.category.replace('_', ' ')} '{kind}'",
                               also_accepted=tuple(f for f in also_accepted if f != "kind")) from None


def classifier_missing(kind: str, registry: Registry) -> str | None:
    """Why feature extractor ``kind`` cannot give the Inception Score (metric 'is'); None when it can or is unknown.

    The Inception Score needs class predictions, which only extractors with a ``classifier``
    give; the message names the installed ones that do.
    """
    if kind not in registry or registry.get(kind).obj.classifier:
        return None
    offering = [p.kind for p in registry if p.obj.classifier]
    alternatives = (f"Installed extractors that provide it: {', '.join(offering)}; choose one with --extractor "
                    f"{offering[0]} (eval.extractor: {offering[0]} in a recipe)" if offering
                    else "No installed extractor provides it (the 'inception' extractor of ganzoo-features does)")
    return (f"The Inception Score (metric 'is') needs a feature extractor that ends in an image classifier "
            f"(Inception weights only), but feature extractor '{kind}' gives features and no class predictions. "
            f"{alternatives}, or leave 'is' out of the metrics.")


def fields_at(model: Any, loc: tuple) -> list[str]:
    """Names of the fields of the (nested) model found at ``loc``, for 'accepted fields' hints."""
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or part not in model.model_fields:
            return []
        model = model_in(model.model_fields[part].annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def model_in(annotation: Any) -> Any:
    """The pydantic model inside a field's annotation (``Optional[M]``, ``list[M]``, ...), or None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = model_in(arg)
        if found is not None:
            return found
    return None
