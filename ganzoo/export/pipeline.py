"""Post-processing pipelines: load and check them, stream images through them, write the results.

A pipeline is a list of post-processor steps (plugins, see docs/postprocess.md),
from a recipe's ``export.postprocess`` or a pipeline file. Each step gets a PIL
image and a ``meta`` dict and returns an image; the last word on how the file
is written is in ``meta``:

- ``format``: ``png`` (default), ``jpeg`` or ``webp``;
- ``save_options``: keyword arguments for Pillow's ``Image.save`` (quality, ...);
- ``provenance``: the AI-generated record to embed (None: none);
- ``check``: True while the pipeline is being tried on test images (nothing is written);
- ``source``: for ``ganzoo postprocess``, what the input file was (``path``,
  ``format``, ``size``, ``mode``, ``transparent``, ``exif``, ``xmp``,
  ``provenance``); None for generated images.

Before the first file is written, :func:`check_pipeline` runs every step on small
test images and encodes the result in memory, so a pipeline that cannot work
fails with nothing written. Images are processed by a bounded thread pool
(Pillow releases the GIL while resizing, filtering and encoding), a few at a time,
never all at once.
"""
from __future__ import annotations

import io
import os
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, TypeVar

from PIL import Image, ImageCms, ImageOps

from ganzoo.api import PostProcessor
from ganzoo.errors import GanzooError, RecipeError, UsageError
from ganzoo.fileio import atomic_path
from ganzoo.host import Host
from ganzoo.provenance import embed, png_info, provenance_record, read_provenance
from ganzoo.recipe import Document, ResolvedRecipe, check_plugin_section
from ganzoo.recipe.yamlfile import read_yaml

# format -> (file extension, can it hold transparency)
FORMATS = {"png": (".png", True), "jpeg": (".jpg", False), "webp": (".webp", True)}
INPUT_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
T = TypeVar("T")


class PipelineError(RecipeError):
    """A pipeline that cannot work: bad steps, or a step that fails on a test image (exit code 2)."""


@dataclass
class Pipeline:
    """Built post-processor steps, with where each came from (for error messages)."""

    steps: list[PostProcessor] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)  # e.g. "steps.2 (KIND)"
    source: str = "pipeline"                          # e.g. "Pipeline file p.yaml"

    def __iter__(self) -> Iterator[PostProcessor]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    def apply(self, image: Image.Image, meta: dict[str, Any]) -> Image.Image:
        for step in self.steps:
            image = step(image, meta)
        return image


def build_steps(items: list[tuple[str, Any]], host: Host, source: str, what: str = "Pipeline file",
                lines: dict | None = None, prefix: tuple = ("steps",)) -> Pipeline:
    """Validate ``(kind, fields)`` items with each plugin's Config and build the steps."""
    document = Document(what, source, lines or {}, PipelineError)
    pipeline = Pipeline(source=f"{what} {source}")
    for i, (kind, fields) in enumerate(items):
        loc = prefix + (i,)
        provider, config = check_plugin_section(kind, fields, host.postprocessors, document, loc)
        pipeline.steps.append(provider.obj(config))
        pipeline.labels.append(f"{'.'.join(map(str, loc))} ({kind})")
    return pipeline


def pipeline_of(resolved: ResolvedRecipe, host: Host) -> Pipeline:
    """The steps of a resolved recipe's ``export.postprocess``."""
    steps = resolved.recipe.export.postprocess
    built = [host.postprocessors.get(step.kind).obj(cfg) for step, cfg in zip(steps, resolved.postprocess_configs)]
    labels = [f"export.postprocess.{i} ({step.kind})" for i, step in enumerate(steps)]
    return Pipeline(built, labels, f"Recipe {resolved.source}")


def load_pipeline(path: str | Path, host: Host) -> Pipeline:
    """Read a pipeline file: a list of ``{kind: ..., ...}`` steps, or a mapping with such a ``steps`` list."""
    path = Path(path)
    data, lines = read_yaml(path, what="Pipeline")
    prefix: tuple = ("steps",)
    if isinstance(data, list):
        lines = {("steps",) + k: v for k, v in lines.items()}
        steps = data
    elif isinstance(data, dict) and set(data) <= {"steps", "description"} and isinstance(data.get("steps"), list):
        steps = data["steps"]
    else:
        raise PipelineError(f"Pipeline file {path} must be a list of steps, or a mapping with a 'steps' list (and "
                            f"optionally a 'description'); each step is a mapping with a 'kind' (see `ganzoo plugins`) "
                            f"and that post-processor's fields. Got: {_short(data)}.")
    document = Document("Pipeline file", str(path), lines, PipelineError)
    items = []
    for i, step in enumerate(steps):
        if not isinstance(step, dict) or not isinstance(step.get("kind"), str):
            raise document.invalid(prefix + (i,), f"each step must be a mapping with a 'kind' (see `ganzoo plugins`), "
                                                  f"got {_short(step)}.")
        items.append((step["kind"], {k: v for k, v in step.items() if k != "kind"}))
    return build_steps(items, host, str(path), lines=lines, prefix=prefix)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 80 else text[:77] + "..."


# ------------------------------------------------------------------ writing

def has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (image.mode == "P" and "transparency" in image.info)


def extension(fmt: str) -> str:
    return FORMATS[fmt][0]


def output_format(meta: dict[str, Any], label: str = "the pipeline") -> str:
    fmt = str(meta.get("format") or "png").lower()
    fmt = {"jpg": "jpeg"}.get(fmt, fmt)
    if fmt not in FORMATS:
        raise PipelineError(f"{label} asks for format '{fmt}'; ganzoo writes {', '.join(FORMATS)}.")
    return fmt


def save_image(image: Image.Image, target: Any, meta: dict[str, Any]) -> str:
    """Encode ``image`` as ``meta`` says (format, save_options, provenance) to a path or file object."""
    fmt = output_format(meta)
    if has_alpha(image) and not FORMATS[fmt][1]:
        rgba = image.convert("RGBA")
        if rgba.getchannel("A").getextrema()[0] < 255:
            raise PipelineError(f"the image has transparent pixels but format '{fmt}' cannot hold transparency; "
                                f"use png or webp, or flatten it onto a background in an earlier step.")
        image = rgba.convert("RGB")
    if image.mode not in ("1", "L", "RGB", "RGBA", "LA", "P", "I;16", "CMYK"):
        image = image.convert("RGBA" if has_alpha(image) else "RGB")
    options = dict(meta.get("save_options") or {})
    if meta.get("provenance"):
        options = embed(fmt, meta["provenance"], options)
    elif fmt == "png" and options.get("xmp"):  # Pillow's PNG writer takes XMP as an iTXt chunk
        info = png_info(options.get("pnginfo"))
        xmp = options.pop("xmp")
        info.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else xmp)
        options["pnginfo"] = info
    image.save(target, format=fmt.upper(), **options)
    return fmt


def write_image(image: Image.Image, out_base: Path, meta: dict[str, Any]) -> Path:
    """Write atomically as ``out_base`` plus the format's extension."""
    path = out_base.with_name(out_base.name + extension(output_format(meta)))
    with atomic_path(path) as tmp:
        save_image(image, tmp, meta)
    return path


# ------------------------------------------------------------------ checking

def probe_images(modes: Iterable[str], size: tuple[int, int] = (48, 64)) -> list[Image.Image]:
    """Small test images in the given modes, with a white border and a darker object (RGBA: half see-through)."""
    probes = []
    w, h = size
    for mode in modes:
        base = Image.new("RGB", size, (255, 255, 255))
        base.paste((40, 90, 160), (w // 4, h // 4, 3 * w // 4, 3 * h // 4))
        if mode == "RGBA":
            image = base.convert("RGBA")
            image.putalpha(Image.new("L", size, 128))
        else:
            image = base.convert(mode)
        probes.append(image)
    return probes


def check_pipeline(pipeline: Pipeline, probes: list[Image.Image], base_meta: dict[str, Any],
                   provenance: bool = False, files: bool = False) -> None:
    """Run every step on each test image and encode the result in memory; raise PipelineError on any failure.

    ``files``: the images will come from files (``meta['source']`` set), not from a generator.
    """
    for probe in probes:
        what = f"a {probe.width}x{probe.height} {probe.mode} test image"
        source = {"path": "<test image>", "format": "png", "size": list(probe.size), "mode": probe.mode,
                  "transparent": probe.mode == "RGBA", "exif": None, "xmp": None, "provenance": None}
        meta = {**base_meta, "index": 0, "label": None, "class_name": None, "format": "png",
                "source": source if files else None, "check": True}
        if provenance:
            meta["provenance"] = provenance_record(meta)
        image = probe.copy()
        for step, label in zip(pipeline.steps, pipeline.labels):
            try:
                image = step(image, meta)
            except GanzooError as exc:
                raise PipelineError(f"{pipeline.source}: {label} cannot work on {what}: {_sentence(exc)}") from None
            except Exception as exc:  # a plugin bug or an unusable setting: say which step
                raise PipelineError(f"{pipeline.source}: {label} failed on {what}: "
                                    f"{type(exc).__name__}: {_sentence(exc)}") from None
            if not isinstance(image, Image.Image):
                raise PipelineError(f"{pipeline.source}: {label} returned {type(image).__name__}, not a PIL image.")
        try:
            save_image(image, io.BytesIO(), meta)
        except GanzooError as exc:
            last = pipeline.labels[-1] if pipeline.labels else "the default PNG output"
            raise PipelineError(f"{pipeline.source} cannot write its result for {what} (last step {last}): "
                                f"{_sentence(exc)}") from None
        except Exception as exc:
            raise PipelineError(f"{pipeline.source}: encoding the result for {what} as '{meta.get('format')}' with "
                                f"options {sorted(meta.get('save_options') or {})} failed: {type(exc).__name__}: "
                                f"{_sentence(exc)}") from None


def _sentence(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if text.endswith((".", "!", "?")) else text + "."


# ------------------------------------------------------------------ streaming

def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def run_parallel(tasks: Iterable[Callable[[], T]], workers: Optional[int], on_result: Callable[[T], None]) -> None:
    """Run tasks (pulled lazily from ``tasks``) on ``workers`` threads, at most 2 x workers in flight."""
    workers = workers or default_workers()
    if workers == 1:
        for task in tasks:
            on_result(task())
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix="ganzoo-pp")
    pending: set = set()
    try:
        for task in tasks:
            pending.add(pool.submit(task))
            if len(pending) >= 2 * workers:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    on_result(future.result())
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                on_result(future.result())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# ------------------------------------------------------------------ folders of images

def _is_hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def find_inputs(in_path: Path, out_dir: Path) -> list[tuple[Path, Path]]:
    """(file, output path without extension) for every image under ``in_path``, checked before anything is written."""
    in_path, out_dir = Path(in_path), Path(out_dir)
    if not in_path.exists():
        raise GanzooError(f"Input {in_path} does not exist (relative paths are taken from {Path.cwd()}).")
    root = in_path.parent if in_path.is_file() else in_path
    if out_dir.resolve() == root.resolve() or root.resolve() in out_dir.resolve().parents:
        raise GanzooError(f"Output folder {out_dir} is inside the input folder {root}; choose a folder outside it "
                          f"so the originals stay untouched and a rerun does not read its own output.")
    if in_path.is_file():
        files = [in_path]
    else:
        files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in INPUT_EXTENSIONS
                       and not _is_hidden(p.relative_to(root)))
    if not files:
        raise GanzooError(f"No images under {in_path} (looked for {', '.join(INPUT_EXTENSIONS)}).")
    bad, seen, pairs = [], {}, []
    for file in files:
        try:
            with Image.open(file) as image:  # reads the header only
                image.size
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            bad.append(f"{file} ({exc})")
            continue
        rel = file.relative_to(root).with_suffix("")
        key = str(rel).lower()
        if key in seen:
            raise GanzooError(f"{seen[key]} and {file} would both be written as {out_dir / rel}.*; rename one of them.")
        seen[key] = file
        pairs.append((file, out_dir / rel))
    if bad:
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise UsageError(f"{len(bad)} file(s) under {in_path} are not readable images: {'; '.join(bad[:5])}{more}. "
                         f"Remove or fix them; nothing was written.")
    return pairs


_SRGB = None


def _to_srgb(image: Image.Image, icc: Optional[bytes]) -> Image.Image:
    """Convert pixels with an embedded ICC profile (Adobe RGB, Display P3, CMYK...) to sRGB."""
    global _SRGB
    if not icc:
        return image
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if "srgb" in (ImageCms.getProfileDescription(profile) or "").lower().replace(" ", ""):
            return image
        _SRGB = _SRGB or ImageCms.createProfile("sRGB")
        out_mode = "RGBA" if image.mode in ("RGBA", "LA") else "RGB"
        if image.mode not in ("RGB", "RGBA", "CMYK"):
            return image
        return ImageCms.profileToProfile(image, profile, _SRGB, outputMode=out_mode)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image  # an unusable profile: keep the pixels as they are


def open_input(path: Path) -> tuple[Image.Image, dict[str, Any]]:
    """Read one input image upright, in sRGB, as L, RGB or RGBA; and what it was."""
    try:
        with Image.open(path) as opened:
            opened.load()
            source = {"path": str(path), "format": (opened.format or "").lower(), "size": list(opened.size),
                      "mode": opened.mode, "exif": opened.info.get("exif"), "xmp": opened.info.get("xmp"),
                      "provenance": read_provenance(opened).record}
            image = _to_srgb(ImageOps.exif_transpose(opened), opened.info.get("icc_profile"))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise GanzooError(f"{path} cannot be read as an image: {exc}.") from None
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        image = image.convert("I").point(lambda v: v * (1 / 256)).convert("L")  # 16-bit grey -> 8-bit
    elif image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif image.mode in ("LA", "PA", "RGBa", "La"):
        image = image.convert("RGBA")
    elif image.mode not in ("L", "RGB", "RGBA"):
        image = image.convert("RGB")
    if has_alpha(image) and image.getchannel("A").getextrema()[0] == 255:
        image = image.convert("RGB")  # an alpha channel that is opaque everywhere says nothing
    source["transparent"] = image.mode == "RGBA"
    return image, source


def process_folder(in_path: Path, out_dir: Path, pipeline: Pipeline, workers: Optional[int] = None,
                   provenance: bool = True, on_image: Optional[Callable[[Path], None]] = None,
                   inputs: Optional[list[tuple[Path, Path]]] = None) -> list[Path]:
    """Run every image under ``in_path`` through ``pipeline`` into ``out_dir`` (mirroring sub-folders).

    ``provenance``: carry a ganzoo provenance record found in an input into its output.
    """
    inputs = inputs if inputs is not None else find_inputs(in_path, out_dir)
    check_pipeline(pipeline, probe_images(("RGB", "RGBA", "L")), {"run_id": None, "kind": None, "seed": None},
                   files=True)
    written: list[Path] = []

    def task(index: int, file: Path, out_base: Path) -> Callable[[], Path]:
        def run() -> Path:
            image, source = open_input(file)
            meta = {"run_id": None, "kind": None, "seed": None, "index": index, "label": None, "class_name": None,
                    "format": "png", "source": source,
                    "provenance": dict(source["provenance"]) if provenance and source["provenance"] else None}
            try:
                image = pipeline.apply(image, meta)
                return write_image(image, out_base, meta)
            except GanzooError as exc:
                raise GanzooError(f"{file}: {exc}") from None
        return run

    def done(path: Path) -> None:
        written.append(path)
        if on_image:
            on_image(path)

    run_parallel((task(i, f, o) for i, (f, o) in enumerate(inputs)), workers, done)
    return sorted(written)
