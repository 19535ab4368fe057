"""Progress for people, one factory per kind of work: a rich bar on a terminal, plain lines in logs and CI.

- ``training(console)``: a training callback (``RichProgress`` or ``PlainProgress``)
- ``images(total, label)``: a per-image callback for generating and post-processing
- ``features()``: a per-source callback for feature extraction (on stderr)
"""
from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ganzoo.cli.common import console as default_console
from ganzoo.cli.common import err_console
from ganzoo.engine.loop import Callback


def _bar(*columns: Any, console: Console, transient: bool = False) -> Progress:
    return Progress(*columns, BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("eta"),
                    TimeRemainingColumn(), console=console, transient=transient)


def format_losses(record: dict[str, Any], limit: int = 4) -> str:
    keys = [k for k in record if "/" in k][:limit]
    return "  ".join(f"{k} {record[k]:.3f}" for k in keys)


class RichProgress(Callback):
    def __init__(self, console: Console):
        self.console = console
        self.progress = Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[speed]}"), TimeElapsedColumn(), TextColumn("eta"),
                                 TimeRemainingColumn(), TextColumn("{task.fields[losses]}"), console=console)
        self.task = None

    def on_start(self, trainer, info: dict[str, Any]) -> None:
        if info["budget_reached"]:
            self.console.print(f"Already trained to step {info['step']}; nothing left to train.")
        elif info["resumed"]:
            self.console.print(f"Resuming from step {info['step']} ({info['images_seen']:,} images seen).")
        self.progress.start()
        # A wall-clock budget has no known step count: the bar then shows the steps done so far.
        self.task = self.progress.add_task("train", total=info["total_steps"], completed=info["step"],
                                           speed="", losses="")

    def on_log(self, trainer, record: dict[str, Any]) -> None:
        self.progress.update(self.task, completed=record["step"], speed=f"{record['images_per_s']:.0f} img/s",
                             losses=format_losses(record))

    def on_end(self, trainer, summary: dict[str, Any]) -> None:
        self.progress.stop()

    def on_metrics(self, trainer, record: dict[str, Any]) -> None:
        self.console.print(format_eval(record), highlight=False, soft_wrap=True, markup=False)  # printed above the bar


class PlainProgress(Callback):
    """One line at most every ``interval`` seconds, and always the last one."""

    def __init__(self, console: Console, interval: float = 10.0):
        self.console, self.interval = console, interval
        self.total, self.last = 0, 0.0

    def on_start(self, trainer, info: dict[str, Any]) -> None:
        self.total = info["total_steps"]
        if info["budget_reached"]:
            self.console.print(f"Already trained to step {info['step']}; nothing left to train.")
            return
        verb = f"Resuming at step {info['step']}" if info["resumed"] else "Training"
        budget = f"{self.total} steps" if self.total is not None else f"{info['wall_clock']:g} s of training"
        self.console.print(f"{verb}: {budget}, batch {info['batch_size']}, device {info['device']}")

    def on_log(self, trainer, record: dict[str, Any]) -> None:
        now = time.monotonic()
        if now - self.last < self.interval and (self.total is None or record["step"] < self.total):
            return
        self.last = now
        total = f"/{self.total}" if self.total is not None else ""
        self.console.print(f"step {record['step']}{total}  {record['images_per_s']:.0f} img/s  "
                           f"elapsed {record['elapsed_s']:.0f}s  {format_losses(record)}", highlight=False,
                           soft_wrap=True)

    def on_metrics(self, trainer, record: dict[str, Any]) -> None:
        self.console.print(format_eval(record), highlight=False, soft_wrap=True, markup=False)


def format_eval(record: dict[str, Any]) -> str:
    """One line for a periodic evaluation record: the scores and their protocol."""
    from ganzoo.metrics.report import format_protocol, format_scores
    return (f"eval at step {record['step']}: {format_scores(record, 'eval/')}  "
            f"[{format_protocol(record['eval/protocol'])}]")


def describe_run_dir(path: Path) -> list[str]:
    """Lines saying what a run directory holds, for the end of `ganzoo run`."""
    lines = []
    for name in ("recipe.resolved.json", "run.json"):
        if (path / name).exists():
            lines.append(name)
    stats = path / "stats.jsonl"
    if stats.exists():
        lines.append(f"stats.jsonl ({sum(1 for _ in stats.open())} records)")
    grids = sorted((path / "grids").glob("fakes*.png"))
    if grids:
        lines.append(f"grids/ ({len(grids)} sample grids, latest {grids[-1].name})")
    ckpts = sorted((path / "checkpoints").glob("step-*.safetensors"))
    if ckpts:
        lines.append(f"checkpoints/ (latest {ckpts[-1].name})")
    for sub in sorted(p for p in path.iterdir() if p.is_dir() and p.name not in ("grids", "checkpoints")):
        count = sum(1 for f in sub.rglob("*") if f.is_file())
        lines.append(f"{sub.name}/ ({count} files)")
    return lines


def training(console: Console = default_console) -> Callback:
    """The training callback for this console: a bar on a terminal, plain lines otherwise."""
    return RichProgress(console) if console.is_terminal else PlainProgress(console)


class ImageProgress:
    """Per-image callback: a rich progress bar that appears with the first image (on a terminal only)."""

    def __init__(self, total: int, label: str, console: Console = default_console):
        self.total, self.label, self.console = total, label, console
        self.progress: Optional[Progress] = None

    def __call__(self, path: Path) -> None:
        if not self.console.is_terminal:
            return
        if self.progress is None:
            self.progress = _bar(TextColumn(f"[bold]{self.label}"), console=self.console)
            self.progress.start()
            self.task = self.progress.add_task(self.label, total=self.total)
        self.progress.advance(self.task)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


@contextlib.contextmanager
def images(total: int, label: str) -> Iterator[Callable[[Path], None]]:
    """An ImageProgress that is closed afterwards, whatever happens."""
    bar = ImageProgress(total, label)
    try:
        yield bar
    finally:
        bar.close()


@contextlib.contextmanager
def features(title: Optional[str] = None) -> Iterator[Callable[[str, int, int], None]]:
    """A callback for feature extraction: a bar on a terminal, one line per source otherwise (stderr).
    ``title`` replaces "features" / "Extracting features" for other work done in labelled stages."""
    if err_console.is_terminal:
        bar = _bar(TextColumn(f"{title or 'features'}: {{task.description}}"), console=err_console, transient=True)
        tasks: dict[str, Any] = {}

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
                err_console.print(f"{title or 'Extracting features'}: {label} ({total:,} images)", highlight=False)

        yield report


@contextlib.contextmanager
def decoding(label: str, total: int, interval: float = 10.0) -> Iterator[Callable[[int], None]]:
    """Progress of decoding a dataset (``ganzoo.datacache``): a bar on a terminal, a line every ``interval``
    seconds and one at the end otherwise (stderr, so ``--json`` output stays clean)."""
    started = time.monotonic()
    if err_console.is_terminal:
        bar = _bar(TextColumn(f"[bold]{label}"), console=err_console, transient=True)
        task = bar.add_task(label, total=total)
        with bar:
            yield lambda done: bar.update(task, completed=done)
    else:
        last = [started]

        def report(done: int) -> None:
            now = time.monotonic()
            if now - last[0] >= interval and done < total:
                last[0] = now
                err_console.print(f"{label}: {done:,}/{total:,} ({done / (now - started):.0f} images/s)",
                                  highlight=False)

        err_console.print(label, highlight=False)
        yield report
    err_console.print(f"{label}: done in {time.monotonic() - started:.1f} s", highlight=False)
