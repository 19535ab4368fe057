"""Entry point: hands ganzoo the three dataset kinds this distribution provides."""
from __future__ import annotations

from ganzoo.api import hookimpl
from ganzoo_datasets.catalogue import CatalogueDataset
from ganzoo_datasets.fashion_mnist import FashionMNISTDataset
from ganzoo_datasets.folder import FolderDataset

GANZOO_PLUGIN_API = "1.4"  # the plugin API this plugin is written against (1.4: Dataset.cache)


@hookimpl
def ganzoo_register_datasets(register):
    register(CatalogueDataset)
    register(FolderDataset)
    register(FashionMNISTDataset)
