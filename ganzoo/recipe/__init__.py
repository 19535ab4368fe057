"""Typed recipes: YAML in, a validated and fully resolved recipe out.

- ``models``: the recipe's sections (pydantic) and ``ResolvedRecipe``
- ``yamlfile``: YAML reading with the line of every key
- ``validation``: the one validator of plugin sections, and how errors are phrased (any document)
- ``load``: ``load_recipe``, ``--set`` overrides, ``resolve``
- ``requires``: a recipe's ``requires`` (PEP 508) checked against the environment
- ``build``: a resolved recipe's dataset and architecture, built through their plugins
- ``schema``: JSON Schema with the installed plugins' configs
- ``finetune``: ``init`` (a parent run's weights) and ``train.freeze_discriminator`` checked against the networks

It may import the contract, the host and the engine's settings; nothing that trains, evaluates or draws.
"""
from ganzoo.recipe.build import build_architecture, cheap_spec, check_data, load_data
from ganzoo.recipe.load import apply_overrides, load_recipe, resolve, section_fields
from ganzoo.recipe.models import (
                                  COMMON_DATA_FIELDS,
                                  DATA_LOADING_FIELDS,
                                  DataSection,
                                  EMASection,
                                  EvalSection,
                                  ExportSection,
                                  ExtractorSection,
                                  InitSection,
                                  OptimizerSection,
                                  PluginSection,
                                  Recipe,
                                  ResolvedRecipe,
                                  RunSection,
                                  Section,
                                  TrainSection,
)
from ganzoo.recipe.schema import recipe_schema
from ganzoo.recipe.validation import Document, check_plugin_section, classifier_missing

__all__ = ["COMMON_DATA_FIELDS", "DATA_LOADING_FIELDS", "DataSection", "Document", "EMASection", "EvalSection",
           "ExportSection", "ExtractorSection", "InitSection", "OptimizerSection", "PluginSection", "Recipe",
           "ResolvedRecipe", "RunSection", "Section", "TrainSection", "apply_overrides", "build_architecture",
           "cheap_spec", "check_data", "check_plugin_section", "classifier_missing", "load_data", "load_recipe",
           "recipe_schema", "resolve", "section_fields"]
