"""ganzoo's first-party datasets, shipped as an ordinary plugin distribution.

ganzoo finds them through the ``ganzoo`` entry point in ``pyproject.toml``,
which names :mod:`ganzoo_datasets.plugin`; nothing here is imported by the core.
"""

__version__ = "0.1.0"
