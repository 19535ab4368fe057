"""``encode`` (file format and its options) and ``provenance`` (what the AI-generated label says)."""
from __future__ import annotations

from typing import Any, Literal, Optional, Union

from PIL import Image, ImageCms
from pydantic import Field, field_validator, model_validator

from ganzoo.api import GanzooError, PluginConfig, PostProcessor
from ganzoo.provenance import TRAINED_ALGORITHMIC_MEDIA, provenance_record
from ganzoo_postprocess._common import Colour, rgba

HOLDS_ALPHA = {"png": True, "jpeg": False, "webp": True}
_ONLY_FOR = {"quality": ("jpeg", "webp"), "progressive": ("jpeg",), "subsampling": ("jpeg",), "lossless": ("webp",),
             "compress_level": ("png",)}


class EncodeConfig(PluginConfig):
    format: Literal["png", "jpeg", "webp"] = Field("png", description="File format ('jpg' is read as 'jpeg').")
    quality: int = Field(90, ge=1, le=100, description="JPEG/WebP quality.")
    progressive: bool = Field(False, description="JPEG: progressive (loads blurry-to-sharp in browsers).")
    subsampling: Literal["4:4:4", "4:2:2", "4:2:0"] = Field(
        "4:2:0", description="JPEG chroma subsampling; 4:4:4 keeps thin coloured edges crisp (bigger files).")
    lossless: bool = Field(False, description="WebP: lossless.")
    compress_level: int = Field(6, ge=0, le=9, description="PNG: zlib level (9: smallest, slowest).")
    alpha: Optional[Literal["keep", "flatten"]] = Field(
        None, description="Transparency: keep (png, webp) or flatten onto 'background'. Default: keep for png and "
                          "webp; for jpeg, transparent input files (cut-outs) are flattened, while transparency made "
                          "by an earlier step is an error.")
    background: Colour = Field("white", description="Opaque colour that transparent pixels are flattened onto.")
    metadata: Literal["strip", "keep"] = Field(
        "strip", description="Input files' EXIF and XMP: strip (default) or keep. Provenance is written either way.")
    icc_profile: bool = Field(False, description="Embed an sRGB ICC profile (pixels are always sRGB).")

    @field_validator("format", mode="before")
    @classmethod
    def _jpg(cls, value: Any) -> Any:
        return {"jpg": "jpeg"}.get(value.lower(), value.lower()) if isinstance(value, str) else value

    @field_validator("background")
    @classmethod
    def _opaque(cls, value: str) -> str:
        if rgba(value)[3] != 255:
            raise ValueError(f"background {value!r} has transparency; flattening needs an opaque colour such as "
                             f"'white'")
        return value

    @model_validator(mode="after")
    def _fits_format(self) -> "EncodeConfig":
        if self.alpha == "keep" and not HOLDS_ALPHA[self.format]:
            raise ValueError(f"format {self.format} cannot hold transparency (alpha: keep); use png or webp, or "
                             f"alpha: flatten")
        for name in sorted(self.model_fields_set):
            if name in _ONLY_FOR and self.format not in _ONLY_FOR[name]:
                raise ValueError(f"{name} applies to {' and '.join(_ONLY_FOR[name])} only, not {self.format}; "
                                 f"remove it or change format")
        return self


_SRGB_BYTES: Optional[bytes] = None


def srgb_profile() -> bytes:
    global _SRGB_BYTES
    if _SRGB_BYTES is None:
        _SRGB_BYTES = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return _SRGB_BYTES


class Encode(PostProcessor):
    """Choose the file format and its options; flatten transparency where needed; keep or strip metadata."""

    kind = "encode"
    Config = EncodeConfig
    description = "File format: PNG, JPEG (quality, progressive) or WebP; sRGB; keep or strip metadata"

    def __call__(self, image, meta):
        c = self.config
        alpha = c.alpha or ("keep" if HOLDS_ALPHA[c.format] else "flatten")
        transparent = image.mode in ("RGBA", "LA") and image.getchannel("A").getextrema()[0] < 255
        if transparent and c.alpha is None and not HOLDS_ALPHA[c.format] and \
                not (meta.get("source") or {}).get("transparent"):
            raise GanzooError(f"an earlier step made transparent pixels (e.g. a transparent background colour), which "
                              f"{c.format} cannot hold; use png or webp, or set alpha: flatten to put them on "
                              f"{c.background!r}")
        if image.mode in ("RGBA", "LA") and alpha == "flatten":
            flat = Image.new("RGBA", image.size, rgba(c.background))
            image = Image.alpha_composite(flat, image.convert("RGBA")).convert("RGB")
        if c.format in ("jpeg", "webp") and image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if image.mode in ("LA", "PA") else "RGB")  # marketplaces want RGB
        options: dict[str, Any] = {}
        if c.format == "jpeg":
            options = {"quality": c.quality, "optimize": True, "progressive": c.progressive,
                       "subsampling": c.subsampling}
        elif c.format == "webp":
            options = {"quality": 100 if c.lossless else c.quality, "lossless": c.lossless, "method": 4}
        else:
            options = {"compress_level": c.compress_level}
        source = meta.get("source") or {}
        if c.metadata == "keep":
            if source.get("exif"):
                exif = Image.Exif()
                exif.load(source["exif"])
                exif[0x0112] = 1  # the pixels were turned upright when read
                options["exif"] = exif
            if source.get("xmp"):
                options["xmp"] = source["xmp"]
        if c.icc_profile:
            options["icc_profile"] = srgb_profile()
        meta["format"] = c.format
        meta["save_options"] = options
        return image


DIGITAL_SOURCE_TYPES = ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia", "algorithmicMedia",
                        "compositeSynthetic")


class ProvenanceConfig(PluginConfig):
    digital_source_type: Literal[DIGITAL_SOURCE_TYPES] = Field(
        "trainedAlgorithmicMedia", description="IPTC digital source type: trainedAlgorithmicMedia (made by a trained "
        "model, e.g. a GAN), compositeWithTrainedAlgorithmicMedia (a photo combined with generated parts), ...")
    generator: Optional[str] = Field(None, min_length=1, description="What made the images, when it was not a ganzoo "
                                                                     "run (e.g. 'StyleGAN2 ffhq')")
    fields: dict[str, Union[str, int, float, bool]] = Field(
        default_factory=dict, description="Extra key-values to record, e.g. {shop: acme, batch: 7}.")

    @field_validator("fields")
    @classmethod
    def _no_core_keys(cls, value: dict) -> dict:
        taken = sorted(set(value) & set(provenance_record({})))
        if taken:
            raise ValueError(f"fields {', '.join(taken)} are part of the record itself; choose other names")
        return value


class Provenance(PostProcessor):
    """Label images as AI-generated (or adjust the label): the record ganzoo embeds when writing."""

    kind = "provenance"
    Config = ProvenanceConfig
    description = "Machine-readable AI-generated label (PNG text, EXIF, XMP with IPTC digital source type)"

    def __call__(self, image, meta):
        c = self.config
        record = dict(meta.get("provenance") or provenance_record(meta))
        record["digital_source_type"] = TRAINED_ALGORITHMIC_MEDIA.rsplit("/", 1)[0] + "/" + c.digital_source_type
        if c.generator is not None:
            record["generator_kind"] = c.generator
        record.update(c.fields)
        meta["provenance"] = record
        return image
