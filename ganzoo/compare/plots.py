"""The report's curves: each metric against real images seen, one colour per entry, one line per seed.

matplotlib draws them (headless, Agg backend) into PNG files.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed; must come before pyplot is imported
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import EngFormatter  # noqa: E402

from ganzoo.compare.results import LABELS, LOWER_IS_BETTER, EntryResult  # noqa: E402
from ganzoo.fileio import atomic_path  # noqa: E402

STYLES = ("-", "--", ":", "-.")


def curve_plot(results: list[EntryResult], metric: str, path: Path, note: str = "") -> Path:
    """One PNG: ``metric`` of every run's evaluations against images seen."""
    fig, ax = plt.subplots(figsize=(5.6, 3.9), dpi=110)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, result in enumerate(results):
        colour = colours[index % len(colours)]
        labelled = False
        for n, run in enumerate(result.runs):
            points = [(p["images_seen"], p[metric]) for p in run.curve if metric in p]
            if not points:
                continue
            xs, ys = zip(*points)
            ax.plot(xs, ys, STYLES[n % len(STYLES)], color=colour, marker="o", markersize=3, linewidth=1.4,
                    label=None if labelled else result.entry.name)
            labelled = True
    better = "lower is better" if LOWER_IS_BETTER[metric] else "higher is better"
    ax.set_title(f"{LABELS[metric]} ({better})", fontsize=11)
    ax.set_xlabel("real images seen" + (f"  ({note})" if note else ""), fontsize=9)
    ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    ax.grid(True, alpha=0.3)
    values = [y for line in ax.get_lines() for y in line.get_ydata()]
    if metric in ("fid", "kid") and values and min(values) > 0 and max(values) / min(values) > 20:
        ax.set_yscale("log")  # early FIDs are often 10-100x the final ones (KID can be negative: then linear)
    handles = ax.get_legend_handles_labels()[0]
    if handles:  # below the axes, where it hides no line
        ax.legend(fontsize=8, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.2),
                  ncol=min(len(handles), 4))
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path
