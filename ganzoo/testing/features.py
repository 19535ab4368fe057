"""The contract check for feature extractors."""
from __future__ import annotations

import json
from typing import Any, Iterable

from ganzoo.testing.shared import check_class, tiny_data


def check_feature_extractor(cls: type, config: dict[str, Any] | None = None,
                            resolutions: Iterable[int] = (16, 32)) -> None:
    """Assert that ``cls`` gives finite ``(N, dims)`` features, per image (not per batch), with a JSON protocol,
    when it names a ``classifier``, finite ``(N, classes)`` class logits, and when it is ``perceptual``,
    differentiable per-image ``feature_maps`` (since plugin API 1.4).

    ``load`` gets a tiny labelled reference set; a trainable extractor's config
    should point at weights it can load without training.
    """
    import torch

    cfg = check_class(cls, "FeatureExtractor", config)
    extractor = cls(cfg, "cpu")
    extractor.load(tiny_data(16, 3, 2))
    assert isinstance(extractor.dims, int) and extractor.dims > 0, \
        f"{cls.kind}: dims must be a positive int after load()"
    protocol = extractor.protocol()
    json.dumps(protocol)  # it keys a cache and is written next to every number
    assert isinstance(protocol.get("comparable_to_published"), bool), \
        f"{cls.kind}: protocol() must include comparable_to_published (True or False)"
    for resolution in resolutions:
        for channels in (1, 3):
            images = tiny_data(resolution, channels, 0, n=6).images
            where = f"{cls.kind} at {resolution}px, {channels} channel(s)"
            features = extractor(images)
            assert isinstance(features, torch.Tensor) and features.is_floating_point(), \
                f"{where}: features must be a float tensor"
            assert features.shape == (6, extractor.dims), \
                f"{where}: features {tuple(features.shape)}, expected (6, {extractor.dims})"
            assert torch.isfinite(features).all(), f"{where}: features are not finite"
            one_by_one = torch.cat([extractor(images[i:i + 1]) for i in range(len(images))])
            assert torch.allclose(one_by_one, features, rtol=1e-4, atol=1e-5), \
                f"{where}: an image's features depend on the rest of its batch"
    if cls.classifier:  # plugin API 1.1: the classifier behind the Inception Score
        logits = extractor.class_logits(features)
        assert isinstance(logits, torch.Tensor) and logits.is_floating_point() and logits.ndim == 2, \
            f"{cls.kind}: class_logits must return a float tensor (N, classes)"
        assert len(logits) == len(features) and logits.shape[1] >= 2, \
            f"{cls.kind}: class_logits gave {tuple(logits.shape)} for {len(features)} feature vectors"
        assert torch.isfinite(logits).all(), f"{cls.kind}: class logits are not finite"
    if cls.perceptual:  # plugin API 1.4: feature maps for a perceptual loss (ganzoo project --features)
        pixels = (tiny_data(16, 3, 0, n=3).images.float() / 127.5 - 1).requires_grad_(True)
        maps = extractor.feature_maps(pixels)
        assert maps and all(isinstance(m, torch.Tensor) and m.ndim == 4 and len(m) == 3 for m in maps), \
            f"{cls.kind}: feature_maps must return a non-empty list of (N, C, H, W) tensors"
        sum(m.square().mean() for m in maps).backward()
        assert pixels.grad is not None and torch.isfinite(pixels.grad).all() and pixels.grad.abs().sum() > 0, \
            f"{cls.kind}: feature_maps must be differentiable with respect to the images"
        alone = extractor.feature_maps(pixels[:1].detach())
        assert all(torch.allclose(a, m[:1].detach(), rtol=1e-4, atol=1e-5) for a, m in zip(alone, maps)), \
            f"{cls.kind}: an image's feature maps depend on the rest of its batch"
