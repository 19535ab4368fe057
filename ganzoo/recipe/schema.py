"""JSON Schema of recipes with the installed plugins' configs, for editors (`ganzoo schema`)."""
from __future__ import annotations

import typing
from typing import Any, Literal, Union

from pydantic import BaseModel, Field, create_model

from ganzoo.host import Host
from ganzoo.recipe.models import (
    REQUIRES_FIELD,
    DataSection,
    EvalSection,
    ExportSection,
    ExtractorSection,
    PluginSection,
    Requirement,
    RunSection,
    Section,
    TrainSection,
)


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
