"""``resize``, ``pad_square`` and ``center_crop``: sizes and shapes, keeping the aspect ratio."""
from __future__ import annotations

import re
from typing import Literal, Optional, Union

from PIL import Image
from pydantic import Field, PositiveInt, field_validator, model_validator

from ganzoo.api import PluginConfig, PostProcessor
from ganzoo_postprocess._common import Colour, canvas_mode, fill_for

FILTERS = {"lanczos": Image.Resampling.LANCZOS, "bicubic": Image.Resampling.BICUBIC}


class ResizeConfig(PluginConfig):
    longest_side: Optional[PositiveInt] = Field(None, description="Scale so the longer side is this many pixels.")
    size: Optional[tuple[PositiveInt, PositiveInt]] = Field(
        None, description="[width, height]: scale to fit inside this box (the aspect ratio is kept).")
    filter: Literal["lanczos", "bicubic"] = Field("lanczos", description="Resampling filter.")
    upscale: bool = Field(False, description="Enlarge images smaller than the target; false leaves them as they are.")

    @model_validator(mode="after")
    def _one_target(self) -> "ResizeConfig":
        if (self.longest_side is None) == (self.size is None):
            raise ValueError("give exactly one target: longest_side (e.g. 1000) or size (e.g. [800, 600])")
        return self


class Resize(PostProcessor):
    """Scale to a longest side or into a box, keeping the aspect ratio (within one pixel)."""

    kind = "resize"
    Config = ResizeConfig
    description = "Scale to a longest side or to fit a box, keeping the aspect ratio (Lanczos or bicubic)"

    def target(self, width: int, height: int) -> tuple[int, int]:
        c = self.config
        if c.longest_side is not None:
            scale = c.longest_side / max(width, height)
        else:
            scale = min(c.size[0] / width, c.size[1] / height)
        if scale > 1 and not c.upscale:
            return width, height
        return max(1, round(width * scale)), max(1, round(height * scale))

    def __call__(self, image, meta):
        size = self.target(*image.size)
        if size == image.size:
            return image
        return image.resize(size, FILTERS[self.config.filter])  # Pillow premultiplies alpha for RGBA/LA


class PadSquareConfig(PluginConfig):
    background: Colour = Field("white", description="Colour of the added borders (with alpha, e.g. '#ffffff00', "
                                                     "the borders are transparent).")


def _place(image: Image.Image, size: tuple[int, int], background: str) -> Image.Image:
    """``image`` centred on a ``size`` canvas of ``background`` (cropped where it is larger)."""
    mode = canvas_mode(image, background)
    canvas = Image.new(mode, size, fill_for(mode, background))
    x, y = (size[0] - image.width) // 2, (size[1] - image.height) // 2
    canvas.paste(image.convert(mode), (x, y))  # a plain copy, alpha included: no blending
    return canvas


class PadSquare(PostProcessor):
    """Add borders to make the image square (side = its longer side), the image centred."""

    kind = "pad_square"
    Config = PadSquareConfig
    description = "Pad to a square on a background colour, centred"

    def __call__(self, image, meta):
        side = max(image.size)
        if image.width == image.height and canvas_mode(image, self.config.background) == image.mode:
            return image
        return _place(image, (side, side), self.config.background)


def _aspect(value: Union[str, float, None]) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*[:/x]\s*(\d+(?:\.\d+)?)\s*", value)
        if not match or float(match[2]) == 0 or float(match[1]) == 0:
            raise ValueError(f"aspect {value!r} is not a ratio: use 'W:H' such as '1:1' or '4:3', or a number > 0")
        return float(match[1]) / float(match[2])
    if value <= 0:
        raise ValueError(f"aspect {value} must be > 0 (width / height, e.g. 1 for square)")
    return float(value)


class CenterCropConfig(PluginConfig):
    size: Optional[Union[PositiveInt, tuple[PositiveInt, PositiveInt]]] = Field(
        None, description="Output size: one number for a square, or [width, height]. Where the image is smaller, "
                          "'background' fills the rest.")
    aspect: Optional[Union[str, float]] = Field(
        None, description="Instead of size: crop the largest centred window of this width:height ratio, e.g. '1:1'.")
    background: Colour = Field("white", description="Fills the output where the image does not reach.")

    @field_validator("aspect")
    @classmethod
    def _ratio(cls, value):
        _aspect(value)
        return value

    @model_validator(mode="after")
    def _one_target(self) -> "CenterCropConfig":
        if (self.size is None) == (self.aspect is None):
            raise ValueError("give exactly one of size (e.g. 1000 or [1000, 800]) or aspect (e.g. '1:1')")
        return self


class CenterCrop(PostProcessor):
    """Cut a centred window of a fixed size (filling with the background where the image is smaller) or ratio."""

    kind = "center_crop"
    Config = CenterCropConfig
    description = "Centred crop to a size or aspect ratio; a background colour fills where the image is smaller"

    def __call__(self, image, meta):
        c = self.config
        if c.size is not None:
            size = (c.size, c.size) if isinstance(c.size, int) else tuple(c.size)
        else:
            ratio, (w, h) = _aspect(c.aspect), image.size
            size = (w, max(1, round(w / ratio))) if w / h < ratio else (max(1, round(h * ratio)), h)
        if size == image.size:
            return image
        return _place(image, size, c.background)
