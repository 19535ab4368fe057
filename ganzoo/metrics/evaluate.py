"""The evaluation driver: extractor plugin + image sources -> statistics -> FID/KID/PR with their protocol.

Used by ``ganzoo eval``, ``ganzoo fid`` and periodic evaluation during training.
Every number it returns sits in a record next to its ``protocol``: the extractor
and its weights' hash, how many fake and real images, which split, EMA or raw
generator, and the KID and precision/recall settings.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch

import ganzoo
from ganzoo.api import FeatureExtractor, ImageData
from ganzoo.engine import distributed
from ganzoo.errors import GanzooWarning, PluginError, RecipeError
from ganzoo.metrics import cache
from ganzoo.metrics.errors import InputError
from ganzoo.metrics.scores import frechet_distance, kernel_inception_distance, precision_recall
from ganzoo.metrics.sources import ImageSource, dataset_source, generator_source
from ganzoo.metrics.stats import FeatureStats, sample_indices
from ganzoo.recipe import Document, check_plugin_section

METRICS = ("fid", "kid", "pr")
Progress = Callable[[str, int, int], None]  # (what, images done, images in all)


@dataclass
class MetricSettings:
    """How the numbers are computed from features (recorded in every protocol)."""

    metrics: tuple[str, ...] = METRICS
    kid_subset_size: int = 1000  # as stylegan2-ada and torchmetrics
    kid_subsets: int = 100
    pr_k: int = 3                # Kynkaanniemi et al.'s default
    pool: int = 10_000           # features kept per side for KID and precision/recall (a seeded random sample)
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown or not self.metrics:
            raise InputError(f"Unknown metric {', '.join(map(repr, unknown)) or '(none given)'}; choose from "
                             f"{', '.join(METRICS)} (pr is precision and recall).")
        self.metrics = tuple(m for m in METRICS if m in self.metrics)

    @property
    def needs_features(self) -> bool:
        return "kid" in self.metrics or "pr" in self.metrics


# ---------------------------------------------------------------- extractors

@dataclass
class LoadedExtractor:
    extractor: FeatureExtractor
    protocol: dict[str, Any]


def build_extractor(host, kind: str, options: dict[str, Any], device: torch.device | str = "cpu",
                    reference: Optional[ImageData] = None, where: str = "extractor options") -> LoadedExtractor:
    """Find the extractor plugin, validate its options with its Config, and load it (weights, checks)."""
    document = Document(f"The {where}", f"of feature extractor '{kind}'", error=RecipeError, verb="are")
    provider, config = check_plugin_section(kind, options, host.feature_extractors, document)
    cls = provider.obj
    extractor = cls(config, device)
    extractor.load(reference)
    protocol = {"kind": kind, "space": extractor.space or kind, "dims": int(extractor.dims),
                "provider": f"{provider.distribution} {provider.version}".strip(), **extractor.protocol()}
    protocol["comparable_to_published"] = bool(protocol.get("comparable_to_published", False))
    # The options are recorded, but only protocol() (weights hash, input pipeline...) keys the cache:
    # moving the weights file must not invalidate statistics computed with the same weights.
    protocol["options"] = config.model_dump(mode="json")
    return LoadedExtractor(extractor, protocol)


def extract(loaded: LoadedExtractor, source: ImageSource, batch_size: int = 32, keep: int = 0, seed: int = 0,
            progress: Optional[Progress] = None) -> FeatureStats:
    """Stream ``source`` through the extractor into float64 statistics (and a kept sample of features).

    Under torchrun every process extracts its own share of the images and the statistics are
    reduced, so every process gets those of the whole stream (ganzoo.engine.distributed).
    """
    extractor = loaded.extractor
    first, stop = distributed.shard(source.count, batch_size)
    world = distributed.world_size()
    stats = FeatureStats(extractor.dims, sample_indices(source.count, keep, seed) if keep else None,
                         meta={"extractor": loaded.protocol, "source": source.info}, first=first)
    done = 0
    if progress:
        progress(source.label, 0, source.count)
    for images in source.batches(batch_size, first, stop):
        features = extractor(images)
        if not isinstance(features, torch.Tensor) or features.shape != (len(images), extractor.dims):
            shape = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
            raise PluginError(f"Feature extractor '{extractor.kind}' returned {shape} for {len(images)} images; "
                              f"expected ({len(images)}, {extractor.dims}). This is a bug in the plugin.")
        if not torch.isfinite(features).all():
            raise PluginError(f"Feature extractor '{extractor.kind}' returned NaN or infinite features for "
                              f"{source.label} (images {first + done}-{first + done + len(images) - 1}).")
        stats.add(features)
        done += len(images)
        if progress:
            progress(source.label, min(done * world, source.count), source.count)
    if stats.n != stop - first:
        raise InputError(f"{source.label} yielded {stats.n} images, expected {stop - first}.")
    return distributed.reduce_feature_stats(stats)


def reference_stats(loaded: LoadedExtractor, source: ImageSource, settings: MetricSettings, batch_size: int = 32,
                    use_cache: bool = True, progress: Optional[Progress] = None) -> FeatureStats:
    """Statistics of a dataset held in memory, from the cache when the whole protocol and the data match."""
    extractor = {k: v for k, v in loaded.protocol.items() if k != "options"}
    protocol = {"extractor": extractor, "content_sha256": source.info.get("content_sha256"),
                "split": source.info.get("split"), "kind": source.info.get("kind"),
                "images": source.count, "subset_seed": source.info.get("subset_seed"),
                "pool": settings.pool, "pool_seed": settings.seed, "format": 1}
    key = cache.stats_key(protocol)
    if use_cache and source.data is not None:
        # Rank 0 looks in the cache for every process, so all agree on whether to extract.
        hit = distributed.broadcast_object(cache.load_cached(key, loaded.protocol["kind"])
                                           if distributed.is_main() else None)
        if hit is not None:
            hit.meta["cached"] = True
            return hit
    stats = extract(loaded, source, batch_size, settings.pool, settings.seed, progress)
    if use_cache and source.data is not None and distributed.is_main():
        cache.store(stats, key, loaded.protocol["kind"])
    stats.meta["cached"] = False
    return stats


# ---------------------------------------------------------------- scores

def compare(fake: FeatureStats, real: FeatureStats, settings: MetricSettings) -> dict[str, Any]:
    """The requested scores and the settings that produced them."""
    scores: dict[str, Any] = {}
    details: dict[str, Any] = {}
    if fake.dims != real.dims:
        raise InputError(f"Cannot compare {fake.dims}-d with {real.dims}-d features: the two sides were computed "
                         f"with different feature extractors.")
    if "fid" in settings.metrics:
        scores["fid"] = frechet_distance(fake.mean, fake.sigma, real.mean, real.sigma)
    if settings.needs_features:
        missing = [side for side, s in (("first", fake), ("second", real)) if not len(s.features)]
        if missing:
            raise InputError(f"KID and precision/recall need the features themselves, but the {' and '.join(missing)} "
                             f"side{'s' if len(missing) > 1 else ''} only has mean and covariance (a pytorch-fid "
                             f".npz). Ask for --metrics fid, or give images (ganzoo's own --save-stats files keep "
                             f"a sample of features).")
        # float32 pools; KID and precision/recall compute in float64 piece by piece (a few MiB at a time).
        fake_features, real_features = fake.features, real.features
    if "kid" in settings.metrics:
        mean, std, m = kernel_inception_distance(fake_features, real_features, settings.kid_subset_size,
                                                 settings.kid_subsets, settings.seed)
        scores["kid"], scores["kid_std"] = mean, std
        details["kid"] = {"subset_size": m, "subsets": settings.kid_subsets, "kernel": "(x.y/d + 1)^3",
                          "fake_pool": len(fake.features), "real_pool": len(real.features)}
    if "pr" in settings.metrics:
        precision, recall = precision_recall(fake_features, real_features, settings.pr_k)
        scores["precision"], scores["recall"] = precision, recall
        details["pr"] = {"k": settings.pr_k, "fake_pool": len(fake.features), "real_pool": len(real.features)}
    return {"scores": scores, "details": details}


def make_record(fake: FeatureStats, real: FeatureStats, settings: MetricSettings, extractor: dict[str, Any],
                generator: Optional[str] = None) -> dict[str, Any]:
    """Scores with their protocol: what a user can paste next to a number."""
    result = compare(fake, real, settings)
    real_info = real.meta.get("source", {})
    protocol = {
        "extractor": extractor,
        "n_fake": fake.n, "n_real": real.n,
        "split": real_info.get("split"),
        "generator": generator,
        "fake": fake.meta.get("source", {}), "real": real_info,
        **result["details"],
        "metrics_seed": settings.seed,
        "ganzoo": ganzoo.__version__,
    }
    if not extractor.get("comparable_to_published"):
        space = extractor.get("space", extractor.get("kind"))
        why = extractor.get("note") or f"measured in the '{space}' feature space"
        protocol["note"] = f"{why}: not comparable to published FIDs"
    return {**result["scores"], "protocol": protocol}


def check_stats_match(a: FeatureStats, extractor: dict[str, Any], label: str) -> None:
    """Refuse to compare a saved .npz with features of another extractor; warn when it does not say."""
    saved = a.meta.get("extractor")
    keys = ("kind", "weights_sha256", "input", "dims")
    if saved and any(saved.get(k) != extractor.get(k) for k in keys):
        theirs = ", ".join(f"{k} {saved.get(k)}" for k in keys if saved.get(k) is not None)
        ours = ", ".join(f"{k} {extractor.get(k)}" for k in keys if extractor.get(k) is not None)
        raise InputError(f"{label} was computed with a different feature extractor ({theirs}) than the other "
                         f"side ({ours}); their FID would be meaningless. Recompute it, or choose the same "
                         f"extractor with --extractor and --option.")
    if a.dims != extractor["dims"]:
        raise InputError(f"{label} holds {a.dims}-d statistics but extractor '{extractor['kind']}' gives "
                         f"{extractor['dims']}-d features; compute both sides with the same extractor.")
    if not saved:
        warnings.warn(f"{label} does not record how it was computed (e.g. it was written by pytorch-fid); "
                      f"assuming the same extractor and weights as the other side ({extractor['kind']}).",
                      GanzooWarning, stacklevel=2)


# ---------------------------------------------------------------- runs

@dataclass
class EvalOptions:
    """What ``ganzoo eval`` and periodic evaluation take from the recipe's eval section (and the CLI)."""

    extractor: str
    extractor_options: dict[str, Any] = field(default_factory=dict)
    n_fake: int = 10_000
    n_real: Optional[int] = None
    generator: str = "ema"
    batch_size: int = 32
    settings: MetricSettings = field(default_factory=MetricSettings)

    @classmethod
    def from_section(cls, section, extractor_options: dict[str, Any], *, n_fake: Optional[int] = None,
                     n_real: Optional[int] = None, generator: Optional[str] = None,
                     batch_size: Optional[int] = None, metrics: Optional[list[str]] = None,
                     seed: Optional[int] = None) -> "EvalOptions":
        """The recipe's ``eval`` section, with any of its values replaced (None keeps the recipe's)."""
        def pick(value, default):
            return default if value is None else value

        return cls(extractor=section.extractor.kind, extractor_options=extractor_options,
                   n_fake=pick(n_fake, section.n_fake), n_real=pick(n_real, section.n_real),
                   generator=pick(generator, section.generator), batch_size=pick(batch_size, section.batch_size),
                   settings=MetricSettings(tuple(pick(metrics, section.metrics)), seed=pick(seed, section.seed)))


class RunEvaluator:
    """Evaluates a generator against a run's reference data; holds the extractor and the reference stats."""

    def __init__(self, host, options: EvalOptions, reference: ImageData, reference_info: dict[str, Any],
                 device: torch.device, use_cache: bool = True, progress: Optional[Progress] = None):
        self.options, self.device, self.use_cache, self.progress = options, device, use_cache, progress
        self.loaded = build_extractor(host, options.extractor, options.extractor_options, device, reference,
                                      where="eval.extractor options")
        label = f"{reference_info.get('kind', 'dataset')} reference data"
        self.reference = dataset_source(reference, label, {"type": "dataset", **reference_info}, options.n_real)
        self._real: Optional[FeatureStats] = None

    def real_stats(self) -> FeatureStats:
        if self._real is None:
            self._real = reference_stats(self.loaded, self.reference, self.options.settings, self.options.batch_size,
                                         self.use_cache, self.progress)
        return self._real

    def evaluate(self, architecture, generator, which: str, fake_info: dict[str, Any], seed: int) -> dict[str, Any]:
        if architecture.image.resolution != self.reference.resolution[0]:
            raise InputError(f"The generator makes {architecture.image.resolution}px images but the reference data "
                             f"is {self.reference.resolution[0]}px; evaluate against data at the same resolution.")
        real = self.real_stats()
        label = f"{fake_info.get('run', 'generator')} ({'EMA' if which == 'ema' else 'raw'} generator)"
        source = generator_source(architecture, generator, self.options.n_fake, seed, self.device, label,
                                  {"type": "generator", "generator": which, **fake_info})
        settings = self.options.settings
        fake = extract(self.loaded, source, self.options.batch_size, settings.pool if settings.needs_features else 0,
                       settings.seed, self.progress)
        record = make_record(fake, real, settings, self.loaded.protocol, generator=which)
        record["protocol"]["reference_cached"] = bool(real.meta.get("cached"))
        return record

