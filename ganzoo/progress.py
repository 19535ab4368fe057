"""Training progress for people: a rich bar on a terminal, plain lines in logs and CI."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ganzoo.engine.loop import Callback


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

    def on_start(self, info: dict[str, Any]) -> None:
        if info["budget_reached"]:
            self.console.print(f"Already trained to step {info['step']}; nothing left to train.")
        elif info["resumed"]:
            self.console.print(f"Resuming from step {info['step']} ({info['images_seen']:,} images seen).")
        self.progress.start()
        # A wall-clock budget has no known step count: the bar then shows the steps done so far.
        self.task = self.progress.add_task("train", total=info["total_steps"], completed=info["step"],
                                           speed="", losses="")

    def on_log(self, record: dict[str, Any]) -> None:
        self.progress.update(self.task, completed=record["step"], speed=f"{record['images_per_s']:.0f} img/s",
                             losses=format_losses(record))

    def on_end(self, summary: dict[str, Any]) -> None:
        self.progress.stop()

    def on_metrics(self, record: dict[str, Any]) -> None:
        self.console.print(format_eval(record), highlight=False, soft_wrap=True, markup=False)  # printed above the bar


class PlainProgress(Callback):
    """One line at most every ``interval`` seconds, and always the last one."""

    def __init__(self, console: Console, interval: float = 10.0):
        self.console, self.interval = console, interval
        self.total, self.last = 0, 0.0

    def on_start(self, info: dict[str, Any]) -> None:
        self.total = info["total_steps"]
        if info["budget_reached"]:
            self.console.print(f"Already trained to step {info['step']}; nothing left to train.")
            return
        verb = f"Resuming at step {info['step']}" if info["resumed"] else "Training"
        budget = f"{self.total} steps" if self.total is not None else f"{info['wall_clock']:g} s of training"
        self.console.print(f"{verb}: {budget}, batch {info['batch_size']}, device {info['device']}")

    def on_log(self, record: dict[str, Any]) -> None:
        now = time.monotonic()
        if now - self.last < self.interval and (self.total is None or record["step"] < self.total):
            return
        self.last = now
        total = f"/{self.total}" if self.total is not None else ""
        self.console.print(f"step {record['step']}{total}  {record['images_per_s']:.0f} img/s  "
                           f"elapsed {record['elapsed_s']:.0f}s  {format_losses(record)}", highlight=False, soft_wrap=True)

    def on_metrics(self, record: dict[str, Any]) -> None:
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
