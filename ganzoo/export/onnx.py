"""A trained generator as an ONNX file with its model card, and running such a file with onnxruntime.

Export goes through ``torch.onnx.export(dynamo=True)`` (``torch.export``, the
exporter PyTorch maintains) at a current opset, with a dynamic batch size. The
file's inputs are the architecture's ``onnx_inputs()`` (``z``, ``labels`` when
conditional, ``truncation`` when offered); its output ``images`` is float32 in
[-1, 1], or uint8 in 0..255 with ``uint8`` (the same rounding as ganzoo's PNGs).
Before the file is moved into place it is run with onnxruntime against PyTorch
on a few latents; a file that disagrees is never written.

The model card (``card``) is written twice: as ``NAME.json`` beside the file,
and as the ONNX file's ``metadata_props`` (one JSON value per key), so the file
alone says what it is. onnx, onnxscript and onnxruntime are the optional extra
``ganzoo[onnx]``.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
import json
import warnings
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np
import torch
from torch import nn

import ganzoo
from ganzoo.api import Architecture, to_uint8_images
from ganzoo.errors import PluginError, UsageError
from ganzoo.export.generate import labels_of_class
from ganzoo.fileio import write_json
from ganzoo.provenance import describe, provenance_record

OPSET = 18
CARD_FORMAT = "ganzoo-onnx-card/1"
INSTALL = "pip install 'ganzoo[onnx]'"
TOLERANCE = 1e-3  # max |onnxruntime - PyTorch| on [-1, 1] images accepted by the export's own check


def require(module: str) -> Any:
    """Import an optional ONNX package, or a one-line UsageError saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UsageError(f"ONNX support needs the '{module}' package, which is not installed: {INSTALL}.") from None


class Exported(nn.Module):
    """The architecture's export module, its output converted to uint8 when asked (as PNGs are)."""

    def __init__(self, module: nn.Module, uint8: bool):
        super().__init__()
        self.module, self.uint8 = module, uint8

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        images = self.module(*inputs)
        return images.add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8) if self.uint8 else images


def check_exportable(architecture: Architecture) -> None:
    if not architecture.onnx_exportable:
        raise UsageError(f"Architecture '{architecture.kind}' does not declare ONNX export support "
                         f"(Architecture.onnx_exportable, plugin API 1.2), so its generator cannot be exported. "
                         f"Its plugin can add it when its generator traces with torch.export; ask its authors.")


def example_inputs(architecture: Architecture, n: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Inputs as ``ganzoo generate`` draws them (latents, then labels from the same stream; truncation 1)."""
    rng = torch.Generator().manual_seed(seed)
    values = {"z": architecture.sample_latents(n, "cpu", rng)}
    if "labels" in architecture.onnx_inputs():
        values["labels"] = architecture.sample_labels(n, "cpu", rng)
    values["truncation"] = torch.tensor(1.0)
    return tuple(values[name] for name in architecture.onnx_inputs())


def model_card(architecture: Architecture, *, which: str, step: int, images_seen: Optional[int],
               run: dict[str, Any], recipe_digest: Optional[str], metrics: Optional[dict[str, Any]],
               uint8: bool, opset: int = OPSET) -> dict[str, Any]:
    """What the exported file is: inputs and output, where it comes from, how good it was measured to be."""
    image = architecture.image
    inputs = [{"name": "z", "dtype": "float32", "shape": ["batch", architecture.z_dim],
               "drawn": "standard normal (torch.randn), as ganzoo generate draws it"}]
    if "labels" in architecture.onnx_inputs():
        inputs.append({"name": "labels", "dtype": "int64", "shape": ["batch"], "classes": list(image.class_names)})
    if "truncation" in architecture.onnx_inputs():
        inputs.append({"name": "truncation", "dtype": "float32", "shape": [], "range": "0 to 1 (1: no truncation)"})
    record = provenance_record({"kind": architecture.kind, "run_id": run.get("run_id"),
                                "recipe_digest": recipe_digest})
    for per_image in ("seed", "index", "class_name"):
        record.pop(per_image, None)
    return {
        "format": CARD_FORMAT,
        "ganzoo": ganzoo.__version__,
        "architecture": {"kind": architecture.kind, "config": architecture.config.model_dump(mode="json")},
        "generator": which, "step": step, "images_seen": images_seen,
        "run_id": run.get("run_id"), "recipe_digest": recipe_digest,
        "training_data": {k: run.get("data", {}).get(k) for k in ("content_sha256", "images", "resolution",
                                                                  "channels")},
        "metrics": metrics,
        "inputs": inputs,
        "output": {"name": "images", "dtype": "uint8" if uint8 else "float32",
                   "shape": ["batch", image.channels, image.resolution, image.resolution],
                   "range": "0 to 255" if uint8 else "-1 to 1 (uint8 = round((x + 1) * 127.5))"},
        "opset": opset,
        "provenance": {**record, "statement": describe(record)},
    }


def export_generator(architecture: Architecture, generator: nn.Module, path: Path, card: dict[str, Any],
                     uint8: bool = False, force: bool = False, opset: int = OPSET) -> dict[str, Any]:
    """Write ``path`` and its card (``path`` with .json); return the card with the check and file hash added."""
    check_exportable(architecture)
    path, card_path = Path(path), Path(path).with_suffix(".json")
    taken = [p for p in (path, card_path) if p.exists()]
    if taken and not force:
        raise UsageError(f"{' and '.join(map(str, taken))} already exist{'s' if len(taken) == 1 else ''}; "
                         f"choose another --out or pass --force to replace {'it' if len(taken) == 1 else 'them'}.")
    onnx = require("onnx")
    require("onnxscript")
    ort = require("onnxruntime")
    module = Exported(architecture.onnx_generator(generator.eval()), uint8).eval()
    names = architecture.onnx_inputs()
    inputs = example_inputs(architecture, 3)
    batch = torch.export.Dim("batch", min=1)
    # forward(*inputs) is one variadic parameter, so the shapes are one tuple inside the tuple.
    shapes = (tuple({0: batch} if name != "truncation" else None for name in names),)
    try:  # the exporter reports its progress and notes on stdout and as warnings: not the user's business
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(module, inputs, input_names=list(names), output_names=["images"],
                                        dynamic_shapes=shapes, opset_version=opset, dynamo=True, verbose=False)
    except Exception as exc:  # the plugin declared support, but its generator does not trace
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PluginError(f"Architecture '{architecture.kind}' declares ONNX export support, but its generator "
                          f"did not export: {type(exc).__name__}: {first}. This is a bug in the plugin.") from None
    proto = program.model_proto
    for key, value in card.items():
        proto.metadata_props.add(key=key, value=json.dumps(value))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        onnx.save(proto, str(tmp))
        difference = _compare_with_torch(ort, tmp, module, names, architecture, uint8)
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
        tmp.replace(path)  # atomic: a half-written or wrong file never sits under the name
    finally:
        tmp.unlink(missing_ok=True)
    card = {**card, "file": path.name, "sha256": digest,
            "checked": {"max_abs_difference": difference, "against": "PyTorch, 5 latents at batch 1 and 4",
                        "tolerance": TOLERANCE, "runtime": f"onnxruntime {ort.__version__}"}}
    write_json(card_path, card)
    return card


@torch.no_grad()
def _compare_with_torch(ort, path: Path, module: nn.Module, names: tuple[str, ...], architecture: Architecture,
                        uint8: bool) -> float:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for n in (1, 4):
        inputs = example_inputs(architecture, n, seed=n)
        try:
            ours = session.run(None, {name: x.numpy() for name, x in zip(names, inputs)})[0]
        except Exception as exc:  # e.g. a batch size the exporter fixed because the code made it a constant
            raise PluginError(f"The exported '{architecture.kind}' generator does not run at batch size {n} in "
                              f"onnxruntime ({type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}); "
                              f"nothing was written. Its generator likely turns the batch size into a Python "
                              f"number (len(z)); this is a bug in the plugin.") from None
        theirs = module(*inputs).numpy()
        worst = max(worst, float(np.abs(ours.astype(np.float64) - theirs.astype(np.float64)).max()))
    limit = 1.0 if uint8 else TOLERANCE  # uint8: rounding may differ by one level where a value sits on .5
    if worst > limit:
        raise PluginError(f"The exported '{architecture.kind}' generator disagrees with PyTorch by up to {worst:.3g} "
                          f"(more than {limit}); nothing was written. This is a bug in the plugin or the exporter.")
    return worst


class OnnxGenerator:
    """An exported generator, run with onnxruntime; its card read from the file's metadata."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise UsageError(f"ONNX file '{self.path}' does not exist.")
        ort = require("onnxruntime")
        try:
            self.session = ort.InferenceSession(str(self.path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own types for damaged files
            raise UsageError(f"'{self.path}' cannot be loaded as an ONNX model ({type(exc).__name__}: "
                             f"{str(exc)[:200]}).") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        try:
            self.card = {k: json.loads(v) for k, v in meta.items()}
        except ValueError:
            self.card = {}
        if self.card.get("format") != CARD_FORMAT:
            raise UsageError(f"'{self.path}' was not exported by `ganzoo export-onnx` (its metadata has no "
                             f"{CARD_FORMAT} card), so ganzoo does not know its inputs; run it with onnxruntime "
                             f"directly.")
        self.inputs = [i["name"] for i in self.card["inputs"]]
        self.z_dim = int(self.card["inputs"][0]["shape"][1])
        self.class_names = tuple(self.card["inputs"][1]["classes"]) if "labels" in self.inputs else ()

    def labels_for(self, value: Optional[str], count: int) -> Optional[torch.Tensor]:
        """Labels for ``--class NAME|INDEX`` (None: classes drawn at random, as ganzoo generate does)."""
        if value is None:
            return None
        if not self.class_names:
            raise UsageError(f"--class {value}: '{self.path}' is not class-conditional (it has no labels input).")
        return labels_of_class(self.class_names, value, count, "this generator")

    def batches(self, count: int, seed: int, batch_size: int = 64, labels: Optional[torch.Tensor] = None,
                truncation: Optional[float] = None) -> Iterator[tuple[int, torch.Tensor, Optional[torch.Tensor]]]:
        """(first index, uint8 images, labels) batches, latents drawn as ``ganzoo generate`` draws them.
        Options are checked now, before the first batch is asked for (and any file written)."""
        if truncation is not None and "truncation" not in self.inputs:
            raise UsageError(f"--truncation: '{self.path}' has no truncation input (inputs: "
                             f"{', '.join(self.inputs)}).")
        if truncation is not None and not 0.0 <= truncation <= 1.0:
            raise UsageError(f"--truncation {truncation}: must be between 0 and 1.")
        rng = torch.Generator().manual_seed(seed)
        z_all = torch.randn(count, self.z_dim, generator=rng)
        if "labels" in self.inputs and labels is None:
            labels = torch.randint(0, len(self.class_names), (count,), generator=rng)
        return self._run(z_all, labels, batch_size, 1.0 if truncation is None else truncation)

    def _run(self, z_all: torch.Tensor, labels: Optional[torch.Tensor], batch_size: int, truncation: float):
        for start in range(0, len(z_all), batch_size):
            end = min(start + batch_size, len(z_all))
            feed = {"z": z_all[start:end].numpy()}
            if "labels" in self.inputs:
                feed["labels"] = labels[start:end].numpy()
            if "truncation" in self.inputs:
                feed["truncation"] = np.array(truncation, dtype=np.float32)
            images = torch.from_numpy(self.session.run(None, feed)[0])
            if images.dtype != torch.uint8:
                images = to_uint8_images(images)
            yield start, images, (labels[start:end] if labels is not None else None)
