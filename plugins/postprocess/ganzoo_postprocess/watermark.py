"""``watermark``: a text (bundled or given font) or a logo with alpha, placed or tiled, sized relative to the image."""
from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Literal, Optional

from PIL import Image, ImageDraw, ImageFont, features
from pydantic import Field, field_validator, model_validator

from ganzoo.api import PluginConfig, PostProcessor
from ganzoo_postprocess._common import Colour, existing_file, rgba

POSITIONS = ("top-left", "top", "top-right", "left", "center", "right", "bottom-left", "bottom", "bottom-right")
# A mark that says "generated" must never land on a real photo: such text needs when: ai-generated.
SAYS_GENERATED = re.compile(r"generated|synthetic|\bAI\b|\bKI\b|\bIA\b", re.IGNORECASE)


def load_font(font: Optional[str], size: int) -> ImageFont.FreeTypeFont:
    """The given TTF/OTF (a path, or a name the system font folders hold), or Pillow's bundled scalable font."""
    if font is None:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(font, size)


class WatermarkConfig(PluginConfig):
    text: Optional[str] = Field(None, min_length=1, description="Text to draw (give text or logo).")
    logo: Optional[str] = Field(None, description="PNG (or any image) to draw; its alpha channel is kept.")
    font: Optional[str] = Field(None, description="TTF/OTF file or installed font name for text; default: the font "
                                                  "bundled with Pillow.")
    size: float = Field(0.06, gt=0, le=1, description="Text height, or the logo's longer side, as a fraction of the "
                                                       "image's shorter side.")
    color: Colour = Field("#808080", description="Text colour (its alpha multiplies opacity).")
    opacity: float = Field(0.6, gt=0, le=1, description="0 (invisible, not allowed) to 1 (solid).")
    position: Literal[POSITIONS] = Field("bottom-right", description="Where the mark goes (ignored when tiled).")
    margin: float = Field(0.03, ge=0, le=0.5, description="Gap to the image edge, as a fraction of its shorter side.")
    tile: bool = Field(False, description="Repeat the mark over the whole image.")
    spacing: float = Field(1.0, ge=0, le=20, description="Gap between tiles, in multiples of the mark's size.")
    angle: float = Field(0.0, ge=-180, le=180, description="Rotation in degrees, counter-clockwise.")
    when: Literal["always", "ai-generated", "not-ai-generated"] = Field(
        "always", description="Which images get the mark: all, only those carrying the AI-generated record "
                              "(generated images), or only those without it (real photos).")

    @field_validator("font")
    @classmethod
    def _font_loads(cls, value: Optional[str]) -> Optional[str]:
        if value is None:
            return None
        if not Path(value).expanduser().is_file():
            try:
                ImageFont.truetype(value, 12)
                return value  # an installed font's file name, e.g. DejaVuSans.ttf
            except OSError:
                pass
        path = existing_file(value, "font")  # stored absolute, so the run directory works from anywhere
        try:
            ImageFont.truetype(path, 12)
        except OSError as exc:
            raise ValueError(f"font {value!r} cannot be loaded ({exc}); give a TrueType/OpenType file (.ttf, .otf), "
                             f"or leave font out to use the bundled font") from None
        return path

    @field_validator("logo")
    @classmethod
    def _logo_loads(cls, value: Optional[str]) -> Optional[str]:
        if value is None:
            return None
        path = existing_file(value, "logo")
        try:
            with Image.open(path) as logo:
                logo.load()
        except (OSError, SyntaxError, ValueError) as exc:
            raise ValueError(f"logo {value!r} is not a readable image ({exc}); give a PNG with transparency") from None
        return path

    @model_validator(mode="after")
    def _text_or_logo(self) -> "WatermarkConfig":
        if (self.text is None) == (self.logo is None):
            raise ValueError("give exactly one of text (e.g. 'ACME') or logo (a PNG file)")
        if self.text is not None and SAYS_GENERATED.search(self.text) and self.when != "ai-generated":
            raise ValueError(f"the text {self.text!r} says the image is generated, so it must only be drawn on "
                             f"images that carry the AI-generated record: add when: ai-generated (a real photo "
                             f"run through the same pipeline would otherwise be visibly labelled AI-generated "
                             f"while its metadata says it is not)")
        if self.text is not None and self.font is None and not features.check("freetype2"):
            raise ValueError("this Pillow has no FreeType support, so text watermarks cannot be drawn; use a logo")
        return self


class Watermark(PostProcessor):
    """Draw a text or logo mark; only the pixels under the mark change."""

    kind = "watermark"
    Config = WatermarkConfig
    description = "Text or logo watermark: position, margin, opacity, optional tiling"

    def mark(self, image_size: tuple[int, int]) -> Image.Image:
        """The mark as an RGBA image, sized for an image of ``image_size``, opacity applied."""
        c = self.config
        unit = min(image_size)
        target = max(1, round(c.size * unit))
        if c.text is not None:
            font = load_font(c.font, target)
            left, top, right, bottom = font.getbbox(c.text)
            coverage = Image.new("L", (max(1, right - left), max(1, bottom - top)), 0)
            ImageDraw.Draw(coverage).text((-left, -top), c.text, font=font, fill=255)
            r, g, b, a = rgba(c.color)
            mark = Image.new("RGBA", coverage.size, (r, g, b, 0))
            mark.putalpha(coverage.point(lambda v: round(v * a / 255 * c.opacity)))
        else:
            with Image.open(c.logo) as logo:
                mark = logo.convert("RGBA")
            scale = target / max(mark.size)
            mark = mark.resize((max(1, round(mark.width * scale)), max(1, round(mark.height * scale))),
                               Image.Resampling.LANCZOS)
            mark.putalpha(mark.getchannel("A").point(lambda v: round(v * c.opacity)))
        if c.angle:
            mark = mark.rotate(c.angle, Image.Resampling.BICUBIC, expand=True)
        return mark

    def places(self, image_size: tuple[int, int], mark_size: tuple[int, int]) -> list[tuple[int, int]]:
        """Top-left corners of the mark: one, or a brick pattern over the whole image when tiled."""
        c = self.config
        (w, h), (mw, mh) = image_size, mark_size
        if c.tile:
            step_x, step_y = max(1, round(mw * (1 + c.spacing))), max(1, round(mh * (1 + c.spacing)))
            corners = []
            for row, y in enumerate(range(-(mh // 2), h, step_y)):
                start = -(mw // 2) - (step_x // 2 if row % 2 else 0)
                corners += [(x, y) for x in range(start, w, step_x)]
            return corners
        margin = round(c.margin * min(w, h))
        vertical, horizontal = {"top": ("top", "center"), "bottom": ("bottom", "center"), "left": ("center", "left"),
                                "right": ("center", "right"), "center": ("center", "center")}.get(
            c.position, tuple(c.position.split("-")))
        x = {"left": margin, "right": w - mw - margin}.get(horizontal, (w - mw) // 2)
        y = {"top": margin, "bottom": h - mh - margin}.get(vertical, (h - mh) // 2)
        return [(x, y)]

    def __init__(self, config: WatermarkConfig):
        super().__init__(config)
        self._marks: dict[tuple[int, int], Image.Image] = {}  # by image size: exports are mostly one size
        self._lock = threading.Lock()  # steps run on several threads

    def applies(self, meta) -> bool:
        """Whether this image gets the mark: the visible label follows the metadata's AI-generated record."""
        generated = bool((meta.get("provenance") or {}).get("ai_generated"))
        return {"always": True, "ai-generated": generated, "not-ai-generated": not generated}[self.config.when]

    def __call__(self, image, meta):
        if not self.applies(meta):
            return image
        with self._lock:
            mark = self._marks.get(image.size)
        if mark is None:
            mark = self.mark(image.size)
            with self._lock:
                if len(self._marks) >= 16:
                    self._marks.clear()
                self._marks[image.size] = mark
        mode = image.mode
        out = image.convert("RGBA")
        for x, y in self.places(image.size, mark.size):
            # Composite only the region under the mark, so nothing outside it changes.
            box = (max(0, x), max(0, y), min(out.width, x + mark.width), min(out.height, y + mark.height))
            if box[0] >= box[2] or box[1] >= box[3]:
                continue
            piece = mark.crop((box[0] - x, box[1] - y, box[2] - x, box[3] - y))
            out.paste(Image.alpha_composite(out.crop(box), piece), box[:2])
        return out if mode == "RGBA" else out.convert(mode if mode in ("L", "RGB") else "RGB")
