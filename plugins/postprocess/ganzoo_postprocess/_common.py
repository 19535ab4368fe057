"""Shared pieces: colours and files in configs, and alpha-aware helpers."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

from PIL import Image, ImageColor
from pydantic import AfterValidator


def _check_colour(value: str) -> str:
    try:
        ImageColor.getrgb(value)
    except (ValueError, AttributeError):
        raise ValueError(f"{value!r} is not a colour: use a name such as 'white' or 'lightgray', a hex code such as "
                         f"'#ffffff' (or '#ffffff80' with alpha), or 'rgb(255, 255, 255)'") from None
    return value


Colour = Annotated[str, AfterValidator(_check_colour)]


def rgba(colour: str) -> tuple[int, int, int, int]:
    """A colour string as (r, g, b, a)."""
    value = ImageColor.getrgb(colour)
    return value if len(value) == 4 else (*value, 255)


def existing_file(value: str, what: str) -> str:
    """An existing file as an absolute path (relative paths are taken from the current directory)."""
    path = Path(value).expanduser()
    if not path.is_file():
        hint = " and is not the file name of an installed font" if what == "font" else ""
        raise ValueError(f"{what} file {value!r} does not exist{hint} (relative paths are taken from {Path.cwd()})")
    return str(path.resolve())


def fill_for(mode: str, colour: str):
    """The fill value for ``Image.new(mode, ...)``."""
    r, g, b, a = rgba(colour)
    if mode == "L":
        return round(0.299 * r + 0.587 * g + 0.114 * b)
    if mode == "LA":
        return (round(0.299 * r + 0.587 * g + 0.114 * b), a)
    return (r, g, b, a) if mode == "RGBA" else (r, g, b)


def canvas_mode(image: Image.Image, colour: str) -> str:
    """The mode that holds both ``image`` and a ``colour`` background: L stays L on a grey, opaque colour."""
    r, g, b, a = rgba(colour)
    if a < 255 or image.mode in ("RGBA", "LA"):
        return "RGBA"
    if image.mode == "L" and r == g == b:
        return "L"
    return "RGB"


def split_alpha(image: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """(colour part, alpha or None), so filters do not touch transparency."""
    if image.mode == "RGBA":
        return image.convert("RGB"), image.getchannel("A")
    if image.mode == "LA":
        return image.convert("L"), image.getchannel("A")
    return image, None


def join_alpha(colour: Image.Image, alpha: Image.Image | None) -> Image.Image:
    if alpha is None:
        return colour
    out = colour.convert("RGBA" if colour.mode == "RGB" else "LA")
    out.putalpha(alpha)
    return out
