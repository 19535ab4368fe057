"""``domain``: a small CNN trained on the labelled real data, for images Inception never saw.

``ganzoo features train domain SOURCE`` trains it to classify the real images
(SOURCE: a recipe, a run directory or a dataset spec, as ``ganzoo fid`` takes)
and caches it under ``$GANZOO_CACHE/features/domain`` (default
``~/.cache/ganzoo/features/domain``), keyed by the data's content SHA-256 and the
training options. Evaluating against that same data then finds it by itself;
``weights: PATH`` names a trained file explicitly. No download, ever.

The features are the 8 x width channels of the last convolution, averaged over
space. Numbers in this space are labelled as such and are not comparable to
Inception FIDs, nor across differently trained domain models (the weights'
hash is part of every protocol).
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from pydantic import Field
from safetensors.torch import load_file, safe_open, save_file
from torch import nn
from torch.nn import functional as F

from ganzoo.api import FeatureExtractor, ImageData, PluginConfig
from ganzoo.metrics import InputError, cache_root

FORMAT = "ganzoo-domain-1"
TRAINING_FIELDS = ("width", "epochs", "batch_size", "lr", "seed", "max_images")


class DomainConfig(PluginConfig):
    weights: Optional[Path] = Field(None, description="A model trained by `ganzoo features train domain`; default: "
                                                      "the one trained on the reference data (found by its hash).")
    width: int = Field(16, ge=4, le=128, description="Channels of the first convolution; features have 8 x width.")
    epochs: int = Field(2, ge=1, le=100, description="Training passes over the data.")
    batch_size: int = Field(128, ge=8, description="Training batch size.")
    lr: float = Field(2e-3, gt=0, description="Adam learning rate.")
    seed: int = Field(0, ge=0, description="Seeds the initial weights, the held-out split and the data order.")
    max_images: Optional[int] = Field(None, ge=10, description="Train on at most this many images (a seeded subset).")


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class DomainNet(nn.Module):
    """Four 3x3 convolutions (the last three halve the size), global average pooling, a linear classifier."""

    def __init__(self, channels: int, classes: int, width: int):
        super().__init__()
        self.features = nn.Sequential(_block(channels, width, 1), _block(width, 2 * width, 2),
                                      _block(2 * width, 4 * width, 2), _block(4 * width, 8 * width, 2),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(8 * width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def _to_input(images: torch.Tensor, channels: int) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float in [-1, 1] with the model's channel count (ITU-R 601 luma for RGB -> grey)."""
    x = images.float()
    if x.shape[1] == 3 and channels == 1:
        x = (x * torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
    elif x.shape[1] == 1 and channels == 3:
        x = x.expand(-1, 3, -1, -1)
    return x / 127.5 - 1


def training_digest(config: DomainConfig) -> str:
    options = {k: getattr(config, k) for k in TRAINING_FIELDS}
    return hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()[:8]


def model_dir() -> Path:
    return cache_root() / "features" / "domain"


def model_path(content_sha256: str, config: DomainConfig) -> Path:
    return model_dir() / f"{content_sha256[:16]}-{training_digest(config)}.safetensors"


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class DomainExtractor(FeatureExtractor):
    __doc__ = __doc__
    kind = "domain"
    description = "Small CNN trained on the labelled real data (`ganzoo features train domain`); offline."
    space = "domain CNN"
    Config = DomainConfig
    trainable = True

    def __init__(self, config: DomainConfig, device: torch.device | str = "cpu"):
        super().__init__(config, device)
        self.dims = 8 * config.width

    # -------------------------------------------------------------- loading
    def load(self, reference: Optional[ImageData] = None) -> None:
        config: DomainConfig = self.config
        if config.weights is not None:
            path = config.weights.expanduser()
            if not path.is_file():
                raise InputError(f"The domain model '{path}' given by the 'weights' option does not exist. Train "
                                  f"one with `ganzoo features train domain SOURCE`; it prints where it is saved.")
        elif reference is not None:
            path = model_path(reference.content_hash(), config)
            if not path.is_file():
                r = reference.images.shape[-1]
                raise InputError(
                    f"No domain extractor has been trained on this data yet ({len(reference):,} images {r}x{r}, "
                    f"content SHA-256 {reference.content_hash()[:12]}..., training options {training_digest(config)}). "
                    f"Train it once with `ganzoo features train domain SOURCE`, where SOURCE is the recipe, run "
                    f"directory or dataset spec this data comes from (it needs labels; a minute or a few on a CPU); "
                    f"it is then cached in '{model_dir()}'. Or give a trained model with the 'weights' option.")
        else:
            raise InputError("The domain extractor needs to know which trained model to use: give the 'weights' "
                              "option (a file from `ganzoo features train domain`), or compare against a dataset, "
                              "recipe or run directory, whose data it then looks its model up by.")
        self._read(path)

    def _read(self, path: Path) -> None:
        try:
            with safe_open(str(path), "pt") as handle:
                meta = handle.metadata() or {}
            state = load_file(str(path))
        except Exception as exc:
            raise InputError(f"'{path}' cannot be read as a domain model ({type(exc).__name__}: {exc}).") from None
        if meta.get("format") != FORMAT:
            raise InputError(f"'{path}' is not a domain model written by `ganzoo features train domain` "
                              f"(format {meta.get('format')!r}, expected {FORMAT!r}).")
        self.info = {k: json.loads(v) for k, v in meta.items() if k != "format"}
        self.net = DomainNet(self.info["channels"], len(self.info["class_names"]), self.info["width"])
        self.net.load_state_dict(state)
        self.net.eval().to(self.device)
        self.dims = 8 * self.info["width"]
        self.path, self.sha256 = path, _file_sha256(path)

    def protocol(self) -> dict[str, Any]:
        return {"weights_sha256": self.sha256, "trained_on_sha256": self.info["content_sha256"],
                "input": f"{self.info['resolution']}x{self.info['resolution']}, {self.info['channels']} channel(s), "
                         f"uint8/127.5-1",
                "held_out_accuracy": self.info["held_out_accuracy"], "classes": len(self.info["class_names"]),
                "comparable_to_published": False}

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        r = self.info["resolution"]
        if tuple(images.shape[-2:]) != (r, r):
            raise InputError(f"This domain extractor was trained on {r}x{r} images but got "
                             f"{images.shape[-1]}x{images.shape[-2]} ones; evaluate images at the resolution of the "
                             f"data it was trained on, or train one on data at this resolution.")
        x = _to_input(images.to(self.device), self.info["channels"])
        return self.net.features(x).float().cpu()

    # -------------------------------------------------------------- training
    def train(self, data: ImageData, log: Callable[[str], None] = print) -> dict[str, Any]:
        config: DomainConfig = self.config
        if data.labels is None or len(data.class_names) < 2:
            raise InputError("The domain extractor learns to tell the real images' classes apart, but this data "
                             "has no labels (or a single class). Use labelled data: a folder with one sub-folder "
                             "per class, or a dataset with classes such as catalogue or fashion-mnist.")
        start = time.perf_counter()
        content = data.content_hash()
        g = torch.Generator().manual_seed(config.seed)
        order = torch.randperm(len(data), generator=g)
        if config.max_images:
            order = order[:config.max_images]
        held = max(1, len(order) // 10)
        test_idx, train_idx = order[:held], order[held:]
        torch.manual_seed(config.seed)
        net = DomainNet(data.images.shape[1], len(data.class_names), config.width).to(self.device)
        optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
        steps = config.epochs * ((len(train_idx) + config.batch_size - 1) // config.batch_size)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=steps)
        channels = data.images.shape[1]
        for epoch in range(config.epochs):
            net.train()
            perm = train_idx[torch.randperm(len(train_idx), generator=g)]
            total, seen = 0.0, 0
            for s in range(0, len(perm), config.batch_size):
                idx = perm[s:s + config.batch_size]
                x = _to_input(data.images[idx].to(self.device), channels)
                flip = torch.rand(len(idx), generator=g) < 0.5  # mirrored products are the same products
                x = torch.where(flip.to(self.device).view(-1, 1, 1, 1), x.flip(-1), x)
                loss = F.cross_entropy(net(x), data.labels[idx].to(self.device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                total, seen = total + loss.item() * len(idx), seen + len(idx)
            accuracy = self._accuracy(net, data, test_idx)
            log(f"epoch {epoch + 1}/{config.epochs}: loss {total / seen:.3f}, held-out accuracy {accuracy:.3f}")
        path = model_path(content, config)
        meta = {"format": FORMAT, "width": json.dumps(config.width), "channels": json.dumps(channels),
                "resolution": json.dumps(data.images.shape[-1]), "class_names": json.dumps(list(data.class_names)),
                "content_sha256": json.dumps(content), "held_out_accuracy": json.dumps(round(accuracy, 4)),
                "images": json.dumps(len(train_idx)),
                "options": json.dumps({k: getattr(config, k) for k in TRAINING_FIELDS})}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        save_file({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}, str(tmp), metadata=meta)
        tmp.replace(path)  # atomic: a half-written model is never picked up
        return {"path": str(path), "held_out_accuracy": accuracy, "images": len(train_idx),
                "seconds": time.perf_counter() - start}

    @torch.no_grad()
    def _accuracy(self, net: nn.Module, data: ImageData, idx: torch.Tensor) -> float:
        net.eval()
        correct = 0
        for s in range(0, len(idx), 512):
            batch = idx[s:s + 512]
            logits = net(_to_input(data.images[batch].to(self.device), data.images.shape[1]))
            correct += (logits.argmax(1).cpu() == data.labels[batch]).sum().item()
        return correct / len(idx)
