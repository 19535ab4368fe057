"""`ganzoo fid`, `ganzoo eval`, `ganzoo features`, `ganzoo metric-check`: scores with their protocol.

They only wire and draw; the work is in ganzoo.metrics.tasks. Every number printed
comes with its protocol, and --json prints the record with the full protocol.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ganzoo.cli import progress
from ganzoo.cli.common import DeviceOption, JsonOption, console, err_console, exit_on_user_error, plugin_host

OptionOpt = typer.Option(None, "--option", "-o", help="Feature extractor option name=value (repeatable), e.g. "
                                                      "-o weights=/path/pt_inception-2015-12-05-6726825d.pth.")
MetricsHelp = "Comma-separated: fid, kid, pr (precision and recall), is (Inception Score; inception extractor only)."

BatchOpt = typer.Option(32, "--batch-size", min=1, help="Images per extractor batch: results do not depend on "
                                                        "it, memory does (~14 MiB per image for Inception).")
JsonOpt = typer.Option(False, "--json", help="Print the record (scores and full protocol) as JSON.")
NoCacheOpt = typer.Option(False, "--no-cache", help="Neither read nor write cached reference statistics.")


def _metrics(value: Optional[str]) -> Optional[list[str]]:
    return [m.strip() for m in value.split(",") if m.strip()] if value else None


def _options(option: Optional[list[str]]) -> dict:
    from ganzoo.metrics.inputs import parse_assignments
    return parse_assignments(option or [])


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
    if "is" in protocol:
        details.append(f"IS over {protocol['is']['splits']} splits of {protocol['is']['images']:,} fakes "
                       f"({protocol['is']['classifier']})")
    if "reference_cached" in protocol:
        cached = protocol["reference_cached"]
        details.append("reference statistics " + ("from the cache" if cached else "computed and cached"))
    if details:
        console.print("; ".join(details) + ".", highlight=False, soft_wrap=True)
    if protocol.get("note"):
        console.print(f"[yellow]note:[/] {protocol['note']}.", highlight=False, soft_wrap=True)
    if extra:
        console.print(extra, highlight=False, soft_wrap=True)


@exit_on_user_error
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
        batch_size: int = BatchOpt, device: str = DeviceOption, no_cache: bool = NoCacheOpt, as_json: bool = JsonOpt):
    """FID (with --metrics, KID, precision/recall or A's IS) of A against the reference B, as pytorch-fid's `A B`."""
    from ganzoo.engine.device import pick_device
    from ganzoo.metrics import tasks
    from ganzoo.metrics.evaluate import MetricSettings
    settings = MetricSettings(tuple(_metrics(metrics) or ()), seed=seed)
    with progress.features() as report:
        outcome = tasks.fid(a, b, plugin_host(), pick_device(device), settings, extractor, _options(option), n_fake,
                            n_real, not raw, batch_size, not no_cache, save_stats, report)
    extra = ""
    if save_stats:
        extra = f"Wrote the statistics of {outcome.first.n:,} images ({outcome.first_label}) to {save_stats}."
    if outcome.record is None:
        if as_json:
            typer.echo(json.dumps({"saved": str(save_stats), "n": outcome.first.n, "protocol": outcome.first.meta},
                                  indent=2))
        else:
            console.print(extra, highlight=False, soft_wrap=True)
        return
    _show(outcome.record, as_json, extra)


@exit_on_user_error
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
          device: str = DeviceOption, no_cache: bool = NoCacheOpt, as_json: bool = JsonOpt):
    """Score a run's (EMA) generator against the data it was trained on; appends to RUN_DIR/metrics.jsonl."""
    from ganzoo.engine.device import pick_device
    from ganzoo.metrics import tasks
    with progress.features() as report:
        record, metrics_file = tasks.evaluate_run(
            run_dir, plugin_host(), pick_device(device), extractor, _options(option), report, not no_cache,
            n_fake=n_fake, n_real=n_real, generator="raw" if raw else None, batch_size=batch_size,
            metrics=_metrics(metrics), seed=seed)
    _show(record, as_json, f"Appended to {metrics_file}.")


@exit_on_user_error
def features_list(as_json: bool = JsonOption):
    """Installed feature extractors: kind, distribution, feature space, trainable or not."""
    rows = [{"kind": p.kind, "distribution": f"{p.distribution} {p.version}".strip(), "space": p.obj.space,
             "trainable": bool(p.obj.trainable), "description": p.obj.description}
            for p in plugin_host().feature_extractors]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="feature extractors")
    for column in ("kind", "distribution", "space", "trainable", "description"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["kind"], r["distribution"], r["space"], "yes" if r["trainable"] else "no", r["description"])
    console.print(table)


@exit_on_user_error
def features_train(kind: str = typer.Argument(..., help="A trainable extractor, e.g. domain."),
                   source: str = typer.Argument(..., help="Real data: a recipe, a run directory, a dataset spec "
                                                          "KIND[:field=value,...] or a folder of same-sized images."),
                   option: Optional[List[str]] = OptionOpt,
                   force: bool = typer.Option(False, "--force", help="Train again even if a model for this data "
                                                                      "and these options is cached."),
                   device: str = DeviceOption):
    """Train a feature extractor on real data (labels help when it uses them); cached by the data's content hash."""
    from ganzoo.engine.device import pick_device
    from ganzoo.metrics import tasks
    dev = pick_device(device)

    def starting(images: int, info: dict, classes: int) -> None:
        labels = f"{classes} classes" if classes > 1 else "no labels"
        console.print(f"Training the '{kind}' extractor on {images:,} images of {info.get('kind')} "
                      f"({labels}) on {dev}", highlight=False)

    done = tasks.train_extractor(kind, source, _options(option), plugin_host(), dev, force,
                                 lambda line: console.print(f"  {line}", highlight=False), starting)
    if done.summary is None:
        console.print(f"A '{kind}' extractor for this data ({done.images:,} images, content SHA-256 "
                      f"{done.content_hash[:12]}...) is already trained: {done.protocol}. "
                      f"--force trains it again.", highlight=False, soft_wrap=True)
        return
    summary = done.summary
    measured = ", ".join(f"{k.replace('_', ' ')} {v:.3f}" for k, v in summary.items()
                         if k.startswith("held_out") and isinstance(v, float))
    took = f"{summary.get('seconds', 0):.0f}s" + (f", {measured}" if measured else "")
    console.print(f"Saved {summary.get('path')} ({took}). `ganzoo eval` and `ganzoo fid` find it by the "
                  f"data's hash; elsewhere pass -o weights={summary.get('path')}.", highlight=False, soft_wrap=True)


def _number(value: Optional[float], digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def sanity_table(report) -> Table:
    """The cases of a metric-check as a rich table (FID, KID, precision, recall, verdict)."""
    colours = {"pass": "green", "fail": "red", "floor": "bold", "n/a": "yellow", "skipped": "dim"}
    table = Table(title=f"{report.extractor['kind']} ({report.extractor.get('space', '')}): "
                        f"{report.images_per_side:,} images per side", title_justify="left")
    for column in ("case", "FID", "KID", "precision", "recall", "verdict"):
        table.add_column(column, justify="left" if column in ("case", "verdict") else "right")
    for case in report.cases:
        verdict = f"[{colours[case.status]}]{case.status}[/]" + (f" ({escape(case.note)})" if case.note else "")
        table.add_row(escape(case.label), _number(case.fid), _number(case.kid), _number(case.precision, 3),
                      _number(case.recall, 3), verdict)
    return table


@exit_on_user_error
def metric_check(data: str = typer.Argument(..., help="Real images: a dataset spec KIND[:field=value,...], a "
                                                      "recipe, a run directory or a folder of same-sized images."),
                 extractor: Optional[str] = typer.Option(None, "--extractor", "-e", help="Feature extractor "
                                                         "(default: the recipe default, inception)."),
                 option: Optional[List[str]] = OptionOpt,
                 images: Optional[int] = typer.Option(None, "--images", min=1, help="Images per half (default: "
                                                      "half the data, at most 5,000)."),
                 seed: int = typer.Option(0, "--seed", min=0, help="Seeds the halves and the corruptions."),
                 train: bool = typer.Option(False, "--train", help="A trainable extractor (domain) with no model "
                                                                   "for this data yet is trained on it first."),
                 batch_size: int = BatchOpt, as_json: bool = JsonOpt, device: str = DeviceOption):
    """Check that a feature space sees what a shopper sees: scores of damaged real images against the floor.

    Exit code 0 when every check passes, 1 when one fails, 2 for bad input.
    """
    from ganzoo.engine.device import pick_device
    from ganzoo.metrics import tasks
    with progress.features() as report_progress:
        report = tasks.metric_check(data, plugin_host(), pick_device(device), extractor, _options(option), images,
                                    seed, batch_size, report_progress, train,
                                    lambda line: err_console.print(f"  {line}", highlight=False, markup=False))
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        console.print(sanity_table(report))
        console.print(f"Margin: {report.margin}; floor FID {report.cases[0].fid:.4g}, reference total variance "
                      f"{report.total_variance:.4g}. {report.seconds:.0f}s.", highlight=False, soft_wrap=True)
        for check in report.checks:
            mark = "[green]ok[/]  " if check.passed else "[red]FAIL[/]"
            console.print(f"{mark} {escape(check.what)}", highlight=False, soft_wrap=True)
        verdict = ("[green]Every check passed.[/]" if report.passed else
                   f"[red]{len(report.failed)} check(s) failed:[/] this feature space cannot rank generators that "
                   f"differ in those ways.")
        console.print(verdict, highlight=False)
    if not report.passed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(fid)
    app.command("eval")(eval_)
    app.command("metric-check")(metric_check)
    features_app = typer.Typer(no_args_is_help=True, help="Feature extractors for metrics: list them, train the "
                                                          "trainable ones (e.g. domain).")
    features_app.command("list")(features_list)
    features_app.command("train")(features_train)
    app.add_typer(features_app, name="features")
