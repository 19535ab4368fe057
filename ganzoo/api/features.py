"""The FeatureExtractor base: images to feature vectors for the metrics, and feature maps for projection."""
from __future__ import annotations

from typing import Any, Callable, ClassVar, Optional

import torch

from ganzoo.api.config import PluginConfig
from ganzoo.api.data import ImageData
from ganzoo.errors import PluginError


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
