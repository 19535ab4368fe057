"""What a compare's run directories say: final scores, curves, speed, memory and sizes, per run and per entry.

Everything is read back from the run directories (stats.jsonl, run.json, the latest checkpoint),
so the report can be made again at any time and says only what the runs recorded.
"""
from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

import torch

from ganzoo.compare.recipe import Compare, Entry, PlannedRun
from ganzoo.engine import checkpoint
from ganzoo.host import Host
from ganzoo.rundir import LoadedRun, load_run
from ganzoo.runner import run_dir_of

METRICS = ("fid", "kid", "precision", "recall", "is")  # ranked by the first one scored: IS last, so FID ranks
LOWER_IS_BETTER = {"fid": True, "kid": True, "precision": False, "recall": False, "is": False}
LABELS = {"fid": "FID", "kid": "KID", "precision": "precision", "recall": "recall", "is": "IS"}
SPREADS = ("kid_std", "is_std")  # within one evaluation (over KID subsets, IS splits), kept beside the scores


@dataclass
class RunScores:
    run: PlannedRun
    path: Path
    status: Literal["finished", "unfinished", "not started", "failed"]
    message: str = ""
    step: int = 0
    images_seen: int = 0
    train_seconds: float = 0.0                    # training only: elapsed minus evaluation time
    wall_seconds: float = 0.0                     # training and every evaluation
    scores: dict[str, float] = field(default_factory=dict)  # the evaluation at the last step
    protocol: Optional[dict[str, Any]] = None
    curve: list[dict[str, Any]] = field(default_factory=list)  # every evaluation: images_seen, step, scores
    peak_memory: dict[str, Any] = field(default_factory=dict)
    data_sha256: Optional[str] = None

    @property
    def images_per_s(self) -> Optional[float]:
        return self.images_seen / self.train_seconds if self.train_seconds > 0 else None


def _records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut short by a crash; the resume rewrites it
            continue
    return out


def _peak(sessions: list[dict[str, Any]]) -> dict[str, Any]:
    """The largest peak over a run's sessions (a resumed run has several)."""
    peaks = [s["peak_memory"] for s in sessions if s.get("peak_memory")]
    out: dict[str, Any] = {}
    for key in ("rss_mib", "cuda_max_allocated_mib"):
        values = [p[key] for p in peaks if p.get(key) is not None]
        if values:
            out[key] = max(values)
    if peaks:
        out["rss_since"] = "process" if any(p.get("rss_since") == "process" for p in peaks) else "session"
    return out


def read_run(compare: Compare, run: PlannedRun, failure: str = "") -> RunScores:
    run_dir = run_dir_of(run.resolved)
    files = checkpoint.latest(run_dir.checkpoints) if run_dir.path.exists() else None
    if files is None:
        return RunScores(run, run_dir.path, "failed" if failure else "not started", failure)
    state = checkpoint.load_state(files.state)
    evals = [r for r in _records(run_dir.stats_file) if "eval/protocol" in r and r["step"] <= state["step"]]
    curve = [{"images_seen": r["images_seen"], "step": r["step"],
              **{m: r[f"eval/{m}"] for m in (*METRICS, *SPREADS) if f"eval/{m}" in r}} for r in evals]
    final = evals[-1] if evals and evals[-1]["step"] == state["step"] else None
    train_seconds = state["elapsed"] - state.get("eval_seconds", 0.0)  # elapsed includes every evaluation
    info = run_dir.read_info()
    finished = compare.budget.reached_at(state) and final is not None
    status = "finished" if finished else ("failed" if failure else "unfinished")
    return RunScores(run, run_dir.path, status, failure, state["step"], state["images_seen"], train_seconds,
                     state["elapsed"],
                     {k: v for k, v in curve[-1].items() if k in (*METRICS, *SPREADS)} if final else {},
                     final["eval/protocol"] if final else None, curve, _peak(info.get("sessions", [])),
                     info.get("data", {}).get("content_sha256"))


@dataclass
class Stat:
    mean: float
    std: Optional[float]  # sample standard deviation over seeds; None with one seed
    n: int


def stat(values: list[float]) -> Optional[Stat]:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return None
    return Stat(statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None, len(values))


@dataclass
class EntryResult:
    entry: Entry
    runs: list[RunScores]
    generator_params: Optional[int] = None
    discriminator_params: Optional[int] = None
    conditional: bool = False

    @property
    def finished(self) -> list[RunScores]:
        return [r for r in self.runs if r.status == "finished"]

    def metric(self, name: str) -> Optional[Stat]:
        return stat([r.scores.get(name) for r in self.finished])

    def speed(self) -> Optional[Stat]:
        return stat([r.images_per_s for r in self.finished])

    def wall(self) -> Optional[Stat]:
        return stat([r.wall_seconds for r in self.finished])

    def peak_memory(self) -> dict[str, float]:
        out = {}
        for key in ("rss_mib", "cuda_max_allocated_mib"):
            values = [r.peak_memory[key] for r in self.finished if key in r.peak_memory]
            if values:
                out[key] = max(values)
        return out


def count_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def load_generator(run: RunScores, host: Host) -> LoadedRun:
    """The run's EMA generator (as evaluated), on the CPU."""
    return load_run(run.path, host, torch.device("cpu"), prefer_ema=run.run.resolved.recipe.eval.generator == "ema")


def collect(compare: Compare, host: Host, failures: Optional[dict[str, str]] = None) -> list[EntryResult]:
    """Every entry's runs, in the compare's order, with the networks' sizes from a finished run."""
    failures = failures or {}
    results = []
    for entry in compare.entries:
        runs = [read_run(compare, r, failures.get(r.name, "")) for r in compare.runs if r.entry == entry.name]
        result = EntryResult(entry, runs)
        built = next((r for r in runs if r.status != "not started" and r.status != "failed"), None)
        if built is not None:
            loaded = load_generator(built, host)
            result.generator_params = count_parameters(loaded.generator)
            result.discriminator_params = count_parameters(loaded.architecture.build_discriminator())
            result.conditional = loaded.architecture.conditional
        results.append(result)
    return results


def ranked(results: list[EntryResult], metrics: list[str]) -> list[EntryResult]:
    """Best first by the first metric scored (FID, else KID, ...); entries without scores last."""
    key_metric = next((m for m in METRICS if m in metrics), None)
    if key_metric is None:
        return list(results)

    def key(result: EntryResult):
        s = result.metric(key_metric)
        if s is None:
            return (1, 0.0)
        return (0, s.mean if LOWER_IS_BETTER[key_metric] else -s.mean)

    return sorted(results, key=key)


def scored_metrics(compare: Compare) -> list[str]:
    """The report's metric columns, from eval.metrics (pr is precision and recall; IS only when asked for)."""
    chosen = compare.spec.eval.metrics
    return [m for m in METRICS if m in chosen or (m in ("precision", "recall") and "pr" in chosen)]
