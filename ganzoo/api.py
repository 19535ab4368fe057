"""The public API: what a plugin may subclass, call or import. This docstring is its one statement.

A plugin (ours in ``plugins/`` or a third party's) imports from these modules and
nothing else; ``tests/test_public_api.py`` pins each one's names and checks that
first-party plugins keep to them:

- ``ganzoo.api`` (this module, its ``__all__``): base classes for architectures,
  datasets, post-processors, feature extractors and inverters, their data types, ``hookimpl``
  and the errors a plugin raises;
- ``ganzoo.host.hookspecs``: the hooks themselves (``ganzoo_register_*``), typed;
- ``ganzoo.losses``: GAN losses and the usual phase bodies (``discriminator_step``...);
- ``ganzoo.nn``: building blocks (conv stages, spectral norm, projection head...);
- ``ganzoo.errors``: ``GanzooError`` and the errors with exit code 2;
- ``ganzoo.metrics`` (its ``__all__``): scores, feature statistics, ``InputError``,
  ``cache_root`` for files a feature extractor keeps;
- ``ganzoo.provenance``: the machine-readable AI-generated record (embed and read);
- ``ganzoo.fileio``: atomic file writes (temporary file, then rename), ``read_safetensors`` (tensors and
  metadata) and ``parse_yaml`` for users' YAML;
- ``ganzoo.datacache`` (its ``__all__``): the decoded-data cache a dataset uses as ``Dataset.cache``
  (since 1.4);
- ``ganzoo.testing``: contract checks for a plugin's own tests (needs pytest).

Everything else (host, recipe, engine, export, compare, cli, the run modules) may
change between minor releases. See docs/plugins/architecture.md for a worked example.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Literal, Mapping, Optional

import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from ganzoo import PLUGIN_API_VERSION
from ganzoo.errors import GanzooError, GanzooWarning, PluginError, RecipeError
from ganzoo.host.hookspecs import hookimpl

__all__ = [
    "PLUGIN_API_VERSION", "hookimpl", "PluginConfig", "ImageSpec", "ImageData", "DataCheck", "Dataset", "Architecture",
    "Phase", "PhaseInputs", "OptimizerSettings", "PostProcessor", "FeatureExtractor", "GanzooError",
    "GanzooWarning", "PluginError", "RecipeError", "to_float_images", "to_uint8_images", "Inverter", "InversionRun",
    "Inversion",
]

# Plugin API 1.0 had these here; they live in ganzoo.provenance (image-format code the contract need not load).
_MOVED_TO_PROVENANCE = ("provenance_record", "read_provenance", "Provenance", "TRAINED_ALGORITHMIC_MEDIA")


def __getattr__(name: str) -> Any:
    if name in _MOVED_TO_PROVENANCE:
        from ganzoo import provenance
        return getattr(provenance, name)
    raise AttributeError(f"module 'ganzoo.api' has no attribute '{name}'")


class PluginConfig(BaseModel):
    """Base class of a plugin's own config: unknown keys are an error, not ignored."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


# --------------------------------------------------------------------------- data

@dataclass(frozen=True)
class ImageSpec:
    """What the architecture is built for: shape of the images and their classes."""

    resolution: int
    channels: int
    class_names: tuple[str, ...] = ()

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


@dataclass
class ImageData:
    """A whole dataset: uint8 images (N, C, H, W) and optional int64 labels (N,).

    ``images`` is in memory, or, for data larger than the memory share a recipe allows, a
    tensor over a memory-mapped file. Since plugin API 1.4 such data names that file in
    ``file`` (raw uint8 in the images' C order, from byte 0), and training then reads each
    batch from the file instead of through the mapping, so its memory stays bounded.
    ``known_hash`` (since 1.4): ``content_hash()`` when the source already computed it (the
    decoded-data cache stores it); leave it unset otherwise.
    """

    images: torch.Tensor
    labels: Optional[torch.Tensor] = None
    class_names: tuple[str, ...] = ()
    file: Optional[Path] = field(default=None, compare=False)
    known_hash: Optional[str] = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels is not None:
            if self.labels.shape != (len(self.images),):
                raise ValueError("labels must have one entry per image")
            self.labels = self.labels.to(torch.int64)
            if not self.class_names:
                raise ValueError("labelled data needs class_names")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def spec(self) -> ImageSpec:
        class_names = self.class_names if self.labels is not None else ()
        return ImageSpec(self.images.shape[-1], self.images.shape[1], class_names)

    def content_hash(self) -> str:
        """SHA-256 over pixels, labels and class names: changes whenever any of them does."""
        if self.known_hash is None:
            digest = hashlib.sha256()
            digest.update(repr((tuple(self.images.shape), self.class_names)).encode())
            per_chunk = max(1, 2**26 // max(1, self.images[0].numel()) if len(self.images) else 1)  # ~64 MB at a time
            for start in range(0, len(self.images), per_chunk):
                digest.update(memoryview(self.images[start:start + per_chunk].contiguous().numpy()).cast("B"))
            if self.labels is not None:
                digest.update(self.labels.contiguous().numpy().tobytes())
            self.known_hash = digest.hexdigest()
        return self.known_hash


@dataclass(frozen=True)
class DataCheck:
    """What a dataset can say about itself without decoding its images (``Dataset.check``, since plugin API 1.3).

    ``size`` is the number of images found (decoding may still skip unreadable
    files), ``channels`` what ``load`` will return (1 or 3), ``class_names``
    the classes when the data is labelled, ``notes`` what was and was not checked,
    in a few words each (printed by ``ganzoo validate``).
    """

    size: int
    channels: int
    class_names: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def spec(self, resolution: int) -> ImageSpec:
        return ImageSpec(resolution, self.channels, tuple(self.class_names))


class Dataset:
    """A source of training images. Subclass, set ``kind`` and ``Config``, implement ``load``.

    ``load`` returns every image at ``resolution`` x ``resolution`` as uint8. The host
    converts channels afterwards when the recipe asks for a different count.
    ``check`` (optional, since plugin API 1.3) tells the same shape, size and classes
    cheaply, for ``ganzoo validate``: find the files, read headers, decode nothing.
    """

    kind: ClassVar[str]
    Config: ClassVar[type[PluginConfig]] = PluginConfig
    description: ClassVar[str] = ""

    def __init__(self, config: PluginConfig, resolution: int):
        self.config = config
        self.resolution = resolution

    @property
    def cache(self) -> Any:
        """The decoded-data cache to use in ``load`` (a ``ganzoo.datacache.DataCache``, since plugin API 1.4).

        The host sets it from the recipe (``data.cache``, ``data.memory_share``, ``data.decode_workers``)
        before calling ``load``; a dataset made directly gets the default one (``$GANZOO_DATA_CACHE``
        or ``~/.cache/ganzoo/datasets``, half the memory)."""
        if getattr(self, "_cache", None) is None:
            from ganzoo.datacache import DataCache
            self._cache = DataCache()
        return self._cache

    @cache.setter
    def cache(self, value: Any) -> None:
        self._cache = value

    def load(self) -> ImageData:  # pragma: no cover - interface
        raise NotImplementedError

    def check(self) -> Optional[DataCheck]:
        """Size, channels and classes without decoding, raising ``GanzooError`` for what ``load`` would refuse
        (missing files, an empty folder, a bad resolution). None (the default): no cheap check, so
        ``ganzoo validate`` calls ``load`` instead."""
        return None

    def prepare_image(self, path: Path) -> Optional[torch.Tensor]:
        """One image file made exactly as ``load`` makes a training image (size, fit, background): uint8 (C, R, R).

        Since plugin API 1.3, for ``ganzoo project`` (real photos into a run's latent space). None (the
        default): the dataset reads no files, and the host pads the image onto white, keeping its aspect."""
        return None


def to_float_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1], the range every ganzoo generator outputs."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8_images(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255], rounding to nearest (as image writers do)."""
    return images.detach().float().add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8)


# ----------------------------------------------------------------- architectures

@dataclass(frozen=True)
class OptimizerSettings:
    """Adam(W) settings an architecture suggests; a recipe's ``train.optimizer`` overrides them."""

    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    name: Literal["adam", "adamw"] = "adam"


@dataclass
class PhaseInputs:
    """What a phase's loss function gets from the engine for one update.

    ``real``/``real_labels`` are a fresh batch from the dataset (float in [-1, 1],
    on the device), ``z``/``fake_labels`` fresh latents and labels to generate
    from. ``augment`` is the engine's differentiable augmentation (identity when
    off): apply it to every image the discriminator sees, real and fake alike.

    ``report_real_logits`` (since plugin API 1.3): a discriminator loss calls it once per
    real batch with the discriminator's outputs on the augmented reals, (N,), which the
    adaptive augmentation (``train.augment: ada``) steers by; it does nothing otherwise.
    ``losses.discriminator_step`` calls it.
    """

    generator: nn.Module
    discriminator: nn.Module
    real: Optional[torch.Tensor]
    real_labels: Optional[torch.Tensor]
    z: torch.Tensor
    fake_labels: Optional[torch.Tensor]
    step: int
    augment: Callable[[torch.Tensor], torch.Tensor] = lambda x: x
    report_real_logits: Callable[[torch.Tensor], None] = lambda logits: None


LossFn = Callable[[PhaseInputs], Mapping[str, torch.Tensor]]


@dataclass(frozen=True)
class Phase:
    """One optimiser update in the training schedule.

    ``loss`` returns a mapping with a scalar ``"loss"`` to minimise; its other
    entries are detached and logged as ``<name>/<key>``. ``trains`` says which
    network's optimiser steps. The phase runs on steps where ``step % every == 0``
    (lazy regularisation) and then ``repeats`` times in a row, each time with a
    fresh real batch (e.g. 5 critic updates per generator update).
    """

    name: str
    trains: Literal["generator", "discriminator"]
    loss: LossFn
    every: int = 1
    repeats: int = 1
    uses_real: bool = True


class Architecture:
    """A GAN: its networks, losses and update schedule. The engine owns the rest.

    Subclass, set ``kind`` and ``Config`` (a :class:`PluginConfig` with a ``z_dim``
    field or property), and implement ``build_generator``, ``build_discriminator``
    and ``phases``. The generator maps ``(z, labels)`` to images in [-1, 1] of
    shape (N, channels, resolution, resolution); the discriminator maps
    ``(images, labels)`` to one logit per image (labels are None unless conditional).

    Class-conditional generation: set ``supports_conditioning = True`` and give the
    Config a ``conditional: bool`` field. When the recipe sets it, the data must be
    labelled (a clear recipe error otherwise) and both networks receive labels.

    ONNX export (``ganzoo export-onnx``, since plugin API 1.2): set ``onnx_exportable = True``
    when ``onnx_generator`` traces with ``torch.export`` (no Python branches on tensor values,
    no randomness in eval mode). Its inputs are ``onnx_inputs()``: ``z``, then ``labels`` when
    conditional, then ``truncation`` when it is a sampling option. The default wraps
    ``generate``; override ``onnx_generator`` when that needs plain floats (see StyleGAN-lite).

    FreezeD (``train.freeze_discriminator``, since plugin API 1.3): override
    ``discriminator_blocks`` to name the discriminator's blocks, input to output.
    """

    kind: ClassVar[str]
    Config: ClassVar[type[PluginConfig]] = PluginConfig
    description: ClassVar[str] = ""
    supports_conditioning: ClassVar[bool] = False
    sampling_options: ClassVar[tuple[str, ...]] = ()  # keyword options ``generate`` accepts, e.g. ("truncation",)
    onnx_exportable: ClassVar[bool] = False  # since 1.2: onnx_generator() exports (see the class docstring)

    def __init__(self, config: PluginConfig, image: ImageSpec):
        self.config = config
        self.image = image
        if self.wants_conditioning:
            if not self.supports_conditioning:
                raise ValueError(f"'{self.kind}' does not support class-conditional generation; set conditional: false")
            if not image.num_classes:
                raise ValueError("conditional: true needs a labelled dataset, but this data has no class labels; "
                                 "use labelled data (e.g. class sub-folders with the folder dataset) or set "
                                 "conditional: false")
        self.check_image_spec(image)

    # -- things a subclass overrides
    def check_image_spec(self, image: ImageSpec) -> None:
        """Raise ``ValueError`` naming what is supported when ``image`` is not."""

    @property
    def z_dim(self) -> int:
        return int(getattr(self.config, "z_dim"))

    @property
    def wants_conditioning(self) -> bool:
        """The recipe asks for class-conditional generation (the config's ``conditional`` field)."""
        return bool(getattr(self.config, "conditional", False))

    @property
    def conditional(self) -> bool:
        """True when the networks take class labels."""
        return self.wants_conditioning and self.image.num_classes > 0

    def build_generator(self) -> nn.Module:  # pragma: no cover - interface
        raise NotImplementedError

    def build_discriminator(self) -> nn.Module:  # pragma: no cover - interface
        raise NotImplementedError

    def phases(self) -> list[Phase]:  # pragma: no cover - interface
        raise NotImplementedError

    def optimizer_settings(self) -> dict[str, OptimizerSettings]:
        """Defaults for the ``generator`` and ``discriminator`` optimisers."""
        return {"generator": OptimizerSettings(), "discriminator": OptimizerSettings()}

    # -- FreezeD (since plugin API 1.3)
    def discriminator_blocks(self, discriminator: nn.Module) -> Optional[list[nn.Module]]:
        """The blocks of ``discriminator`` (built by ``build_discriminator``), input to output, for FreezeD
        (Mo et al. 2020, https://arxiv.org/abs/2002.10964): ``train.freeze_discriminator: N`` keeps the
        parameters of the first N fixed. Each block is a submodule (or a container of submodules) of
        ``discriminator``; leave the output head out, so that it always trains. None (the default): this
        architecture does not name its blocks, and a recipe that freezes some is refused."""
        return None

    # -- sampling, shared by training, grids and export
    def sample_latents(self, n: int, device: torch.device | str = "cpu",
                       generator: Optional[torch.Generator] = None) -> torch.Tensor:
        return torch.randn(n, self.z_dim, device=device, generator=generator)

    def sample_labels(self, n: int, device: torch.device | str = "cpu",
                      generator: Optional[torch.Generator] = None) -> Optional[torch.Tensor]:
        if not self.conditional:
            return None
        return torch.randint(0, self.image.num_classes, (n,), device=device, generator=generator)

    def generate(self, generator: nn.Module, z: torch.Tensor, labels: Optional[torch.Tensor] = None,
                 **options: Any) -> torch.Tensor:
        """Images in [-1, 1] from latents; ``options`` are sampling knobs (e.g. truncation)."""
        return generator(z, labels)

    # -- ONNX export (since plugin API 1.2)
    def onnx_inputs(self) -> tuple[str, ...]:
        """The exported generator's inputs, in order: z (float32 (N, z_dim)), labels (int64 (N,)) when
        conditional, truncation (a float32 scalar) when it is a sampling option."""
        names = ["z"]
        if self.conditional:
            names.append("labels")
        if "truncation" in self.sampling_options:
            names.append("truncation")
        return tuple(names)

    def onnx_generator(self, generator: nn.Module) -> nn.Module:
        """A module taking the ``onnx_inputs()`` tensors positionally and returning images in [-1, 1],
        an image depending on its inputs only (eval mode: fixed noise). Default: ``generate``."""
        return _GenerateForExport(self, generator)

    # -- latent spaces (since plugin API 1.3): projection, style mixing, editing
    def latent_spaces(self) -> tuple[str, ...]:
        """The latent spaces images can be inverted into and generated from: ``"z"`` always; ``"w"`` (one
        style for every layer) and ``"w+"`` (one per layer) when ``mapping`` and ``synthesis`` are implemented."""
        return ("z",)

    def _no_style_space(self, member: str) -> NotImplementedError:
        return NotImplementedError(
            f"'{self.kind}' has no style (W) latent space: Architecture.{member} is not implemented (plugin API 1.3), "
            f"so only z is available (latent_spaces() is {self.latent_spaces()}).")

    def mapping(self, generator: nn.Module, z: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        """z (N, z_dim) -> w (N, w_dim), untruncated, as ``generate`` computes it."""
        raise self._no_style_space("mapping")

    def synthesis(self, generator: nn.Module, w_plus: torch.Tensor,
                  labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        """w+ (N, num_ws, w_dim), one style per layer -> images (N, C, H, W) in [-1, 1], as ``generate`` makes
        them (``generate(z)`` equals ``synthesis(mapping(z)`` repeated ``num_ws`` times``)``)."""
        raise self._no_style_space("synthesis")

    def num_ws(self, generator: nn.Module) -> int:
        """How many styles ``synthesis`` takes (the middle size of w+)."""
        raise self._no_style_space("num_ws")

    def style_groups(self, generator: nn.Module) -> dict[str, range]:
        """``coarse``/``middle``/``fine``: the w+ indices of each layer group, for style mixing."""
        raise self._no_style_space("style_groups")

    def style_weights(self, generator: nn.Module) -> torch.Tensor:
        """The style-modulation affine weights of every layer, concatenated: rows are the styles' output features,
        columns the w_dim inputs (what SeFa factorises, Shen & Zhou 2021; ``ganzoo directions``). An architecture
        without a w space may return its first layer's weights acting on z instead, rows its outputs, columns
        the z_dim inputs (the paper's generalisation): its directions then act on z."""
        raise self._no_style_space("style_weights")

    @torch.no_grad()
    def w_avg(self, generator: nn.Module) -> torch.Tensor:
        """The mean w (w_dim,), the truncation centre and projection start. Default: the mean of ``mapping`` over
        10,000 z from a fixed seed; override when the generator tracks it."""
        rng = torch.Generator().manual_seed(0)
        device = next(generator.parameters()).device
        z = self.sample_latents(10_000, "cpu", rng)
        labels = self.sample_labels(10_000, "cpu", rng)
        ws = [self.mapping(generator, z[i:i + 1000].to(device),
                           None if labels is None else labels[i:i + 1000].to(device)) for i in range(0, 10_000, 1000)]
        return torch.cat(ws).float().mean(0)


class _GenerateForExport(nn.Module):
    """``Architecture.generate`` as a module with positional tensor inputs, for ``torch.onnx.export``."""

    def __init__(self, architecture: Architecture, generator: nn.Module):
        super().__init__()
        self.generator = generator
        self.architecture = architecture
        self.names = architecture.onnx_inputs()

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        named = dict(zip(self.names, inputs))
        options = {"truncation": named["truncation"]} if "truncation" in named else {}
        return self.architecture.generate(self.generator, named["z"], named.get("labels"), **options)


# ---------------------------------------------------------------- post-processing

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


# ------------------------------------------------------------ feature extractors

class FeatureExtractor:
    """Turns images into feature vectors for FID, KID, precision/recall and the Inception Score (docs/evaluation.md).

    Subclass, set ``kind``, ``Config``, ``description``, ``space`` and ``dims``, and
    implement ``load``, ``protocol`` and ``__call__``. ``__call__`` gets uint8 images
    (N, C, H, W), C being 1 or 3, on the CPU, exactly as they would be written to PNG,
    and returns float features (N, dims) on the CPU. Each image must be treated on
    its own (no batch statistics), so numbers do not depend on the batch size.

    ``protocol()`` returns what identifies the feature space (the weights' SHA-256,
    the input pipeline, ...) as JSON-able values, including
    ``comparable_to_published``: True only when the numbers may be set beside
    published ones. It keys the reference-statistics cache and is recorded next
    to every number.

    Extractors learned from the real data set ``trainable = True`` and implement
    ``train``; ``load`` receives the reference data (when the caller has it) so
    they can find the model trained on it.

    Extractors whose network ends in an image classifier name it in ``classifier``
    (e.g. "Inception-v3 2015-12-05, 1008 classes") and implement ``class_logits``,
    which maps features from ``__call__`` to that classifier's logits; the Inception
    Score is offered only for them. Since plugin API 1.1.

    Extractors whose network can serve as a perceptual loss (``ganzoo project --features KIND``) set
    ``perceptual = True`` and implement ``feature_maps``. Since plugin API 1.4.
    """

    kind: ClassVar[str]
    Config: ClassVar[type[PluginConfig]] = PluginConfig
    description: ClassVar[str] = ""
    space: ClassVar[str] = ""  # the feature space, printed beside every number (e.g. "Inception-v3 pool3")
    trainable: ClassVar[bool] = False
    classifier: ClassVar[str] = ""  # the classifier behind class_logits; empty: none (no Inception Score)
    perceptual: ClassVar[bool] = False  # since 1.4: feature_maps() serves as a perceptual loss
    dims: int = 0

    def __init__(self, config: PluginConfig, device: torch.device | str = "cpu"):
        self.config = config
        self.device = torch.device(device)

    def load(self, reference: Optional[ImageData] = None) -> None:
        """Get ready to extract: find, check or download weights. Raise GanzooError saying what to do."""

    def protocol(self) -> dict[str, Any]:
        """What identifies the feature space; include ``comparable_to_published``."""
        return {"comparable_to_published": False}

    def __call__(self, images: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def train(self, data: ImageData, log: Callable[[str], None] = print) -> dict[str, Any]:
        """Learn the feature space from labelled real data and store it; return a summary (trainable ones only)."""
        raise NotImplementedError(f"feature extractor '{self.kind}' is not trainable")

    def class_logits(self, features: torch.Tensor) -> torch.Tensor:
        """The classifier's logits (N, classes) for features (N, dims) from ``__call__``, on the CPU.

        Only extractors that set ``classifier`` implement it; callers check ``classifier``
        first. Since plugin API 1.1.
        """
        raise PluginError(f"Feature extractor '{self.kind}' does not implement class_logits (plugin API 1.1), so "
                          f"it gives no class predictions and no Inception Score.")

    def feature_maps(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Intermediate feature maps, each (N, C', H', W'), of float images (N, C, H, W) in [-1, 1] on
        ``self.device``, differentiably (no ``inference_mode``), each image on its own: a perceptual space for
        GAN inversion, compared as LPIPS does (``InversionRun.feature_distance``). Only extractors that set
        ``perceptual`` implement it; call ``load`` first. Since plugin API 1.4.
        """
        raise PluginError(f"Feature extractor '{self.kind}' does not implement feature_maps (plugin API 1.4), so it "
                          f"cannot serve as a perceptual loss.")


# --------------------------------------------------------------------- inverters

@dataclass
class InversionRun:
    """A trained run as an inverter sees it (since plugin API 1.3).

    ``generator`` is the run's EMA generator when it kept one, in eval mode, its parameters frozen, on
    ``device``; ``discriminator`` the run's discriminator (eval mode, frozen) or None when the checkpoint
    has none. ``features(images, labels)`` gives feature maps of images in [-1, 1], differentiably: the offline
    perceptual space ``feature_distance`` measures in, named by ``feature_space``. By default they are the
    discriminator's block outputs (``discriminator_blocks``; None when the architecture names none); with
    ``--features KIND`` a trained feature extractor's ``feature_maps`` (``feature_space`` since 1.4).
    ``load_data()`` loads the run's training images, prepared as in training (slow for big datasets; for
    inverters that learn from real images).
    """

    architecture: Architecture
    generator: nn.Module
    device: torch.device
    run_id: Optional[str] = None
    step: int = 0
    path: Optional[Path] = None
    discriminator: Optional[nn.Module] = None
    features: Optional[Callable[[torch.Tensor, Optional[torch.Tensor]], list[torch.Tensor]]] = None
    load_data: Optional[Callable[[], ImageData]] = None
    feature_space: Optional[str] = None  # what ``features`` are, for manifests: "discriminator blocks", ...

    @property
    def image(self) -> ImageSpec:
        return self.architecture.image

    def fingerprint(self) -> str:
        """SHA-256 of the generator's weights and buffers: what a trained inverter checks it is used with."""
        digest = hashlib.sha256()
        for name, tensor in sorted(self.generator.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()

    def feature_distance(self, a: torch.Tensor, b: torch.Tensor,
                         labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Per-image perceptual distance (N,) between images in [-1, 1]: the squared difference of channel-normalised
        feature maps (``features``) averaged over positions and maps (LPIPS's recipe without learned weights).
        Zeros when ``features`` is None."""
        if self.features is None:
            return a.new_zeros(len(a))
        total = a.new_zeros(len(a))
        pairs = list(zip(self.features(a, labels), self.features(b, labels)))
        for fa, fb in pairs:
            fa = fa / (fa.square().sum(1, keepdim=True) + 1e-10).sqrt()
            fb = fb / (fb.square().sum(1, keepdim=True) + 1e-10).sqrt()
            total = total + (fa - fb).square().sum(1).flatten(1).mean(1)
        return total / max(1, len(pairs))


@dataclass
class Inversion:
    """What ``Inverter.invert`` returns: one latent per image in ``space`` ("z", "w" or "w+"), the class labels it
    generated with (None when unconditional), and facts for the manifest (JSON-able: steps, losses, timings)."""

    latents: torch.Tensor
    space: str
    labels: Optional[torch.Tensor] = None
    info: dict[str, Any] = field(default_factory=dict)


class Inverter:
    """Maps images to a generator's latents (GAN inversion; since plugin API 1.3): ``ganzoo project --inverter KIND``.

    Subclass, set ``kind``, ``Config`` and ``description`` and implement ``invert``. It gets the run
    (:class:`InversionRun`), the images as float (N, C, R, R) in [-1, 1] on ``run.device``, already prepared
    exactly as the run's training images were, their class labels (N,) when the generator is conditional, else
    None, and ``progress(done, total)`` to call as work proceeds (any unit). It returns an :class:`Inversion`
    in one of ``run.architecture.latent_spaces()``; the host regenerates the images from it through
    ``generate``/``synthesis`` and writes latents, reconstructions and per-image scores. Images of one call are
    inverted together (a batch of ``--batch-size``); the same images, seed and batch size must give the same
    latents (draw random numbers from torch's global generator, which the host seeds once before the first
    batch). Raise ``GanzooError`` (exit 2 for a ``UsageError``) for what the method cannot do, naming what can.
    """

    kind: ClassVar[str]
    Config: ClassVar[type[PluginConfig]] = PluginConfig
    description: ClassVar[str] = ""
    trainable: ClassVar[bool] = False  # True: `ganzoo encoder train RUN --inverter KIND` calls train() first

    def __init__(self, config: PluginConfig):
        self.config = config

    def trained_file(self, run: InversionRun) -> Path:
        """Where ``train`` writes for ``run`` by default and ``invert`` looks: RUN/inverters/KIND.safetensors."""
        if run.path is None:
            raise GanzooError(f"inverter '{self.kind}' needs the run's folder to find its trained weights; "
                              f"give their path in its config")
        return Path(run.path) / "inverters" / f"{self.kind}.safetensors"

    def train(self, run: InversionRun, out: Path,
              progress: Callable[[int, int], None]) -> dict[str, Any]:  # pragma: no cover - interface
        """Trainable inverters: learn from ``run`` (its generator's samples, maybe ``run.load_data()``), write
        the result to ``out`` atomically (``ganzoo.fileio``) and return a JSON-able summary."""
        raise NotImplementedError(f"inverter '{self.kind}' is not trainable")

    def invert(self, run: InversionRun, images: torch.Tensor, labels: Optional[torch.Tensor],
               progress: Callable[[int, int], None]) -> Inversion:  # pragma: no cover - interface
        raise NotImplementedError
