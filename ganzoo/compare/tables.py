"""The report's tables (leaderboard, runs, entries) and number formats, for markdown, HTML and the terminal."""
from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import Optional

from ganzoo.compare.recipe import Compare
from ganzoo.compare.results import LABELS, LOWER_IS_BETTER, EntryResult, Stat, ranked, scored_metrics

DIGITS = {"fid": 2, "kid": 4, "precision": 3, "recall": 3, "is": 2}


# ------------------------------------------------------------------ formatting

def fmt_stat(s: Optional[Stat], digits: int) -> str:
    if s is None:
        return "—"
    return f"{s.mean:.{digits}f}" + (f" ± {s.std:.{digits}f}" if s.std is not None else "")


def fmt_count(n: Optional[int]) -> str:
    if n is None:
        return "—"
    return f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.1f} k" if n >= 1e3 else str(n)


def fmt_seconds(s: Optional[float]) -> str:
    if s is None:
        return "—"
    if s < 10:
        return f"{s:.1f}s"
    s = round(s)
    return f"{s // 3600}h {s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m {s % 60:02d}s" if s >= 60 else f"{s}s"


def memory_kind(peaks: list[dict[str, float]]) -> str:
    """CUDA when any run trained on a GPU (its allocator's peak), else RSS (the process's resident set)."""
    return "CUDA" if any("cuda_max_allocated_mib" in p for p in peaks) else "RSS"


def fmt_memory(peak: dict[str, float], kind: str) -> str:
    value = peak.get("cuda_max_allocated_mib" if kind == "CUDA" else "rss_mib")
    return "—" if value is None else f"{value:,.0f} MiB"


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    align: str = ""  # one letter per column: "l" (left) or "r" (right)
    css: str = ""

    def markdown(self) -> str:
        align = self.align or "l" * len(self.header)
        lines = ["| " + " | ".join(self.header) + " |",
                 "| " + " | ".join("---:" if a == "r" else "---" for a in align) + " |"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in self.rows]
        return "\n".join(lines)

    def html(self) -> str:
        align = self.align or "l" * len(self.header)
        head = "".join(f"<th class='{a}'>{html.escape(h)}</th>" for h, a in zip(self.header, align))
        body = "".join("<tr>" + "".join(f"<td class='{a}'>{html.escape(c)}</td>" for c, a in zip(row, align))
                       + "</tr>" for row in self.rows)
        return f"<table class='{self.css}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def leaderboard(compare: Compare, results: list[EntryResult]) -> Table:
    metrics = scored_metrics(compare)
    arrows = {m: "↓" if LOWER_IS_BETTER[m] else "↑" for m in metrics}
    kind = memory_kind([e.peak_memory() for e in results])
    table = Table(["#", "entry", "architecture", *[f"{LABELS[m]} {arrows[m]}" for m in metrics], "G params",
                   "D params", "images/s", "wall time", f"peak {kind}", "seeds"],
                  align="rll" + "r" * (len(metrics) + 6), css="board")
    for rank, result in enumerate(ranked(results, metrics), 1):
        speed, wall = result.speed(), result.wall()
        table.rows.append([str(rank), result.entry.name, result.entry.kind,
                           *[fmt_stat(result.metric(m), DIGITS[m]) for m in metrics],
                           fmt_count(result.generator_params), fmt_count(result.discriminator_params),
                           f"{speed.mean:,.0f}" if speed else "—", fmt_seconds(wall.mean if wall else None),
                           fmt_memory(result.peak_memory(), kind), f"{len(result.finished)}/{len(result.runs)}"])
    return table


def runs_table(results: list[EntryResult]) -> Table:
    kind = memory_kind([r.peak_memory for e in results for r in e.runs])
    table = Table(["run", "status", "steps", "real images seen", "batch", "training time", "eval time",
                   "images/s", f"peak {kind}", "run directory"], align="llrrrrrrrl")
    for result in results:
        for run in result.runs:
            speed = run.images_per_s
            status = run.status + (f": {run.message}" if run.message else "")
            table.rows.append([run.run.name, status, f"{run.step:,}", f"{run.images_seen:,}",
                               str(run.run.resolved.recipe.train.batch_size), fmt_seconds(run.train_seconds),
                               fmt_seconds(run.wall_seconds - run.train_seconds), f"{speed:,.0f}" if speed else "—",
                               fmt_memory(run.peak_memory, kind), str(run.path)])
    return table


def entries_table(results: list[EntryResult]) -> Table:
    table = Table(["entry", "from", "architecture config (every field, defaults filled in)"])
    for result in results:
        architecture = result.runs[0].run.resolved.to_dict()["architecture"]
        config = ", ".join(f"{k}: {json.dumps(v)}" for k, v in architecture.items())
        table.rows.append([result.entry.name, result.entry.origin, config])
    return table
