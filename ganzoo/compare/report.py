"""The compare report: report.md beside its PNGs, and report.html with the same images embedded.

Both are made from one set of sections (leaderboard and its warnings, fairness, samples beside the real
data, curves, sanity of the feature space, protocol, runs), so they always say the same; the CLI prints
the leaderboard from the same rows.
"""
from __future__ import annotations

import base64
import html
import json
import time
from pathlib import Path
from typing import Any, Optional

import ganzoo
from ganzoo.api import ImageData
from ganzoo.compare.caveats import Caveat, Sanity, leaderboard_caveats, load_sanity, sanity_lines, sanity_table
from ganzoo.compare.copies import EntryCopies, copies_note, copy_checks
from ganzoo.compare.grids import real_grid, sample_grids
from ganzoo.compare.plots import curve_plot
from ganzoo.compare.recipe import Compare
from ganzoo.compare.results import LABELS, EntryResult, RunScores, Stat, ranked, scored_metrics
from ganzoo.compare.tables import Table, entries_table, leaderboard, runs_table
from ganzoo.fileio import write_bytes, write_json
from ganzoo.host import Host
from ganzoo.metrics.report import format_protocol
from ganzoo.rundir import RunDir, recipe_differences

# ------------------------------------------------------------------ content

def fairness(compare: Compare, results: list[EntryResult]) -> list[str]:
    """What every run shares, said from what the runs recorded, and the training settings that differ."""
    spec, runs = compare.spec, [r for e in results for r in e.runs]
    data = ", ".join(f"{k} {v}" for k, v in compare.data.items() if v is not None)
    hashes = {r.data_sha256 for r in runs if r.data_sha256}
    same_data = (f"every run recorded the same content SHA-256, {next(iter(hashes))[:16]}…" if len(hashes) == 1
                 else f"**the runs recorded {len(hashes)} different content hashes: the data changed between "
                      f"runs**" if hashes else "no run has recorded it yet")
    batches = {e.entry.name: sorted({r.run.resolved.recipe.train.batch_size for r in e.runs}) for e in results}
    budget = spec.budget
    if budget.images is not None:
        seen = "; ".join(f"{e.entry.name} " + ", ".join(f"{r.images_seen:,}" for r in e.finished)
                         for e in results if e.finished)
        updates = "; ".join(f"{e.entry.name} " + ", ".join(f"{r.step:,}" for r in e.finished)
                            for e in results if e.finished)
        budget_line = (f"**Budget**: {budget.images:,} real images shown to the discriminator per run; each run "
                       f"stops at the first step at or past it, so runs differ by less than one step's images "
                       f"(seen: {seen or 'no run finished yet'}). Under an image budget an architecture that "
                       f"shows several real batches per generator update (several critic steps, say) makes fewer "
                       f"generator updates (made: {updates or 'no run finished yet'}).")
    else:
        budget_line = (f"**Budget**: {budget.wall_clock:g} s of training per run (evaluation time excluded), "
                       f"measured on {_devices(runs)}. Wall-clock budgets are only fair on the same, otherwise idle, "
                       f"hardware, and are not reproducible.")
    lines = [
        f"**Data**: {data}; {same_data}.",
        f"**Data order**: for each seed, every entry sees the same sequence of real images: the engine draws it "
        f"from its own generator seeded with the run's seed + 1, whatever the architecture, and cuts batches "
        f"from it in order (batch sizes: {', '.join(f'{k} {v[0]}' for k, v in batches.items() if v)}).",
        f"**Seeds**: {', '.join(map(str, spec.seeds))}; run seed s seeds the initial weights, latents and "
        f"augmentation draws of every entry (the draws interleave with each architecture's own, so they are the "
        f"same seed and policy, not image-for-image the same augmentations).",
        budget_line,
        f"**Evaluation**: one protocol for every run (below), on the "
        f"{'EMA' if spec.eval.generator == 'ema' else 'raw'} generator at each run's last step; curves from the "
        f"same evaluation every {compare.runs[0].resolved.recipe.eval.every_images:,} real images.",
    ]
    initialised = _initialisation(results)
    if initialised:
        lines.append(initialised)
    differing = _differing_settings(results)
    lines.append("**Training settings that differ between entries**: " +
                 ("; ".join(differing) if differing else "none (all entries share every `train` setting)") + ".")
    return lines


def _initialisation(results: list[EntryResult]) -> Optional[str]:
    """Which entries start from a parent run's weights (recipe ``init``), and what that parent had seen."""
    inits = {e.entry.name: (e.runs[0].run.resolved.recipe.init, e.runs) for e in results}
    if not any(init for init, _ in inits.values()):
        return None
    said = []
    for name, (init, runs) in inits.items():
        if init is None:
            said.append(f"{name}: from scratch")
            continue
        seen = {RunDir(r.path).read_info().get("init", {}).get("images_seen") for r in runs} - {None}
        parent = f" (the parent had seen {', '.join(f'{n:,}' for n in sorted(seen))} real images)" if seen else ""
        said.append(f"{name}: fine-tuned from `{init.path}`{parent}")
    return (f"**Initialisation**: {'; '.join(said)}. The budget counts each run's own images only; the "
            f"parent checkpoint and its SHA-256 are in each run's run.json (`init`).")


def _devices(runs: list[RunScores]) -> str:
    devices = {s.get("device", "?") for run in runs for s in RunDir(run.path).read_info().get("sessions", [])}
    return ", ".join(sorted(devices)) or "(no run started yet)"


def _differing_settings(results: list[EntryResult]) -> list[str]:
    trains = {e.entry.name: e.runs[0].run.resolved.to_dict()["train"] for e in results}
    first = next(iter(trains.values()))
    keys = set()
    for other in list(trains.values())[1:]:
        keys.update(d.split(":")[0] for d in recipe_differences(first, other, ignore=("images", "wall_clock", "steps")))
    return [f"train.{key}: " + ", ".join(f"{name} {json.dumps(_at(t, key))}" for name, t in trains.items())
            for key in sorted(keys)]


def _at(mapping: dict, dotted: str) -> Any:
    for part in dotted.split("."):
        mapping = mapping.get(part, "—") if isinstance(mapping, dict) else "—"
    return mapping


def protocol_lines(compare: Compare, results: list[EntryResult]) -> tuple[list[str], Optional[dict]]:
    protocol = next((r.protocol for e in results for r in e.finished if r.protocol), None)
    spec = compare.spec
    lines = []
    if protocol:
        without_step = {**protocol, "fake": {k: v for k, v in protocol.get("fake", {}).items() if k != "step"}}
        lines.append(f"`{format_protocol(without_step)}`, at each run's last step.")
        ex = protocol.get("extractor", {})
        lines.append(f"Feature extractor **{ex.get('kind')}** ({ex.get('space')}, {ex.get('dims')}-d, "
                     f"{ex.get('provider')}), weights SHA-256 {str(ex.get('weights_sha256', '—'))[:16]}; "
                     + ("comparable to published FIDs." if ex.get("comparable_to_published")
                        else "**not comparable to published FIDs**: compare these numbers with each other only."))
        if "kid" in protocol:
            lines.append(f"KID: {protocol['kid']['subsets']} subsets of {protocol['kid']['subset_size']:,}, kernel "
                         f"{protocol['kid']['kernel']}.")
        if "pr" in protocol:
            lines.append(f"Precision and recall: k = {protocol['pr']['k']}, on {protocol['pr']['fake_pool']:,} fake "
                         f"and {protocol['pr']['real_pool']:,} real features.")
    else:
        lines.append("No run has finished yet, so no protocol has been recorded.")
    lines.append(f"Settings: {spec.eval.n_fake:,} generated images per evaluation against "
                 f"{'all' if spec.eval.n_real is None else f'{spec.eval.n_real:,}'} real images, metrics "
                 f"{', '.join(spec.eval.metrics)}, evaluation seed {spec.eval.seed}, extractor options "
                 f"{json.dumps({k: v for k, v in spec.eval.extractor.model_dump().items() if k != 'kind'})}.")
    lines.append("Mean ± sample standard deviation over the seeds that finished; images/s counts real images per "
                 "second of training (evaluation excluded); wall time includes evaluation; peak memory is the "
                 "largest over seeds: the process's resident set (RSS, including the interpreter and PyTorch) "
                 "on a CPU, PyTorch's allocator peak (CUDA) on a GPU.")
    return lines, protocol


# ------------------------------------------------------------------ images

def curve_plots(compare: Compare, results: list[EntryResult], folder: Path) -> dict[str, Path]:
    note = "each seed a line style" if len(compare.spec.seeds) > 1 else ""
    return {m: curve_plot(results, m, folder / f"curve-{m}.png", note) for m in scored_metrics(compare)
            if any(m in p for e in results for r in e.runs for p in r.curve)}


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


# ------------------------------------------------------------------ writing

def write_report(compare: Compare, results: list[EntryResult], host: Host,
                 data: Optional[ImageData] = None) -> dict[str, Path]:
    """Every section into report.md, report.html and leaderboard.json; ``data``: the compare's real images when
    the caller has them loaded (else loaded again for the real grid)."""
    folder = compare.output / "report"
    grids = sample_grids(compare, results, host, folder)
    real = real_grid(compare, results, host, folder, data)
    copies = copy_checks(compare, results, host, folder, data)
    curves = curve_plots(compare, results, folder)
    board = leaderboard(compare, results)
    runs = runs_table(results)
    entries = entries_table(results)
    fair = fairness(compare, results)
    protocol, record = protocol_lines(compare, results)
    sanity = load_sanity(compare.output)
    caveats = leaderboard_caveats(results, scored_metrics(compare), sanity, record)
    created = time.strftime("%Y-%m-%d %H:%M")
    head = (f"{len(compare.entries)} entries × {len(compare.spec.seeds)} seed(s) on {compare.data['kind']} "
            f"({compare.data['resolution']}px), budget {compare.budget_label} per run; compare file "
            f"{compare.source}; made {created} by ganzoo {ganzoo.__version__}.")
    samples_note = _samples_note(compare, results, real)
    seeds = compare.spec.seeds
    paths = {"md": compare.output / "report.md", "html": compare.output / "report.html",
             "json": compare.output / "leaderboard.json"}

    md = [f"# Compare: {compare.source.stem}", "", head, "", "## Leaderboard", "", board.markdown(), "",
          *[f"> **Warning: {c.title}**: {c.text}\n" for c in caveats],
          "## Fairness", "", *[f"- {line}" for line in fair], "", "## Samples", "", samples_note, "",
          _samples_markdown(results, seeds, grids, real), "",
          "## Copy check", "", copies_note(copies), "", *_copies_markdown(copies),
          "## Curves", "", *[f"![{LABELS[m]}](report/{p.name})" for m, p in curves.items()], "",
          *_sanity_markdown(sanity),
          "## Protocol", "", *[f"- {line}" for line in protocol], "", "### Entries", "", entries.markdown(), "",
          "## Runs", "", runs.markdown(), ""]
    write_bytes(paths["md"], "\n".join(md).encode())

    plots = "".join(f"<figure><img alt='{LABELS[m]} curve' src='{_data_uri(p)}'></figure>" for m, p in curves.items())
    warnings = "".join(f"<p class='warning'><strong>Warning: {html.escape(c.title)}</strong>: {_inline(c.text)}</p>"
                       for c in caveats)
    body = f"""<h1>Compare: {html.escape(compare.source.stem)}</h1>
<p class="lead">{_inline(head)}</p>
<h2>Leaderboard</h2>
<div class="scroll">{board.html()}</div>
{warnings}
<h2>Fairness</h2>
<ul>{''.join(f'<li>{_inline(line)}</li>' for line in fair)}</ul>
<h2>Samples</h2>
<p>{_inline(samples_note)}</p>
<div class="scroll">{_samples_html(results, seeds, grids, real)}</div>
<h2>Copy check</h2>
<p>{_inline(copies_note(copies))}</p>
{_copies_html(copies)}
<h2>Curves</h2>
<div class="curves">{plots or '<p>No evaluation recorded yet.</p>'}</div>
{_sanity_html(sanity)}
<h2>Protocol</h2>
<ul>{''.join(f'<li>{_inline(line)}</li>' for line in protocol)}</ul>
<h3>Entries</h3>
<div class="scroll">{entries.html()}</div>
<details><summary>Full protocol record (JSON)</summary><pre>{html.escape(json.dumps(record, indent=2))}</pre></details>
<h2>Runs</h2>
<div class="scroll">{runs.html()}</div>"""
    write_bytes(paths["html"], _page(f"ganzoo compare: {compare.source.stem}", body).encode())
    write_json(paths["json"], _leaderboard_json(compare, results, caveats))
    return paths


def _samples_note(compare: Compare, results: list[EntryResult], real: Path | str) -> str:
    count, seed = compare.spec.samples.count, compare.spec.samples.seed
    conditional = any(r.conditional for r in results)
    generated = (f"{count} images per run from the final "
                 f"{'EMA' if compare.spec.eval.generator == 'ema' else 'raw'} generator, latents drawn from one "
                 f"stream seeded {seed} for every run (entries with different latent sizes get different vectors "
                 f"from it)" + ("; class-conditional entries draw one class per row, the same rows in every grid"
                                if conditional else "") + ".")
    if isinstance(real, str):
        return f"{generated} **No real data column**: {real}."
    return (f"{generated} **Real data** (first column): {count} images of the compare's data, drawn with seed "
            f"{seed}" + (", one class per row in the conditional entries' row order" if conditional else "")
            + ": what every row of samples should look like.")


def _samples_markdown(results: list[EntryResult], seeds: list[int], grids: dict[str, Path], real: Path | str) -> str:
    real_cell = f"![real data](report/{real.name})" if isinstance(real, Path) else "—"
    return Table(["entry", "real data", *[f"seed {s}" for s in seeds]],
                 [[e.entry.name, real_cell, *[(f"![{r.run.name}](report/{grids[r.run.name].name})"
                                               if r.run.name in grids else r.status) for r in e.runs]]
                  for e in results]).markdown()


def _samples_html(results: list[EntryResult], seeds: list[int], grids: dict[str, Path], real: Path | str) -> str:
    width = max(160, min(340, 960 // (len(seeds) + 1)))  # the real grid and every seed's side by side

    def image(path: Path, alt: str) -> str:
        return f"<img class='grid' style='width: {width}px' alt='{html.escape(alt)}' src='{_data_uri(path)}'>"

    def cell(run: RunScores) -> str:
        if run.run.name not in grids:
            return f"<td class='missing'>{html.escape(run.status)}</td>"
        return f"<td>{image(grids[run.run.name], run.run.name)}</td>"

    # One real grid beside every entry's row (embedded once): the reader compares across, not down.
    real_cell = (f"<td class='real' rowspan='{len(results)}'>{image(real, 'real data')}</td>"
                 if isinstance(real, Path) else f"<td class='missing' rowspan='{len(results)}'>not loaded</td>")
    rows = "".join(f"<tr><th>{html.escape(e.entry.name)}<br><span class='kind'>{html.escape(e.entry.kind)}</span>"
                   f"</th>{real_cell if i == 0 else ''}{''.join(cell(r) for r in e.runs)}</tr>"
                   for i, e in enumerate(results))
    return ("<table class='samples'><thead><tr><th>entry</th><th>real data</th>"
            + "".join(f"<th>seed {s}</th>" for s in seeds) + f"</tr></thead><tbody>{rows}</tbody></table>")


def _copies_rows(copies: list[EntryCopies]) -> list[list[str]]:
    return [[c.entry, c.run, f"{c.memorisation.share:.0%}", f"{c.memorisation.generated_median:.3g}",
             f"{c.memorisation.training_median:.3g}"] for c in copies]


COPIES_HEADER = ["entry", "run", "copies", "median nearest distance (generated)", "(training to training)"]


def _copies_markdown(copies: list[EntryCopies]) -> list[str]:
    if not copies:
        return []
    table = Table(COPIES_HEADER, _copies_rows(copies)).markdown()
    return [table, "", *[f"![copy check {c.entry}](report/{c.sheet.name})" for c in copies], ""]


def _copies_html(copies: list[EntryCopies]) -> str:
    if not copies:
        return ""
    sheets = "".join(f"<figure><figcaption>{html.escape(c.entry)}</figcaption><img class='sheet' "
                     f"alt='copy check {html.escape(c.entry)}' src='{_data_uri(c.sheet)}'></figure>" for c in copies)
    return (f"<div class='scroll'>{Table(COPIES_HEADER, _copies_rows(copies)).html()}</div>"
            f"<div class='copies'>{sheets}</div>")


def _sanity_markdown(sanity: Optional[Sanity]) -> list[str]:
    if sanity is None:
        return []
    table = [sanity_table(sanity).markdown(), ""] if sanity.cases else []
    return ["## Sanity of the feature space", "", *[f"- {line}" for line in sanity_lines(sanity)], "", *table]


def _sanity_html(sanity: Optional[Sanity]) -> str:
    if sanity is None:
        return ""
    table = f"<div class='scroll'>{sanity_table(sanity).html()}</div>" if sanity.cases else ""
    items = "".join(f"<li>{_inline(line)}</li>" for line in sanity_lines(sanity))
    return f"<h2>Sanity of the feature space</h2>\n<ul>{items}</ul>\n{table}"


def _inline(text: str) -> str:
    """The little markdown the report's sentences use (**bold**, `code`), as HTML."""
    out, parts = [], html.escape(text).split("`")
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"<code>{part}</code>")
        else:
            bold = part.split("**")
            out.append("".join(f"<strong>{b}</strong>" if j % 2 else b for j, b in enumerate(bold)))
    return "".join(out)


def _leaderboard_json(compare: Compare, results: list[EntryResult], caveats: list[Caveat]) -> dict[str, Any]:
    def as_dict(s: Optional[Stat]) -> Optional[dict]:
        return None if s is None else {"mean": s.mean, "std": s.std, "n": s.n}

    metrics = scored_metrics(compare)
    return {"compare": str(compare.source), "budget": compare.spec.budget.model_dump(), "seeds": compare.spec.seeds,
            "warnings": [c.to_dict() for c in caveats],
            "entries": [{"name": e.entry.name, "kind": e.entry.kind, "origin": e.entry.origin,
                         **{m: as_dict(e.metric(m)) for m in metrics}, "images_per_s": as_dict(e.speed()),
                         "wall_seconds": as_dict(e.wall()), "peak_memory_mib": e.peak_memory(),
                         "generator_params": e.generator_params, "discriminator_params": e.discriminator_params,
                         "runs": {r.run.name: {"status": r.status, "step": r.step, "images_seen": r.images_seen,
                                               "scores": r.scores, "path": str(r.path)} for r in e.runs}}
                        for e in ranked(results, metrics)]}


CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2330; margin: 0;
       background: #f6f7f9; }
main { max-width: 1260px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; box-sizing: border-box; }
h1 { font-size: 26px; margin: 8px 0 4px; } h2 { font-size: 19px; margin: 28px 0 8px; border-bottom: 1px solid #e3e6eb;
     padding-bottom: 4px; }
.lead { color: #555e6e; margin-top: 0; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 5px 7px; border-bottom: 1px solid #e3e6eb; vertical-align: top; }
thead th { background: #f0f2f5; text-align: left; white-space: nowrap; }
td:first-child, th:first-child, table.board td { white-space: nowrap; }
td.r, th.r { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
table.board tbody tr:first-child td { font-weight: 600; }
.scroll { overflow-x: auto; }
table.samples th { text-align: left; }
.kind { color: #6b7385; font-weight: normal; font-size: 12px; }
img.grid { image-rendering: pixelated; border: 1px solid #d5d9e0; display: block; }
td.missing { color: #8a93a3; font-style: italic; }
td.real { background: #f6f7f9; }
.warning { background: #fff6e6; border-left: 4px solid #e0a030; padding: 6px 10px; margin: 8px 0; }
.curves { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 12px; }
.curves figure { margin: 0; } .curves img { width: 100%; height: auto; border: 1px solid #e3e6eb; }
.copies { display: flex; flex-wrap: wrap; gap: 12px; } .copies figure { margin: 0; }
img.sheet { image-rendering: pixelated; border: 1px solid #e3e6eb; display: block; }
code { background: #f0f2f5; padding: 1px 4px; border-radius: 3px; font-size: 12.5px; }
pre { background: #f6f7f9; padding: 10px; overflow-x: auto; font-size: 12px; }
ul { padding-left: 22px; } li { margin: 4px 0; }
"""


def _page(title: str, body: str) -> str:
    return (f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body><main>\n{body}\n</main></body></html>\n")
