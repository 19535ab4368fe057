"""The PostProcessor base: one step of the export pipeline."""
from __future__ import annotations

from typing import Any, ClassVar

from ganzoo.api.config import PluginConfig


class PostProcessor:
    """One step of the export pipeline: takes a PIL image (and its metadata), returns one.

    ``meta`` is a dict with at least ``run_id``, ``kind``, ``seed``, ``index`` and
    ``class_name`` (None when unconditional, and for ``ganzoo postprocess``); steps
    may add to it. What is written is decided by ``meta["format"]`` (``png``,
    ``jpeg`` or ``webp``), ``meta["save_options"]`` (Pillow save keywords) and
    ``meta["provenance"]`` (the AI-generated record, see :func:`provenance_record`;
    None for none). ``meta["source"]`` describes the input file under ``ganzoo
    postprocess`` (``path``, ``format``, ``size``, ``mode``, ``transparent``,
    ``exif``, ``xmp``, ``provenance``), else None; ``meta["check"]`` is True while
    the pipeline is tried on test images.

    Images come as L, RGB or RGBA in sRGB. ``__call__`` runs on several threads at
    once, so it must not change ``self``. Raise ``GanzooError`` for an image the
    step cannot handle; the whole pipeline is tried on test images before the
    first file is written (docs/postprocess.md).
    """

    kind: ClassVar[str]
    Config: ClassVar[type[PluginConfig]] = PluginConfig
    description: ClassVar[str] = ""

    def __init__(self, config: PluginConfig):
        self.config = config

    def __call__(self, image: Any, meta: dict[str, Any]) -> Any:  # pragma: no cover - interface
        raise NotImplementedError
