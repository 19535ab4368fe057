"""`ganzoo compare COMPARE.yaml`: entries trained under one protocol, and a report.

It only wires and draws; the work is in ganzoo.compare.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ganzoo.cli import progress
from ganzoo.cli.common import console, err_console, exit_on_user_error, plugin_host, say

CompareSetOption = typer.Option(None, "--set", help="Override a compare field, e.g. --set budget.images=20000 "
                                                    "(repeatable).")


@exit_on_user_error
def compare(file: Path = typer.Argument(..., help="Compare recipe YAML (see docs/compare.md)."),
            set_: Optional[List[str]] = CompareSetOption,
            fresh: bool = typer.Option(False, "--fresh", help="Archive this compare's run directories and train "
                                                              "every run again."),
            dry_run: bool = typer.Option(False, "--dry-run", help="Check everything and show the plan; train "
                                                                  "nothing.")):
    """Train each entry once per seed on the same data, budget and evaluation; write report.md and report.html.

    Rerunning skips finished runs and resumes unfinished ones.
    """
    from ganzoo.compare.recipe import load_compare
    from ganzoo.compare.results import collect
    from ganzoo.compare.run import check_and_plan, train_here, train_on_gpus, write_plan
    from ganzoo.compare.tables import leaderboard
    host = plugin_host()
    spec = load_compare(file, host, set_ or [])
    console.print(f"Compare [bold]{file}[/]: {len(spec.entries)} entries x {len(spec.spec.seeds)} seed(s) on "
                  f"{spec.data['kind']}, {spec.budget_label} per run -> {spec.output}", highlight=False)
    prepared = check_and_plan(spec, host, fresh, say, dry_run)
    plan = {"new": "train", "partial": "resume", "finished": "finished, skipped"}
    for status in prepared.statuses:
        console.print(f"  {status.run.name}: {plan[status.state]}" + (f" ({status.detail})" if status.detail else ""),
                      highlight=False)
    if prepared.sanity is not None:
        failed = [c["what"] for c in prepared.sanity["checks"] if not c["passed"]]
        floor = next(c["fid"] for c in prepared.sanity["cases"] if c["name"] == "floor")
        if failed:
            err_console.print(f"[yellow]warning:[/] the feature space failed {len(failed)} check(s) on corrupted "
                              f"real images ({'; '.join(failed)}): the ranking may not reflect what a person sees. "
                              f"See the report's sanity section.", highlight=False, soft_wrap=True)
        else:
            say(f"Feature space checked: every corruption of the real images scores clearly above the floor "
                f"(real vs real FID {floor:.4g}).")
    if dry_run:
        console.print("Dry run: everything checks out; nothing was trained.")
        return
    from ganzoo.compare.report import write_report  # matplotlib: only once there is something to draw
    write_plan(spec)
    try:
        if prepared.gpus:
            say(f"{len(prepared.gpus)} GPUs: one run per GPU at a time ({', '.join(prepared.gpus)}).")
            outcomes = train_on_gpus(spec, prepared, fresh, say)
        else:
            def callbacks(status, index, total):
                verb = "resuming" if status.state == "partial" else "training"
                console.print(f"[bold][{index + 1}/{total}] {status.run.name}[/]: {verb} "
                              f"{status.run.resolved.recipe.architecture.kind}, seed {status.run.seed}",
                              highlight=False)
                return [progress.training()]

            outcomes = train_here(spec, prepared, host, fresh, callbacks)
    except KeyboardInterrupt:
        err_console.print("Interrupted. Run the same command again: finished runs are kept and unfinished ones "
                          "resume from their last checkpoint.")
        raise typer.Exit(130)
    failures = {o.name: o.message for o in outcomes if not o.ok}
    results = collect(spec, host, failures)
    paths = write_report(spec, results, host, prepared.data)
    board = leaderboard(spec, results)
    table = Table(title=f"{file.stem}: {spec.budget_label} per run, mean ± std over seeds", box=box.SIMPLE_HEAD)
    for header, align in zip(board.header, board.align):
        table.add_column(header, justify="right" if align == "r" else "left", no_wrap=align == "r")
    for row in board.rows:
        table.add_row(*row)
    # A terminal gets what fits it; logs and pipes get whole lines rather than a table squeezed to 80 columns.
    wide = console if console.is_terminal else Console(file=console.file, width=max(console.width, 240))
    wide.print(table)
    for caveat in json.loads(paths["json"].read_text()).get("warnings", []):
        err_console.print(f"[yellow]warning:[/] {escape(caveat['title'])}: {escape(caveat['text'])}",
                          highlight=False, soft_wrap=True)
    console.print(f"Report: {paths['html']} (and {paths['md'].name}, {paths['json'].name})", highlight=False)
    for name, message in failures.items():
        err_console.print(f"[red]failed:[/] {name}: {message}", highlight=False, soft_wrap=True)
    if failures:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(compare)
