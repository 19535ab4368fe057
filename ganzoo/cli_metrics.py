"""CLI commands for evaluation: `ganzoo fid`, `ganzoo eval`, `ganzoo features` (registered on ganzoo.cli.app).

They only wire and draw; the work is in ganzoo.metrics. Every number printed
comes with its protocol, and --json prints the record with the full protocol.
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Iterator, List, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from ganzoo.cli import app, console, err_console, friendly

OptionOpt = typer.Option(None, "--option", "-o", help="Feature extractor option name=value (repeatable), e.g. "
                                                      "-o weights=/path/pt_inception-2015-12-05-6726825d.pth.")
MetricsHelp = "Comma-separated: fid, kid, pr (precision and recall)."
DeviceOpt = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps.")
BatchOpt = typer.Option(32, "--batch-size", min=1, help="Images per extractor batch: results do not depend on "
                                                        "it, memory does (~14 MiB per image for Inception).")
JsonOpt = typer.Option(False, "--json", help="Print the record (scores and full protocol) as JSON.")
NoCacheOpt = typer.Option(False, "--no-cache", help="Neither read nor write cached reference statistics.")


def _host():
    from ganzoo.host import default_host
    return default_host()


@contextlib.contextmanager
def _progress() -> Iterator:
    """A progress callback for feature extraction: a bar on a terminal, one line per source otherwise (stderr)."""
    if err_console.is_terminal:
        bar = Progress(TextColumn("features: {task.description}"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn(), TimeRemainingColumn(), console=err_console, transient=True)
        tasks: dict[str, int] = {}

        def report(label: str, done: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=total)
            bar.update(tasks[label], completed=done)

        with bar:
            yield report
    else:
        started: set[str] = set()

        def report(label: str, done: int, total: int) -> None:
            if label not in started:
                started.add(label)
                err_console.print(f"Extracting features: {label} ({total:,} images)", highlight=False)

        yield report


def _metrics(value: Optional[str]) -> Optional[list[str]]:
    return [m.strip() for m in value.split(",") if m.strip()] if value else None


def _show(record: dict, as_json: bool, extra: str = "") -> None:
    from ganzoo.metrics.report import format_protocol, format_scores
    if as_json:
        typer.echo(json.dumps(record, indent=2))
        return
    protocol = record["protocol"]
    console.print(f"[bold]{format_scores(record)}[/]", highlight=False)
    console.print(f"protocol: {format_protocol(protocol)}", highlight=False, soft_wrap=True, markup=False)
    details = []
    if "kid" in protocol:
        details.append(f"KID over {protocol['kid']['subsets']} subsets of {protocol['kid']['subset_size']:,}")
    if "pr" in protocol:
        details.append(f"precision/recall with k={protocol['pr']['k']} on {protocol['pr']['fake_pool']:,} fake and "
                       f"{protocol['pr']['real_pool']:,} real features")
    if "reference_cached" in protocol:
        cached = protocol["reference_cached"]
        details.append("reference statistics " + ("from the cache" if cached else "computed and cached"))
    if details:
        console.print("; ".join(details) + ".", highlight=False, soft_wrap=True)
    if protocol.get("note"):
        console.print(f"[yellow]note:[/] {protocol['note']}.", highlight=False, soft_wrap=True)
    if extra:
        console.print(extra, highlight=False, soft_wrap=True)


# ---------------------------------------------------------------------- fid

@app.command()
@friendly
def fid(a: str = typer.Argument(..., help="The evaluated side: image folder, run directory, .npz, recipe or "
                                           "dataset spec KIND[:field=value,...]."),
        b: Optional[str] = typer.Argument(None, help="The reference side (same kinds of input)."),
        save_stats: Optional[Path] = typer.Option(None, "--save-stats", help="Write A's statistics to this .npz "
                                                  "(pytorch-fid's format: mu, sigma; plus a sample of features)."),
        extractor: Optional[str] = typer.Option(None, "--extractor", "-e", help="Feature extractor plugin; default: "
                                                "the recipe default of eval.extractor (inception)."),
        option: Optional[List[str]] = OptionOpt,
        metrics: str = typer.Option("fid", "--metrics", help=MetricsHelp),
        n_fake: int = typer.Option(10_000, "--n-fake", min=2, help="Images generated from a run directory side."),
        n_real: Optional[int] = typer.Option(None, "--n-real", min=2, help="Images used from a dataset side "
                                             "(a seeded subset); default: all."),
        raw: bool = typer.Option(False, "--raw", help="Use a run's raw generator instead of its EMA one."),
        seed: int = typer.Option(0, "--seed", min=0, help="Seeds generated latents and KID/PR subsets."),
        batch_size: int = BatchOpt, device: str = DeviceOpt, no_cache: bool = NoCacheOpt, as_json: bool = JsonOpt):
    """FID (and with --metrics, KID and precision/recall) of A against the reference B, as pytorch-fid's `A B`."""
    from ganzoo.engine.device import pick_device
    from ganzoo.metrics.errors import InputError
    from ganzoo.metrics.evaluate import MetricSettings, build_extractor, check_stats_match, extract, make_record, \
        reference_stats
    from ganzoo.metrics.inputs import open_side, parse_assignments
    if b is None and save_stats is None:
        raise InputError("Give two sides to compare (`ganzoo fid A B`), or one with --save-stats OUT.npz to save "
                         "its statistics.")
    from ganzoo.recipe import ExtractorSection
    settings = MetricSettings(tuple(_metrics(metrics) or ()), seed=seed)
    extractor = extractor or ExtractorSection().kind
    host, dev = _host(), pick_device(device)
    sides = [open_side(x, host, dev, n_fake, n_real, seed, prefer_ema=not raw) for x in ([a] if b is None else [a, b])]
    images = [s for s in sides if s.source is not None]
    if save_stats and sides[0].source is None:
        raise InputError(f"{sides[0].label} already is a statistics file; --save-stats needs images.")
    if len(images) == 2 and images[0].source.resolution != images[1].source.resolution:
        (h1, w1), (h2, w2) = images[0].source.resolution, images[1].source.resolution
        raise InputError(f"The two sides have different image sizes: {images[0].label} is {w1}x{h1}, "
                         f"{images[1].label} is {w2}x{h2}. Compare images of the same size (the resize would "
                         f"dominate the score); resize one side first.")
    stats = [s.stats for s in sides]
    protocol = None
    if images:
        reference = next((s.source.data for s in reversed(sides) if s.source is not None and s.source.data is not None),
                         None)
        loaded = build_extractor(host, extractor, parse_assignments(option or []), dev, reference)
        protocol = loaded.protocol
        for side, s in zip(sides, stats):
            if side.source is None:
                check_stats_match(s, protocol, side.label)  # before any slow extraction
        keep = settings.pool if (settings.needs_features or save_stats) else 0
        with _progress() as progress:
            for i, side in enumerate(sides):
                if side.source is None:
                    continue
                if side.source.data is not None:
                    stats[i] = reference_stats(loaded, side.source, settings, batch_size, not no_cache, progress)
                else:
                    stats[i] = extract(loaded, side.source, batch_size, keep, seed, progress)
    else:
        saved = stats[0].meta.get("extractor") or stats[1].meta.get("extractor")
        protocol = saved or {"kind": "unknown (pytorch-fid .npz)", "dims": stats[0].dims}
    extra = ""
    if save_stats:
        stats[0].save(save_stats)
        extra = f"Wrote the statistics of {stats[0].n:,} images ({sides[0].label}) to {save_stats}."
    if b is None:
        if as_json:
            typer.echo(json.dumps({"saved": str(save_stats), "n": stats[0].n, "protocol": stats[0].meta}, indent=2))
        else:
            console.print(extra, highlight=False, soft_wrap=True)
        return
    generator = next((s.generator for s in sides if s.generator), None)
    record = make_record(stats[0], stats[1], settings, protocol, generator)
    _show(record, as_json, extra)


# ---------------------------------------------------------------------- eval

@app.command("eval")
@friendly
def eval_(run_dir: Path = typer.Argument(..., help="A run directory."),
          extractor: Optional[str] = typer.Option(None, "--extractor", "-e", help="Feature extractor plugin; "
                                                  "default: the recipe's eval.extractor."),
          option: Optional[List[str]] = OptionOpt,
          metrics: Optional[str] = typer.Option(None, "--metrics", help=MetricsHelp + " Default: eval.metrics."),
          n_fake: Optional[int] = typer.Option(None, "--n-fake", min=2, help="Generated images; default: eval.n_fake."),
          n_real: Optional[int] = typer.Option(None, "--n-real", min=2, help="Reference images; default: "
                                               "eval.n_real (all)."),
          raw: bool = typer.Option(False, "--raw", help="Evaluate the raw generator instead of the EMA one."),
          seed: Optional[int] = typer.Option(None, "--seed", min=0, help="Default: eval.seed."),
          batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1,
                                                   help="Images per extractor batch; results do not depend on it."),
          device: str = DeviceOpt, no_cache: bool = NoCacheOpt, as_json: bool = JsonOpt):
    """Score a run's (EMA) generator against the data it was trained on; appends to RUN_DIR/metrics.jsonl."""
    from ganzoo.engine.device import pick_device
    from ganzoo.metrics.evaluate import EvalOptions, RunEvaluator
    from ganzoo.metrics.inputs import load_run_data, parse_assignments
    from ganzoo.rundir import RunDir
    from ganzoo.runner import load_run
    host, dev = _host(), pick_device(device)
    run = RunDir(run_dir)
    resolved, data, reference_info = load_run_data(run, host)
    section = resolved.recipe.eval
    same = extractor is None or extractor == section.extractor.kind
    recipe_options = {}
    if same:
        recipe_options = (resolved.extractor_config.model_dump(mode="json") if resolved.extractor_config is not None
                          else {k: v for k, v in section.extractor.model_dump().items() if k != "kind"})
    options = EvalOptions.from_section(section, {**recipe_options, **parse_assignments(option or [])},
                                       n_fake=n_fake, n_real=n_real, generator="raw" if raw else None,
                                       batch_size=batch_size, metrics=_metrics(metrics), seed=seed)
    options.extractor = extractor or section.extractor.kind
    loaded = load_run(run_dir, host, dev, prefer_ema=options.generator == "ema")
    which = "ema" if loaded.which == "generator_ema" else "raw"
    with _progress() as progress:
        evaluator = RunEvaluator(host, options, data, reference_info, dev, not no_cache, progress)
        info = {"run": str(run_dir), "run_id": run.read_info().get("run_id"), "step": loaded.step}
        record = evaluator.evaluate(loaded.architecture, loaded.generator, which, info, options.settings.seed)
    metrics_file = run.path / "metrics.jsonl"
    with open(metrics_file, "a") as handle:
        handle.write(json.dumps(record) + "\n")
    _show(record, as_json, f"Appended to {metrics_file}.")


# ---------------------------------------------------------------------- features

features_app = typer.Typer(no_args_is_help=True, help="Feature extractors for metrics: list them, train the "
                                                      "trainable ones (e.g. domain).")
app.add_typer(features_app, name="features")


@features_app.command("list")
@friendly
def features_list(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")):
    """Installed feature extractors: kind, distribution, feature space, trainable or not."""
    rows = [{"kind": p.kind, "distribution": f"{p.distribution} {p.version}".strip(), "space": p.obj.space,
             "trainable": bool(p.obj.trainable), "description": p.obj.description} for p in _host().feature_extractors]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="feature extractors")
    for column in ("kind", "distribution", "space", "trainable", "description"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["kind"], r["distribution"], r["space"], "yes" if r["trainable"] else "no", r["description"])
    console.print(table)


@features_app.command("train")
@friendly
def features_train(kind: str = typer.Argument(..., help="A trainable extractor, e.g. domain."),
                   source: str = typer.Argument(..., help="Labelled data: a recipe, a run directory or a dataset "
                                                          "spec KIND[:field=value,...]."),
                   option: Optional[List[str]] = OptionOpt,
                   force: bool = typer.Option(False, "--force", help="Train again even if a model for this data "
                                                                      "and these options is cached."),
                   device: str = DeviceOpt):
    """Train a feature extractor on labelled real data; it is cached by the data's content hash."""
    from ganzoo.engine.device import pick_device
    from ganzoo.errors import GanzooError, PluginError, RecipeError
    from ganzoo.metrics.inputs import load_labelled_source, parse_assignments
    from pydantic import ValidationError
    host, dev = _host(), pick_device(device)
    cls = host.feature_extractors.get(kind).obj
    if not cls.trainable:
        trainable = [p.kind for p in host.feature_extractors if p.obj.trainable]
        raise PluginError(f"Feature extractor '{kind}' is not trainable (it comes with its own weights). "
                          f"Trainable: {', '.join(trainable) or 'none installed'}.")
    try:
        config = cls.Config.model_validate(parse_assignments(option or []))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise RecipeError(f"Invalid --option for feature extractor '{kind}': {problems}. Accepted options: "
                          f"{', '.join(cls.Config.model_fields)}.") from None
    data, info = load_labelled_source(source, host)
    extractor = cls(config, dev)
    if not force:
        try:
            extractor.load(data)
            console.print(f"A '{kind}' extractor for this data ({len(data):,} images, content SHA-256 "
                          f"{data.content_hash()[:12]}...) is already trained: {extractor.protocol()}. "
                          f"--force trains it again.", highlight=False, soft_wrap=True)
            return
        except GanzooError:  # not trained yet for this data and these options
            pass
    console.print(f"Training the '{kind}' extractor on {len(data):,} images of {info.get('kind')} "
                  f"({len(data.class_names)} classes) on {dev}", highlight=False)
    summary = extractor.train(data, lambda line: console.print(f"  {line}", highlight=False))
    console.print(f"Saved {summary.get('path')} ({summary.get('seconds', 0):.0f}s, held-out accuracy "
                  f"{summary.get('held_out_accuracy', float('nan')):.3f}). `ganzoo eval` and `ganzoo fid` find it "
                  f"by the data's hash; elsewhere pass -o weights={summary.get('path')}.", highlight=False,
                  soft_wrap=True)
