"""The Architecture base: networks, losses and the update schedule (phases) the engine runs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Literal, Mapping, Optional

import torch
from torch import nn

from ganzoo.api.config import PluginConfig
from ganzoo.api.data import ImageSpec


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

    def style_resolutions(self, generator: nn.Module) -> Optional[list[int]]:
        """The output resolution (px) each w+ index styles, in w+ order (``num_ws`` entries), so that style mixing
        can take single resolutions (``--layers 32px,64px``) besides the groups. None (the default): the groups
        only. Since plugin API 1.5."""
        return None

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
