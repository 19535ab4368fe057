"""What every contract check shares: the class and its Config, tiny random data."""
from __future__ import annotations

from typing import Any


def check_class(cls: type, base_name: str, config: dict[str, Any] | None):
    """Shared by every check: the base class, ``kind``, a strict ``Config``; returns the validated config."""
    import ganzoo.api as api

    base = getattr(api, base_name)
    assert isinstance(cls, type) and issubclass(cls, base), f"{cls!r} must subclass ganzoo.api.{base_name}"
    assert isinstance(getattr(cls, "kind", None), str) and cls.kind, f"{cls.__name__}.kind must be a non-empty string"
    assert issubclass(cls.Config, api.PluginConfig), f"{cls.__name__}.Config must subclass ganzoo.api.PluginConfig"
    cfg = cls.Config.model_validate(config or {})
    try:
        cls.Config.model_validate({**(config or {}), "no_such_field_xyz": 1})
    except Exception:
        pass
    else:
        raise AssertionError(f"{cls.__name__}.Config accepts unknown fields; keep PluginConfig's extra='forbid'")
    return cfg


def tiny_data(resolution: int, channels: int, classes: int, n: int = 16):
    import torch

    from ganzoo.api import ImageData
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, channels, resolution, resolution), generator=g, dtype=torch.uint8)
    if classes:
        return ImageData(images, torch.arange(n) % classes, tuple(f"c{i}" for i in range(classes)))
    return ImageData(images)
