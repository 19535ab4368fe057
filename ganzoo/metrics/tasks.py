"""What `ganzoo fid`, `ganzoo eval` and `ganzoo features train` do, without drawing anything.

Each takes plain values (paths, options, a progress callback) and returns what
the command prints: a record with its protocol, statistics, or a training summary.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from ganzoo.errors import GanzooError, PluginError
from ganzoo.metrics.check import SanityReport, check_feature_space, split_halves
from ganzoo.metrics.errors import InputError
from ganzoo.metrics.evaluate import (
    EvalOptions,
    MetricSettings,
    RunEvaluator,
    build_extractor,
    check_stats_match,
    extract,
    load_or_train_extractor,
    make_record,
    reference_stats,
)
from ganzoo.metrics.evaluate import Progress as ProgressFn
from ganzoo.metrics.inputs import load_real_source, load_run_data, open_side
from ganzoo.metrics.stats import FeatureStats
from ganzoo.recipe import Document, ExtractorSection, check_plugin_section
from ganzoo.rundir import RunDir, load_run


@dataclass
class FidOutcome:
    """``record`` (scores and protocol) when two sides were compared, else None; A's statistics and label."""

    record: Optional[dict[str, Any]]
    first: FeatureStats
    first_label: str


def fid(a: str, b: Optional[str], host, device: torch.device, settings: MetricSettings, extractor: Optional[str],
        options: dict[str, Any], n_fake: int, n_real: Optional[int], prefer_ema: bool, batch_size: int,
        use_cache: bool, save_stats: Optional[Path], progress: ProgressFn) -> FidOutcome:
    """Scores of side ``a`` against the reference ``b`` (each: folder, run, .npz, recipe or dataset spec)."""
    if b is None and save_stats is None:
        raise InputError("Give two sides to compare (`ganzoo fid A B`), or one with --save-stats OUT.npz to save "
                         "its statistics.")
    extractor = extractor or ExtractorSection().kind
    seed = settings.seed
    sides = [open_side(x, host, device, n_fake, n_real, seed, prefer_ema=prefer_ema)
             for x in ([a] if b is None else [a, b])]
    images = [s for s in sides if s.source is not None]
    if save_stats and sides[0].source is None:
        raise InputError(f"{sides[0].label} already is a statistics file; --save-stats needs images.")
    if len(images) == 2 and images[0].source.resolution != images[1].source.resolution:
        (h1, w1), (h2, w2) = images[0].source.resolution, images[1].source.resolution
        raise InputError(f"The two sides have different image sizes: {images[0].label} is {w1}x{h1}, "
                         f"{images[1].label} is {w2}x{h2}. Compare images of the same size (the resize would "
                         f"dominate the score); resize one side first.")
    stats = [s.stats for s in sides]
    classifier = None  # the loaded extractor, whose class_logits give IS; none when both sides are .npz files
    if images:
        reference = next((s.source.data for s in reversed(sides) if s.source is not None and s.source.data is not None),
                         None)
        loaded = build_extractor(host, extractor, options, device, reference, metrics=settings.metrics)
        protocol, classifier = loaded.protocol, loaded.extractor
        for side, s in zip(sides, stats):
            if side.source is None:
                check_stats_match(s, protocol, side.label)  # before any slow extraction
        keep = settings.pool if (settings.needs_features or save_stats) else 0
        for i, side in enumerate(sides):
            if side.source is None:
                continue
            if side.source.data is not None:
                stats[i] = reference_stats(loaded, side.source, settings, batch_size, use_cache, progress)
            else:
                stats[i] = extract(loaded, side.source, batch_size, keep, seed, progress)
    else:
        saved = stats[0].meta.get("extractor") or stats[1].meta.get("extractor")
        protocol = saved or {"kind": "unknown (pytorch-fid .npz)", "dims": stats[0].dims}
    if save_stats:
        stats[0].save(save_stats)
    record = None
    if b is not None:
        generator = next((s.generator for s in sides if s.generator), None)
        record = make_record(stats[0], stats[1], settings, protocol, generator, classifier)
    return FidOutcome(record, stats[0], sides[0].label)


def evaluate_run(run_dir: Path, host, device: torch.device, extractor: Optional[str], options: dict[str, Any],
                 progress: ProgressFn, use_cache: bool = True, **overrides: Any) -> tuple[dict[str, Any], Path]:
    """Score a run's generator against its own data with the recipe's eval settings (``overrides`` replace them).

    Appends the record to the run's metrics.jsonl; returns it and that file.
    """
    run = RunDir(run_dir)
    resolved, data, reference_info = load_run_data(run, host)
    section = resolved.recipe.eval
    recipe_options = {}
    if extractor is None or extractor == section.extractor.kind:  # the recipe's extractor options apply to it alone
        recipe_options = (resolved.extractor_config.model_dump(mode="json") if resolved.extractor_config is not None
                          else {k: v for k, v in section.extractor.model_dump().items() if k != "kind"})
    eval_options = EvalOptions.from_section(section, {**recipe_options, **options}, **overrides)
    eval_options.extractor = extractor or section.extractor.kind
    loaded = load_run(run_dir, host, device, prefer_ema=eval_options.generator == "ema")
    which = "ema" if loaded.which == "generator_ema" else "raw"
    evaluator = RunEvaluator(host, eval_options, data, reference_info, device, use_cache, progress)
    info = {"run": str(run_dir), "run_id": run.read_info().get("run_id"), "step": loaded.step}
    record = evaluator.evaluate(loaded.architecture, loaded.generator, which, info, eval_options.settings.seed)
    metrics_file = run.path / "metrics.jsonl"
    with open(metrics_file, "a") as handle:
        handle.write(json.dumps(record) + "\n")
    return record, metrics_file


@dataclass
class ExtractorTraining:
    """``summary`` of the training; or, when a model for this data and these options was already there,
    ``summary`` None and that model's ``protocol``."""

    summary: Optional[dict[str, Any]]
    protocol: Optional[dict[str, Any]]
    images: int
    content_hash: str


def train_extractor(kind: str, source: str, options: dict[str, Any], host, device: torch.device, force: bool,
                    log: Callable[[str], None],
                    on_start: Callable[[int, dict[str, Any], int], None]) -> ExtractorTraining:
    """Train a trainable feature extractor on real data (``on_start(images, info, classes)`` first)."""
    cls = host.feature_extractors.get(kind).obj
    if not cls.trainable:
        trainable = [p.kind for p in host.feature_extractors if p.obj.trainable]
        raise PluginError(f"Feature extractor '{kind}' is not trainable (it comes with its own weights). "
                          f"Trainable: {', '.join(trainable) or 'none installed'}.")
    document = Document("The --option values", f"for feature extractor '{kind}'", error=InputError, verb="are")
    _, config = check_plugin_section(kind, options, host.feature_extractors, document)
    data, info = load_real_source(source, host)
    extractor = cls(config, device)
    if not force:
        try:
            extractor.load(data)
            return ExtractorTraining(None, extractor.protocol(), len(data), data.content_hash())
        except GanzooError:  # not trained yet for this data and these options
            pass
    on_start(len(data), info, len(data.class_names))
    summary = extractor.train(data, log)
    return ExtractorTraining(summary, None, len(data), data.content_hash())


def metric_check(source: str, host, device: torch.device, extractor: Optional[str], options: dict[str, Any],
                 per_side: Optional[int], seed: int, batch_size: int, progress: ProgressFn,
                 train: bool = False, log: Callable[[str], None] = print) -> SanityReport:
    """Score a feature extractor on controlled corruptions of real data (see ganzoo.metrics.check).

    ``train``: a trainable extractor with no model for this data yet is trained on it first.
    """
    data, info = load_real_source(source, host)
    split_halves(len(data), per_side, seed)  # too little data fails here, before any model is loaded
    kind = extractor or ExtractorSection().kind
    if train:
        loaded = load_or_train_extractor(host, kind, options, device, data, log, where="--option values")
    else:
        loaded = build_extractor(host, kind, options, device, data, where="--option values")
    return check_feature_space(loaded, data, {"source": source, **info}, per_side, seed, batch_size, progress)
