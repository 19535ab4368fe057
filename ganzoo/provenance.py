"""Provenance: the machine-readable "AI-generated" label every exported image carries.

One JSON record (generator kind, run id, seed, index, class, recipe digest) is
written three ways so that any tool finds it:

- PNG: ``tEXt`` chunks ``ganzoo:provenance`` (the JSON), ``Description`` and
  ``Software``, plus the XMP packet in an ``iTXt`` chunk ``XML:com.adobe.xmp``;
- JPEG and WebP: EXIF ``ImageDescription``, ``Software`` and ``UserComment``
  (the JSON), plus the XMP packet;
- the XMP packet holds IPTC's ``Iptc4xmpExt:DigitalSourceType`` (for GAN output
  ``trainedAlgorithmicMedia``), ``xmp:CreatorTool``, ``dc:description`` and the
  JSON as ``ganzoo:Provenance``.

``read_provenance`` reads any of them back (``ganzoo inspect IMAGE``).
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional
from xml.sax.saxutils import escape, quoteattr

from PIL import ExifTags, Image, PngImagePlugin

from ganzoo import __version__
from ganzoo.errors import GanzooError

__all__ = [
    "SCHEMA", "TRAINED_ALGORITHMIC_MEDIA", "IPTC_SOURCE_TYPES", "FORMATS", "Provenance", "provenance_record",
    "read_provenance", "embed", "png_info", "xmp_packet", "describe"
]

IPTC_SOURCE_TYPES = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED_ALGORITHMIC_MEDIA = IPTC_SOURCE_TYPES + "trainedAlgorithmicMedia"
SCHEMA = "ganzoo.provenance/1"
FORMATS = ("png", "jpeg", "webp")  # the formats that can carry the record

_NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "ganzoo": "urn:ganzoo:ns:provenance:1/",
}
_PNG_KEY = "ganzoo:provenance"
_PNG_XMP_KEY = "XML:com.adobe.xmp"
_USER_COMMENT = 0x9286
_IMAGE_DESCRIPTION = 0x010E
_SOFTWARE = 0x0131
_MAX_XMP = 1 << 20


def provenance_record(meta: Mapping[str, Any], **fields: Any) -> dict[str, Any]:
    """The provenance record for one image, from the export metadata (plus ``fields``)."""
    record = {
        "schema": SCHEMA,
        "ai_generated": True,
        "digital_source_type": TRAINED_ALGORITHMIC_MEDIA,
        "software": f"ganzoo {__version__}",
        "generator_kind": meta.get("kind"),
        "run_id": meta.get("run_id"),
        "seed": meta.get("seed"),
        "index": meta.get("index"),
        "class_name": meta.get("class_name"),
        "recipe_digest": meta.get("recipe_digest"),
    }
    record.update(fields)
    return record


def describe(record: Mapping[str, Any]) -> str:
    """One human-readable sentence for description fields."""
    parts = [f"{k.replace('_', ' ')} {record[k]}" for k in ("generator_kind", "run_id", "seed", "index", "class_name")
             if record.get(k) is not None]
    source = str(record.get("digital_source_type", "")).rsplit("/", 1)[-1]
    details = ", " + ", ".join(parts) if parts else ""
    return f"AI-generated image ({source}{details}), made with {record.get('software')}."


# ------------------------------------------------------------------ writing

def xmp_packet(record: Mapping[str, Any]) -> str:
    """An XMP packet carrying the record and IPTC's digital source type."""
    namespaces = " ".join(f"xmlns:{p}={quoteattr(u)}" for p, u in _NS.items() if p not in ("x", "rdf"))
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        f'<x:xmpmeta xmlns:x="{_NS["x"]}">\n'
        f' <rdf:RDF xmlns:rdf="{_NS["rdf"]}">\n'
        f'  <rdf:Description rdf:about="" {namespaces}\n'
        f'   Iptc4xmpExt:DigitalSourceType={quoteattr(str(record.get("digital_source_type", "")))}\n'
        f'   xmp:CreatorTool={quoteattr(str(record.get("software", "")))}\n'
        f'   ganzoo:Provenance={quoteattr(json.dumps(record, sort_keys=True))}>\n'
        f'   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">{escape(describe(record))}</rdf:li></rdf:Alt>'
        '</dc:description>\n'
        '  </rdf:Description>\n'
        ' </rdf:RDF>\n'
        '</x:xmpmeta>\n'
        '<?xpacket end="w"?>'
    )


def embed(fmt: str, record: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """Pillow save options for ``fmt`` with the record added (other options and EXIF tags kept)."""
    if fmt not in FORMATS:
        raise GanzooError(f"format '{fmt}' cannot carry provenance metadata; use {', '.join(FORMATS)} "
                          f"(or turn provenance off).")
    options = dict(options)
    text = json.dumps(record, sort_keys=True)
    xmp = xmp_packet(record)
    if fmt != "png" or options.get("exif"):  # PNG: text chunks suffice, but a kept EXIF block must not contradict
        exif = Image.Exif()
        if options.get("exif"):
            exif.load(options["exif"].tobytes() if isinstance(options["exif"], Image.Exif) else options["exif"])
        exif[_IMAGE_DESCRIPTION] = describe(record)
        exif[_SOFTWARE] = str(record.get("software", ""))
        exif.get_ifd(ExifTags.IFD.Exif)[_USER_COMMENT] = b"ASCII\0\0\0" + text.encode("ascii")
        options["exif"] = exif
    if fmt == "png":
        info = png_info(options.get("pnginfo"))
        info.add_text(_PNG_KEY, text)
        info.add_text("Description", describe(record))
        info.add_text("Software", str(record.get("software", "")))
        info.add_itxt(_PNG_XMP_KEY, xmp)
        options["pnginfo"] = info
        options.pop("xmp", None)
    else:
        options["xmp"] = xmp.encode("utf-8")
    return options


def png_info(existing: Optional[PngImagePlugin.PngInfo]) -> PngImagePlugin.PngInfo:
    """A fresh PngInfo holding ``existing``'s chunks (a step may reuse one object for every image)."""
    info = PngImagePlugin.PngInfo()
    if existing is not None:
        info.chunks = list(existing.chunks)
    return info


# ------------------------------------------------------------------ reading

@dataclass
class Provenance:
    """What an image says about its origin."""

    record: Optional[dict[str, Any]]            # the ganzoo record, if any
    found_in: list[str] = field(default_factory=list)  # 'png-text', 'xmp', 'exif'
    digital_source_type: Optional[str] = None   # IPTC's, from any XMP (other tools write it too)
    description: Optional[str] = None

    @property
    def ai_generated(self) -> bool:
        ai_types = ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia", "algorithmicMedia",
                    "compositeSynthetic")
        return bool((self.record or {}).get("ai_generated")) or \
            any(str(self.digital_source_type or "").endswith("/" + t) for t in ai_types)

    def as_dict(self) -> dict[str, Any]:
        return {"ai_generated": self.ai_generated, "digital_source_type": self.digital_source_type,
                "description": self.description, "found_in": self.found_in, "record": self.record}


def _json_object(text: Any) -> Optional[dict]:
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _parse_xmp(packet: Any) -> tuple[Optional[dict], Optional[str], Optional[str]]:
    """(record, digital source type, description) from an XMP packet; Nones when absent or unreadable."""
    if isinstance(packet, bytes):
        packet = packet.decode("utf-8", "replace")
    if not isinstance(packet, str) or len(packet) > _MAX_XMP:
        return None, None, None
    start, end = packet.find("<x:xmpmeta"), packet.rfind("</x:xmpmeta>")
    body = packet[start:end + len("</x:xmpmeta>")] if start >= 0 and end > start else packet
    body = re.sub(r"<\?xpacket[^>]*\?>", "", body).strip()
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None, None, None
    record = source = description = None
    dst = "{%s}DigitalSourceType" % _NS["Iptc4xmpExt"]
    for node in root.iter():
        record = record or _json_object(node.attrib.get("{%s}Provenance" % _NS["ganzoo"]))
        if node.tag == "{%s}Provenance" % _NS["ganzoo"]:
            record = record or _json_object(node.text)
        source = source or node.attrib.get(dst) or (node.text.strip() if node.tag == dst and node.text else None)
        if node.tag == "{%s}description" % _NS["dc"]:
            li = node.find(".//{%s}li" % _NS["rdf"])
            description = li.text if li is not None else description
    return record, source, description


def read_provenance(image: Image.Image | str | Path) -> Provenance:
    """Read the provenance an image carries (PNG text, XMP, EXIF); ``record`` is None when there is none."""
    if not isinstance(image, Image.Image):
        try:
            with Image.open(image) as opened:
                return read_provenance(opened)
        except (OSError, SyntaxError, ValueError) as exc:
            raise GanzooError(f"{image} cannot be read as an image: {exc}.") from None
    found = Provenance(None)
    info = image.info
    from_png = _json_object(info.get(_PNG_KEY))
    if from_png:
        found.record, found.description = from_png, info.get("Description")
        found.found_in.append("png-text")
    from_xmp, found.digital_source_type, xmp_description = _parse_xmp(info.get("xmp") or info.get(_PNG_XMP_KEY))
    found.description = found.description or xmp_description
    if from_xmp:
        found.record = found.record or from_xmp
        found.found_in.append("xmp")
    try:
        exif = image.getexif()
        comment = exif.get_ifd(ExifTags.IFD.Exif).get(_USER_COMMENT)
    except Exception:  # malformed EXIF must not stop inspection
        exif, comment = {}, None
    if isinstance(comment, bytes):
        comment = comment[8:] if comment[:8] in (b"ASCII\0\0\0", b"UNICODE\0", b"\0" * 8) else comment
        comment = comment.decode("utf-8", "replace")
    from_exif = _json_object(comment)
    if from_exif and from_exif.get("schema", "").startswith("ganzoo."):
        found.record = found.record or from_exif
        found.found_in.append("exif")
    if found.description is None and exif:
        found.description = exif.get(_IMAGE_DESCRIPTION)
    if found.digital_source_type is None and found.record:
        found.digital_source_type = found.record.get("digital_source_type")
    return found
