"""The Inverter base and what it works with: a run as an inverter sees it, and what it returns."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Optional

import torch
from torch import nn

from ganzoo.api.architecture import Architecture
from ganzoo.api.config import PluginConfig
from ganzoo.api.data import ImageData, ImageSpec
from ganzoo.errors import GanzooError


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
