"""The evaluation driver: extractor plugin + image sources -> statistics -> FID/KID/PR/IS with their protocol.

Used by ``ganzoo eval``, ``ganzoo fid`` and periodic evaluation during training.
Every number it returns sits in a record next to its ``protocol``: the extractor
and its weights' hash, how many fake and real images, which split, EMA or raw
generator, and the KID, precision/recall and Inception Score settings.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch

import ganzoo
from ganzoo.api import FeatureExtractor, ImageData
from ganzoo.engine import distributed
from ganzoo.errors import GanzooError, GanzooWarning, PluginError, RecipeError
from ganzoo.metrics import cache
from ganzoo.metrics.errors import InputError
from ganzoo.metrics.scores import frechet_distance, inception_score, kernel_inception_distance, precision_recall
from ganzoo.metrics.sources import ImageSource, dataset_source, generator_source
from ganzoo.metrics.stats import FeatureStats, sample_indices
from ganzoo.recipe import Document, check_plugin_section, classifier_missing

METRICS = ("fid", "kid", "pr", "is")
DEFAULT_METRICS = ("fid", "kid", "pr")  # IS only when asked: it needs an extractor with a classifier
Progress = Callable[[str, int, int], None]  # (what, images done, images in all)


@dataclass
class MetricSettings:
    """How the numbers are computed from features (recorded in every protocol)."""

    metrics: tuple[str, ...] = DEFAULT_METRICS
    kid_subset_size: int = 1000  # as stylegan2-ada and torchmetrics
    kid_subsets: int = 100
    pr_k: int = 3                # Kynkaanniemi et al.'s default
    pool: int = 10_000           # features kept per side for KID, precision/recall and IS (a seeded random sample)
    is_splits: int = 10          # Salimans et al.'s protocol: IS mean and std over 10 splits of the fakes
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown or not self.metrics:
            raise InputError(f"Unknown metric {', '.join(map(repr, unknown)) or '(none given)'}; choose from "
                             f"{', '.join(METRICS)} (pr is precision and recall, is the Inception Score).")
        self.metrics = tuple(m for m in METRICS if m in self.metrics)

    @property
    def needs_features(self) -> bool:
        """Whether a sample of features must be kept: KID and PR need both sides', IS the fakes'."""
        return any(m in self.metrics for m in ("kid", "pr", "is"))


# ---------------------------------------------------------------- extractors

@dataclass
class LoadedExtractor:
    extractor: FeatureExtractor
    protocol: dict[str, Any]


def build_extractor(host, kind: str, options: dict[str, Any], device: torch.device | str = "cpu",
                    reference: Optional[ImageData] = None, where: str = "extractor options",
                    metrics: Sequence[str] = ()) -> LoadedExtractor:
    """Find the extractor plugin, validate its options with its Config, and load it (weights, checks).

    ``metrics`` are those it will serve: one it cannot give (IS without a classifier) is refused
    before anything is loaded.
    """
    document = Document(f"The {where}", f"of feature extractor '{kind}'", error=RecipeError, verb="are")
    provider, config = check_plugin_section(kind, options, host.feature_extractors, document)
    missing = classifier_missing(kind, host.feature_extractors) if "is" in metrics else None
    if missing:
        raise InputError(missing)
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


def load_or_train_extractor(host, kind: str, options: dict[str, Any], device: torch.device | str,
                            data: ImageData, log: Callable[[str], None], where: str = "extractor options",
                            train: bool = True) -> Optional[LoadedExtractor]:
    """:func:`build_extractor`; a trainable extractor with no model for ``data`` yet is trained on it first.

    With ``train`` False such an extractor is not trained and None is returned (a dry run).
    """
    try:
        return build_extractor(host, kind, options, device, data, where=where)
    except GanzooError:
        cls = host.feature_extractors.get(kind).obj
        if not cls.trainable:
            raise
    if not train:
        return None
    document = Document(f"The {where}", f"of feature extractor '{kind}'", error=RecipeError, verb="are")
    _, config = check_plugin_section(kind, options, host.feature_extractors, document)
    log(f"No '{kind}' model for this data yet: training one on its {len(data):,} images first.")
    cls(config, device).train(data, log)
    return build_extractor(host, kind, options, device, data, where=where)


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

SAMPLE_METRICS = {"kid": "KID", "pr": "precision/recall", "is": "the Inception Score"}
SIDES_NEEDED = {"kid": ("first", "second"), "pr": ("first", "second"), "is": ("first",)}  # IS scores the fakes alone


def _check_kept_features(fake: FeatureStats, real: FeatureStats, settings: MetricSettings) -> None:
    """KID and precision/recall need both sides' kept features, IS the first side's; a pytorch-fid .npz has none."""
    lacking = [side for side, stats in (("first", fake), ("second", real)) if not len(stats.features)]
    blocked = [m for m in SAMPLE_METRICS if m in settings.metrics and set(SIDES_NEEDED[m]) & set(lacking)]
    if blocked:
        sides = [side for side in lacking if any(side in SIDES_NEEDED[m] for m in blocked)]
        names = " and ".join(SAMPLE_METRICS[m] for m in blocked)
        raise InputError(f"{names[0].upper()}{names[1:]} need{'s' if len(blocked) == 1 else ''} the features "
                         f"themselves, but the {' and '.join(sides)} side{'s' if len(sides) > 1 else ''} only "
                         f"has mean and covariance (a pytorch-fid .npz). Ask for --metrics fid, or give images "
                         f"(ganzoo's own --save-stats files keep a sample of features).")


def _class_logits(classifier: FeatureExtractor, features: np.ndarray) -> torch.Tensor:
    """The extractor's class logits of these features, checked as ``extract`` checks its features."""
    logits = classifier.class_logits(torch.from_numpy(features))
    n = len(features)
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or len(logits) != n or logits.shape[1] < 2:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise PluginError(f"Feature extractor '{classifier.kind}' returned class logits {shape} for {n} feature "
                          f"vectors; expected ({n}, classes). This is a bug in the plugin.")
    if not torch.isfinite(logits).all():
        raise PluginError(f"Feature extractor '{classifier.kind}' returned NaN or infinite class logits.")
    return logits


def _inception_score(fake: FeatureStats, classifier: Optional[FeatureExtractor],
                     settings: MetricSettings) -> tuple[float, float, dict[str, Any]]:
    """IS of the first side's kept features through the extractor's classifier, and the protocol that gave it."""
    if classifier is None:
        raise InputError("The Inception Score needs the feature extractor's classifier, which is only loaded when "
                         "one side is images: give the first side as images, a run or a dataset, not two .npz files.")
    logits = _class_logits(classifier, fake.features)
    mean, std = inception_score(logits, settings.is_splits, settings.seed)
    return mean, std, {"splits": settings.is_splits, "images": len(logits), "classifier": classifier.classifier,
                       "softmax over": int(logits.shape[1]), "order": "shuffled by metrics_seed"}


def compare(fake: FeatureStats, real: FeatureStats, settings: MetricSettings,
            classifier: Optional[FeatureExtractor] = None) -> dict[str, Any]:
    """The requested scores and the settings that produced them.

    ``classifier`` is the extractor that computed the features, needed for IS only (its ``class_logits``);
    IS is a score of ``fake`` alone.
    """
    scores: dict[str, Any] = {}
    details: dict[str, Any] = {}
    if fake.dims != real.dims:
        raise InputError(f"Cannot compare {fake.dims}-d with {real.dims}-d features: the two sides were computed "
                         f"with different feature extractors.")
    if "fid" in settings.metrics:
        scores["fid"] = frechet_distance(fake.mean, fake.sigma, real.mean, real.sigma)
    _check_kept_features(fake, real, settings)
    # float32 pools; KID and precision/recall compute in float64 piece by piece (a few MiB at a time).
    if "kid" in settings.metrics:
        mean, std, m = kernel_inception_distance(fake.features, real.features, settings.kid_subset_size,
                                                 settings.kid_subsets, settings.seed)
        scores["kid"], scores["kid_std"] = mean, std
        whole = m == len(fake.features) == len(real.features)  # one subset: the whole pools
        details["kid"] = {"subset_size": m, "subsets": 1 if whole else settings.kid_subsets, "kernel": "(x.y/d + 1)^3",
                          "fake_pool": len(fake.features), "real_pool": len(real.features)}
    if "pr" in settings.metrics:
        precision, recall = precision_recall(fake.features, real.features, settings.pr_k)
        scores["precision"], scores["recall"] = precision, recall
        details["pr"] = {"k": settings.pr_k, "fake_pool": len(fake.features), "real_pool": len(real.features)}
    if "is" in settings.metrics:
        scores["is"], scores["is_std"], details["is"] = _inception_score(fake, classifier, settings)
    return {"scores": scores, "details": details}


def make_record(fake: FeatureStats, real: FeatureStats, settings: MetricSettings, extractor: dict[str, Any],
                generator: Optional[str] = None, classifier: Optional[FeatureExtractor] = None) -> dict[str, Any]:
    """Scores with their protocol: what a user can paste next to a number (``classifier``: see :func:`compare`)."""
    result = compare(fake, real, settings, classifier)
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
                                      where="eval.extractor options", metrics=options.settings.metrics)
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
        record = make_record(fake, real, settings, self.loaded.protocol, generator=which,
                             classifier=self.loaded.extractor)
        record["protocol"]["reference_cached"] = bool(real.meta.get("cached"))
        return record

