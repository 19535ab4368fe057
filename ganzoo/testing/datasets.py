"""The contract check for datasets."""
from __future__ import annotations

from typing import Any, Iterable

from ganzoo.testing.shared import check_class


def check_dataset(cls: type, config: dict[str, Any] | None = None, resolutions: Iterable[int] = (16, 32)) -> None:
    """Assert that ``cls`` loads uint8 ``(N, C, R, R)`` images at each resolution, the same ones every time,
    and that its ``check()``, when it has one, tells the same channels and classes (and at least as many images:
    decoding may skip unreadable files)."""
    from ganzoo.api import DataCheck, ImageData

    cfg = check_class(cls, "Dataset", config)
    for resolution in resolutions:
        data = cls(cfg, resolution).load()
        where = f"{cls.kind} at {resolution}px"
        assert isinstance(data, ImageData), f"{where}: load() returned {type(data).__name__}, not ganzoo.api.ImageData"
        n, channels, height, width = data.images.shape
        assert n > 0, f"{where}: no images"
        assert (height, width) == (resolution, resolution), f"{where}: images are {height}x{width}"
        assert channels in (1, 3), f"{where}: images have {channels} channels; give 1 (grey) or 3 (RGB)"
        if data.labels is not None:
            assert 0 <= int(data.labels.min()) and int(data.labels.max()) < len(data.class_names), \
                f"{where}: labels outside 0..{len(data.class_names) - 1}"
        again = cls(cfg, resolution).load()
        assert again.content_hash() == data.content_hash(), f"{where}: two loads gave different images or labels"
        found = cls(cfg, resolution).check()  # optional (plugin API 1.3): must agree with what load gives
        if found is not None:
            assert isinstance(found, DataCheck), f"{where}: check() returned {type(found).__name__}, not DataCheck"
            assert (found.channels, tuple(found.class_names)) == (channels, data.spec.class_names), \
                f"{where}: check() says {found.channels} channel(s), classes {found.class_names}; load() gives " \
                f"{channels}, {data.spec.class_names}"
            assert found.size >= n, f"{where}: check() counts {found.size} images, load() gives {n}"
