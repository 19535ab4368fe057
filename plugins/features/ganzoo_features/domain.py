"""``domain``: a small CNN trained on the real data itself, for images Inception never saw.

``ganzoo features train domain SOURCE`` trains it on the real images (SOURCE: a
recipe, a run directory, a dataset spec or a folder of images, as ``ganzoo
fid`` takes; labels help but are not needed) and caches it under
``$GANZOO_CACHE/features/domain`` (default ``~/.cache/ganzoo/features/domain``),
keyed by the data's content SHA-256 and the training options. Evaluating
against that same data then finds it by itself; ``weights: PATH`` names a
trained file explicitly. No download, ever.

It learns to tell every real image from every other (contrastive views that
differ in position and mirroring only, never in colour) and, when the data has
labels, its categories too: so it sees colour, texture and shape, where a
classifier of categories alone needed only shape and was colour-blind
(``ganzoo metric-check`` shows both; docs/evaluation.md). The features are the
8 x width channels of the last convolution, averaged over space, followed by
a few measured statistics of colour and fine detail
(``ganzoo_features.image_statistics``), scaled to half the learned
features' variance: a documented hybrid, so noise, blur and colour casts
count however well the network trained. Numbers in
this space are labelled as such and are not comparable to Inception FIDs, nor
across differently trained domain models (the weights' hash is part of every
protocol).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from pydantic import Field
from safetensors.torch import load_file, safe_open, save_file

from ganzoo.api import FeatureExtractor, ImageData, PluginConfig
from ganzoo.metrics import InputError, cache_root
from ganzoo_features import image_statistics
from ganzoo_features.domain_training import DomainNet, Settings, match_channels, to_input, train_network

FORMAT = "ganzoo-domain-2"  # 1: category classifier only (colour-blind); 2: contrastive views + categories
TRAINING_FIELDS = ("width", "epochs", "batch_size", "lr", "seed", "max_images", "temperature", "label_weight")


class DomainConfig(PluginConfig):
    weights: Optional[Path] = Field(None, description="A model trained by `ganzoo features train domain`; default: "
                                                      "the one trained on the reference data (found by its hash).")
    width: int = Field(16, ge=4, le=128, description="Channels of the first convolution; features have 8 x width.")
    epochs: int = Field(10, ge=1, le=1000, description="Training passes over the (at most max_images) images.")
    batch_size: int = Field(256, ge=8, description="Images per step; each brings two views, the others' views are "
                                                   "the negatives.")
    lr: float = Field(3e-3, gt=0, description="Adam's peak learning rate (one-cycle schedule).")
    seed: int = Field(0, ge=0, description="Seeds the initial weights, the held-out split, the order and the views.")
    max_images: Optional[int] = Field(20_000, ge=10, description="Train on at most this many images (a seeded "
                                                                 "subset); null: all of them.")
    temperature: float = Field(0.2, gt=0, le=10, description="Softmax temperature of the contrastive loss.")
    label_weight: float = Field(1.0, ge=0, description="Weight of the category loss when the data has labels "
                                                       "(0: ignore labels).")


def training_digest(config: DomainConfig) -> str:
    options = {"format": FORMAT, **{k: getattr(config, k) for k in TRAINING_FIELDS}}
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
    description = ("Small CNN trained on the real data (`ganzoo features train domain`): sees colour, texture and "
                   "shape; offline.")
    space = "domain CNN"
    Config = DomainConfig
    trainable = True
    perceptual = True

    def __init__(self, config: DomainConfig, device: torch.device | str = "cpu"):
        super().__init__(config, device)
        self.dims = 8 * config.width + image_statistics.DIMS

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
                    f"directory, dataset spec or image folder this data comes from (a minute or a few on a CPU); "
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
            older = meta.get("format") == "ganzoo-domain-1"
            raise InputError(f"'{path}' is not a domain model of this version (format {meta.get('format')!r}, "
                              f"expected {FORMAT!r}). "
                              + ("It is an older, colour-blind category classifier: train a new one with "
                                 "`ganzoo features train domain SOURCE`." if older else
                                 "Give a file written by `ganzoo features train domain`."))
        try:
            self.info = {k: json.loads(v) for k, v in meta.items() if k != "format"}
            self.net = DomainNet(self.info["channels"], len(self.info["class_names"]), self.info["width"])
            self.net.load_state_dict(state)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:  # damaged or edited by hand
            raise InputError(f"'{path}' is a damaged domain model ({type(exc).__name__}: {str(exc)[:200]}). "
                              f"Delete it and train again with `ganzoo features train domain SOURCE`.") from None
        self.net.eval().requires_grad_(False).to(self.device)  # a loaded model is only read, never trained
        self.dims = 8 * self.info["width"] + image_statistics.DIMS
        self.path, self.sha256 = path, _file_sha256(path)

    def protocol(self) -> dict[str, Any]:
        return {"weights_sha256": self.sha256, "trained_on_sha256": self.info["content_sha256"],
                "input": f"{self.info['resolution']}x{self.info['resolution']}, {self.info['channels']} channel(s), "
                         f"uint8/127.5-1",
                "objective": self.info["objective"],
                "features": f"{8 * self.info['width']} learned + {image_statistics.DIMS} measured (colour, detail; "
                            f"{image_statistics.STATISTICS_SHARE:g} of the learned variance)",
                "held_out_view_match": self.info["held_out_view_match"],
                "held_out_accuracy": self.info["held_out_accuracy"], "classes": len(self.info["class_names"]),
                "comparable_to_published": False}

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        r = self.info["resolution"]
        if tuple(images.shape[-2:]) != (r, r):
            raise InputError(f"This domain extractor was trained on {r}x{r} images but got "
                             f"{images.shape[-1]}x{images.shape[-2]} ones; evaluate images at the resolution of the "
                             f"data it was trained on, or train one on data at this resolution.")
        x = to_input(images.to(self.device), self.info["channels"])
        return self.net.embed(x).float().cpu()

    def feature_maps(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The four convolutions' outputs for float images in [-1, 1], differentiably (``ganzoo project
        --features domain``): the maps before pooling, where position still counts."""
        x = match_channels(images, self.info["channels"])
        maps = []
        for layer in self.net.features:
            if isinstance(layer, torch.nn.AdaptiveAvgPool2d):
                break
            x = layer(x)
            maps.append(x)
        return maps

    # -------------------------------------------------------------- training
    def train(self, data: ImageData, log: Callable[[str], None] = print) -> dict[str, Any]:
        config: DomainConfig = self.config
        if len(data) < 20:
            raise InputError(f"The domain extractor needs at least 20 real images to learn from; got {len(data)}.")
        content = data.content_hash()
        settings = Settings(**{k: getattr(config, k) for k in TRAINING_FIELDS})
        trained = train_network(data, settings, self.device, log)
        labelled = trained.class_accuracy is not None
        objective = "contrastive views (shift, mirror)" + (" + categories" if labelled else "")
        path = model_path(content, config)
        meta = {"format": FORMAT, "width": json.dumps(config.width), "channels": json.dumps(data.images.shape[1]),
                "resolution": json.dumps(data.images.shape[-1]),
                "class_names": json.dumps(list(data.class_names) if labelled else []),
                "content_sha256": json.dumps(content), "objective": json.dumps(objective),
                "held_out_view_match": json.dumps(round(trained.contrastive_accuracy, 4)),
                "held_out_accuracy": json.dumps(None if not labelled else round(trained.class_accuracy, 4)),
                "images": json.dumps(trained.images),
                "options": json.dumps({k: getattr(config, k) for k in TRAINING_FIELDS})}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        state = {k: v.detach().cpu().contiguous() for k, v in trained.net.state_dict().items()}
        save_file(state, str(tmp), metadata=meta)
        tmp.replace(path)  # atomic: a half-written model is never picked up
        return {"path": str(path), "held_out_accuracy": trained.class_accuracy,
                "held_out_view_match": trained.contrastive_accuracy, "objective": objective,
                "images": trained.images, "seconds": trained.seconds}
