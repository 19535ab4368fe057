"""ganzoo's first-party post-processors and marketplace presets, shipped as an ordinary plugin distribution.

ganzoo finds them through the ``ganzoo`` entry point in ``pyproject.toml``,
which names :mod:`ganzoo_postprocess.plugin`; they use only ``ganzoo.api``.
Reference: docs/postprocess.md.
"""

__version__ = "0.1.0"
