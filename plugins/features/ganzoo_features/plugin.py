"""Entry point: hands ganzoo the two feature extractors this distribution provides."""
from __future__ import annotations

from ganzoo.api import hookimpl
from ganzoo_features.domain import DomainExtractor
from ganzoo_features.inception import InceptionExtractor

GANZOO_PLUGIN_API = "1.0"  # the plugin API this plugin is written against


@hookimpl
def ganzoo_register_feature_extractors(register):
    register(InceptionExtractor)
    register(DomainExtractor)
