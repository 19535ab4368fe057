"""`ganzoo compare`: a tiny compare on the CPU makes the whole report, reruns reuse finished runs, and bad
compare recipes fail before anything trains. Also the engine pieces it relies on."""
import base64
import json
import re
from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image
from typer.testing import CliRunner

from ganzoo.api import ImageData
from ganzoo.cli import app
from ganzoo.compare.caveats import Sanity, far_from_floor, leaderboard_caveats, seed_spread
from ganzoo.compare.grids import real_choice
from ganzoo.compare.recipe import Entry, load_compare
from ganzoo.compare.report import write_report
from ganzoo.compare.results import EntryResult, RunScores, collect
from ganzoo.engine.batches import BatchStream
from ganzoo.errors import RecipeError
from ganzoo.host import create_host
from ganzoo.recipe import load_recipe, resolve
from ganzoo.runner import run_recipe
from tests.conftest import Squares, SquaresConfig, SquaresPlugin, tiny_recipe
from tests.test_metrics import PixelsPlugin

runner = CliRunner()

TRAIN = {"batch_size": 8, "log_every": 2, "sample_every": 4, "checkpoint_every": 4, "grid_size": 4}


def compare_recipe(tmp, **changes):
    """Three entries (one from a recipe file, class-conditional), two seeds, 64 images per run."""
    (tmp / "conditional.yaml").write_text(yaml.safe_dump({
        "run": {"name": "whatever"}, "data": {"kind": "test-squares", "resolution": 16, "size": 48},
        "architecture": {"kind": "dcgan", "width": 8, "z_dim": 16, "conditional": True},
        "train": {"steps": 1000, "batch_size": 8}}))
    spec = {"output": str(tmp / "out"), "seeds": [0, 1], "device": "cpu", "threads": 1,
            "data": {"kind": "test-squares", "resolution": 16, "size": 48},
            "budget": {"images": 64},
            "eval": {"extractor": "test-pixels", "n_fake": 20, "every_images": 32, "batch_size": 10},
            "train": TRAIN, "samples": {"count": 9},
            "entries": [{"name": "small", "architecture": {"kind": "dcgan", "width": 8, "z_dim": 16}},
                        {"name": "critic", "architecture": {"kind": "wgan-gp", "width": 8, "z_dim": 16,
                                                            "n_critic": 2}},
                        {"name": "labelled", "recipe": "conditional.yaml", "train": {"batch_size": 16}}]}
    spec.update(changes)
    path = tmp / "compare.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def chost():
    return create_host([SquaresPlugin(), PixelsPlugin()])


@pytest.fixture(autouse=True)
def setup(chost, monkeypatch, tmp_path_factory):
    monkeypatch.setattr("ganzoo.host.default_host", lambda: chost)
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path_factory.getbasetemp() / "compare-cache"))


def invoke(*args):
    return runner.invoke(app, ["compare", *map(str, args)])


def err(result):
    return " ".join(result.stderr.split())


@pytest.fixture(scope="module")
def compared(chost, tmp_path_factory):
    """One tiny compare, trained once for the tests that look at its output."""
    tmp = tmp_path_factory.mktemp("compare")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("ganzoo.host.default_host", lambda: chost)
        mp.setenv("GANZOO_CACHE", str(tmp / "cache"))
        path = compare_recipe(tmp)
        result = invoke(path)
    assert result.exit_code == 0, result.output
    return tmp, path, result


def test_a_tiny_compare_writes_every_section_of_the_report(compared, chost):
    tmp, _, result = compared
    out = tmp / "out"
    md = (out / "report.md").read_text()
    for section in ("## Leaderboard", "## Fairness", "## Samples", "## Copy check", "## Curves", "## Protocol",
                    "### Entries", "## Runs"):
        assert section in md
    board = json.loads((out / "leaderboard.json").read_text())
    assert [e["name"] for e in board["entries"]] != [] and {e["name"] for e in board["entries"]} == {
        "small", "critic", "labelled"}
    for entry in board["entries"]:
        for metric in ("fid", "kid", "precision", "recall"):
            assert entry[metric]["n"] == 2 and entry[metric]["std"] is not None
        assert entry["generator_params"] > 0 and entry["discriminator_params"] > 0
        assert entry["images_per_s"]["mean"] > 0 and entry["peak_memory_mib"]["rss_mib"] > 0
        assert all(r["status"] == "finished" and r["images_seen"] >= 64 for r in entry["runs"].values())
    fids = [e["fid"]["mean"] for e in board["entries"]]
    assert fids == sorted(fids)  # best first
    # Markdown links the PNGs; the HTML embeds every one of them and links nothing.
    pngs = sorted(p.name for p in (out / "report").glob("*.png"))
    assert pngs == sorted([f"samples-{e}-s{s}.png" for e in ("small", "critic", "labelled") for s in (0, 1)]
                          + [f"curve-{m}.png" for m in ("fid", "kid", "precision", "recall")] + ["real-data.png"]
                          + [f"copies-{e}.png" for e in ("small", "critic", "labelled")])
    assert all(f"report/{name}" in md for name in pngs)
    page = (out / "report.html").read_text()
    assert page.count("src='data:image/png;base64,") == len(pngs)
    assert not re.search(r"(src|href)=['\"](?!data:)", page)
    assert "±" in page and "not comparable to published FIDs" in page
    assert "one class per row" in md  # the recipe entry is class-conditional
    assert "train.batch_size: small 8, critic 8, labelled 16" in md  # what differs is stated
    assert "every run recorded the same content SHA-256" in md
    assert "| entry | run | copies |" in md and "| small | small-s0 |" in md  # the copy check, one row per entry
    # The leaderboard is printed too, and each session recorded its peak memory.
    assert "FID ↓" in result.stdout and "labelled" in result.stdout and "Report:" in result.stdout
    info = json.loads((out / "runs" / "small-s0" / "run.json").read_text())
    assert info["sessions"][-1]["peak_memory"]["rss_mib"] > 0
    # Each run is an ordinary run directory made from a generated recipe that `ganzoo run` accepts.
    generated = yaml.safe_load((out / "recipes" / "critic-s1.yaml").read_text())
    assert generated["run"] == {"name": "critic-s1", "output_dir": str(out / "runs"), "seed": 1, "device": "cpu",
                                "threads": 1}
    assert generated["train"]["images"] == 64 and generated["eval"]["extractor"]["kind"] == "test-pixels"
    again = load_recipe(out / "recipes" / "critic-s1.yaml", chost).to_dict()
    assert again == json.loads((out / "runs" / "critic-s1" / "recipe.resolved.json").read_text())


def test_a_rerun_reuses_finished_runs_and_a_larger_budget_resumes_them(compared):
    tmp, path, _ = compared
    runs = tmp / "out" / "runs"
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in runs.rglob("*") if p.is_file()}
    result = invoke(path)
    assert result.exit_code == 0, result.output
    assert result.stdout.count("finished, skipped") == 6 and "training" not in result.stdout
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in runs.rglob("*") if p.is_file()}
    assert after == before  # nothing retrained, nothing rewritten
    plan = invoke(path, "--set", "budget.images=96", "--dry-run")
    assert plan.exit_code == 0, plan.output
    assert plan.stdout.count(": resume (step") == 6 and "nothing was trained" in plan.stdout


def test_a_changed_protocol_is_refused_before_anything_trains(compared):
    _, path, _ = compared
    result = invoke(path, "--set", "eval.n_fake=30")
    assert result.exit_code == 2
    assert "made with other settings" in err(result) and "eval.n_fake: 20 -> 30" in err(result)
    assert "--fresh" in err(result)


@pytest.mark.parametrize("change, message", [
    ({"entries": [{"name": "a", "architecture": {"kind": "dcgn"}}]},
     r"entries.0.*architecture.kind \(line \d+\): Unknown architecture kind 'dcgn'. Did you mean 'dcgan'\?"),
    ({"entries": [{"name": "a", "architecture": {"kind": "dcgan", "widht": 8}}]},
     r"architecture.widht \(line \d+\): unknown field 'widht'. Did you mean 'width'\?"),
    ({"entries": [{"name": "a", "architecture": {"kind": "dcgan"}, "recipe": "conditional.yaml"}]},
     r"entries.0 \(line \d+\): give exactly one of architecture .* or recipe"),
    ({"entries": [{"name": "a", "architecture": {"kind": "dcgan"}, "train": {"images": 10}}]},
     r"entries.0.train \(line \d+\): 'images' is a budget; every run of a compare has the same budget"),
    ({"entries": [{"name": "a", "architecture": {"kind": "dcgan"}}, {"name": "a", "architecture": {"kind": "dcgan"}}]},
     r"entries \(line \d+\): entry names must differ .* a is used twice"),
    ({"entries": [{"name": "a", "architecture": {"kind": "dcgan"}, "train": {"ema": {"enabled": False}}}]},
     r"entries.0.train.ema.enabled \(line \d+\): entry 'a' turns the EMA generator off"),
    ({"budget": {"images": 64, "wall_clock": 10}}, r"budget \(line \d+\): give exactly one budget"),
    ({"budget": {"wall_clock": 10}, "eval": {"extractor": "test-pixels"}},
     r"budget.wall_clock \(line \d+\): with a wall-clock budget, set eval.every_images too"),
    ({"seeds": [0, 0]}, r"seeds \(line \d+\): .*each seed may be listed once"),
    ({"seed": 3}, r"unknown field 'seed'. Did you mean 'seeds'\?"),
    ({"data": {"kind": "test-squares", "resolution": 16, "sise": 48}},
     r"data.sise \(line \d+\): unknown field 'sise'. Did you mean 'size'\?"),
    ({"eval": {"extractor": "no-such"}}, r"eval.extractor.kind \(line \d+\): Unknown feature_extractor kind"),
    ({"entries": [{"name": "a", "recipe": "missing.yaml"}]},
     r"entries.0.recipe \(line \d+\): recipe file 'missing.yaml' does not exist"),
    ({"data": {"kind": "test-squares", "resolution": 20, "size": 48},
      "entries": [{"name": "a", "architecture": {"kind": "dcgan"}}]},
     r"architecture 'dcgan' cannot be built for the data \(data.resolution 20"),
    ({"entries": [{"name": "huge", "architecture": {"kind": "dcgan", "width": 100000, "max_width": 100000}}]},
     r"training would not fit in memory. It needs about [\d,.]+ GiB: parameters"),
])
def test_bad_compare_recipes_fail_before_anything_trains(tmp_path, change, message):
    path = compare_recipe(tmp_path, **change)
    result = invoke(path)
    assert result.exit_code == 2, result.output
    assert re.search(message, err(result)), err(result)
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()


def test_a_recipe_entry_on_other_data_fails_before_anything_trains(tmp_path):
    path = compare_recipe(tmp_path)
    other = yaml.safe_load((tmp_path / "conditional.yaml").read_text())
    other["data"]["size"] = 40
    (tmp_path / "conditional.yaml").write_text(yaml.safe_dump(other))
    result = invoke(path)
    assert result.exit_code == 2
    assert re.search(r"entries.2.recipe \(line \d+\): 'conditional.yaml' trains on other data than this compare "
                     r"\(data.size: 48 here, 40 in the recipe\)", err(result)), err(result)
    assert not (tmp_path / "out").exists()


def test_bad_set_value_exits_2(tmp_path):
    result = invoke(compare_recipe(tmp_path), "--set", "budget.images=-5")
    assert result.exit_code == 2 and "budget.images" in err(result) and "greater than or equal to 1" in err(result)


# ------------------------------------------------------------------ real data beside the samples, warnings, sanity

def test_the_real_data_grid_sits_beside_the_samples(compared):
    tmp, _, _ = compared
    out = tmp / "out"
    real, sample = out / "report" / "real-data.png", out / "report" / "samples-small-s0.png"
    assert Image.open(real).size == Image.open(sample).size  # same count (9) and columns (3) as every run's grid
    md = (out / "report.md").read_text()
    assert "| entry | real data | seed 0 | seed 1 |" in md
    assert md.count("![real data](report/real-data.png)") == 3  # beside each entry's row
    assert "**Real data** (first column): 9 images" in md and "conditional entries' row order" in md
    page = (out / "report.html").read_text()
    embedded = "data:image/png;base64," + base64.b64encode(real.read_bytes()).decode()
    assert page.count(embedded) == 1 and "rowspan='3'" in page


def test_the_real_grid_has_one_class_per_row_in_the_conditional_grids_order():
    data = Squares(SquaresConfig(size=48, classes=2), 16).load()
    picks = real_choice(data, 9, seed=0, by_class=True)
    assert data.labels[picks].view(3, 3).tolist() == [[0] * 3, [1] * 3, [0] * 3]  # rows as row_classes lays them
    assert len(set(picks.tolist())) == 9  # no repeats while a class has enough images
    assert torch.equal(picks, real_choice(data, 9, seed=0, by_class=True))
    assert not torch.equal(picks, real_choice(data, 9, seed=1, by_class=True))
    anyhow = real_choice(data, 9, seed=0, by_class=False)
    assert len(set(anyhow.tolist())) == 9 and len(set(data.labels[anyhow].tolist())) == 2
    one_class = ImageData(data.images[:4], torch.zeros(4, dtype=torch.int64), ("a", "b"))
    assert real_choice(one_class, 4, seed=0, by_class=True).tolist()[2:] == [-1, -1]  # class b's row stays blank


def scored(name, fids):
    """An entry whose finished runs scored these FIDs (the caveats read scores only, so no planned run)."""
    return EntryResult(Entry(name, "dcgan", "architecture"),
                       [RunScores(None, Path(name), "finished", scores={"fid": fid}) for fid in fids])


def test_leaders_within_the_seed_spread_are_called_indistinguishable():
    caveat = seed_spread([scored("wide", [40.0, 50.0, 60.0]), scored("close", [41.0, 43.0, 45.0]),
                          scored("far", [90.0, 91.0, 92.0])], ["fid"])
    assert caveat.kind == "seed_spread"
    assert caveat.text.startswith("close (FID 43.00 ± 2.00) and wide (FID 50.00 ± 10.00) differ by 7.00, less "
                                  "than the larger of their standard deviations over seeds (10.00)")
    assert "with 3 seeds they cannot be told apart" in caveat.text and "far" not in caveat.text


def test_leaders_further_apart_than_the_seed_spread_get_no_warning():
    assert seed_spread([scored("a", [40.0, 41.0]), scored("b", [60.0, 61.0])], ["fid"]) is None
    assert seed_spread([scored("alone", [40.0, 41.0])], ["fid"]) is None  # nothing to tell it from


def test_one_finished_seed_means_the_ranking_cannot_be_told_from_seed_noise():
    caveat = seed_spread([scored("a", [40.0]), scored("b", [80.0, 81.0])], ["fid"])
    assert "only one seed finished for a" in caveat.text and "cannot be told from seed noise" in caveat.text


def sanity_record(mildest_fid, extractor="test-pixels", check_passed=True):
    return {"extractor": {"kind": extractor}, "images_per_side": 24, "margin": "every fault at least 2x the floor",
            "passed": check_passed,
            "cases": [{"name": "floor", "label": "real vs real", "fid": 0.5, "kid": 0.0001, "precision": 0.9,
                       "recall": 0.9, "status": "floor", "note": "two halves of the data"},
                      {"name": "blur_weak", "label": "a slight blur", "fid": mildest_fid, "kid": 0.002,
                       "precision": 0.8, "recall": 0.85, "status": "pass", "note": ""},
                      {"name": "greyscale", "label": "colour removed", "fid": mildest_fid * 3, "kid": 0.01,
                       "precision": 0.5, "recall": 0.6, "status": "pass", "note": ""},
                      {"name": "hue", "label": "hue rotated", "fid": None, "kid": None, "precision": None,
                       "recall": None, "status": "skipped", "note": "grey data"},
                      {"name": "channel_swap", "label": "red and blue swapped", "fid": 0.6, "kid": 0.0001,
                       "precision": 0.9, "recall": 0.9, "status": "n/a", "note": "colours unchanged"}],
            "checks": [{"what": "every fault scores above the floor", "passed": True},
                       {"what": "strong blur scores worse than weak blur", "passed": check_passed}]}


def test_far_from_the_floor_compares_the_best_entry_with_the_mildest_corruption():
    results = [scored("a", [12.0, 14.0]), scored("b", [30.0, 31.0])]
    caveat = far_from_floor(results, ["fid"], Sanity(**sanity_record(4.0)))
    assert caveat.text == ("the best entry (a, FID 13.00) is further from the real data than real images with a "
                           "slight blur (FID 4.00); the floor (real vs real) is 0.50: the samples are not yet like "
                           "the data.")
    assert far_from_floor(results, ["fid"], Sanity(cases=sanity_record(20.0)["cases"])) is None
    other = Sanity(cases=sanity_record(4.0)["cases"], passed=True, extractor={"kind": "inception"})
    kinds = [c.kind for c in leaderboard_caveats(results, ["fid"], other, {"extractor": {"kind": "test-pixels"}})]
    assert kinds == ["other_feature_space"]  # FIDs in another feature space are not set beside these


def rewrite_report(tmp, path, chost, monkeypatch):
    monkeypatch.setenv("GANZOO_CACHE", str(tmp / "cache"))
    compare = load_compare(path, chost, [])
    write_report(compare, collect(compare, chost), chost)
    out = tmp / "out"
    return (out / "report.md").read_text(), (out / "report.html").read_text(), json.loads(
        (out / "leaderboard.json").read_text())


def test_a_sanity_json_adds_the_floor_warning_and_the_sanity_section(compared, chost, monkeypatch):
    tmp, path, _ = compared
    sanity = tmp / "out" / "sanity.json"
    best = json.loads((tmp / "out" / "leaderboard.json").read_text())["entries"][0]
    try:
        sanity.write_text(json.dumps(sanity_record(best["fid"]["mean"] / 2, check_passed=False)))
        md, page, board = rewrite_report(tmp, path, chost, monkeypatch)
    finally:
        sanity.unlink()
        rewrite_report(tmp, path, chost, monkeypatch)  # the other tests see the report without it
    warnings = {w["kind"]: w["text"] for w in board["warnings"]}
    assert set(warnings) >= {"far_from_floor", "sanity_failed"}
    assert warnings["far_from_floor"].startswith(f"the best entry ({best['name']}, FID {best['fid']['mean']:.2f}) "
                                                 f"is further from the real data than real images with a slight "
                                                 f"blur (FID {best['fid']['mean'] / 2:.2f}); the floor (real vs real) "
                                                 f"is 0.50")
    board_at, fairness_at = md.index("## Leaderboard"), md.index("## Fairness")
    assert board_at < md.index("**Warning: Far from the floor**") < fairness_at
    assert "## Sanity of the feature space" in md and "Margin: every fault at least 2x the floor." in md
    assert f"| a slight blur | {best['fid']['mean'] / 2:.2f} | 0.0020 |" in md
    assert "| hue rotated | — | — | — | — | skipped | grey data |" in md
    assert "**Failed**: strong blur scores worse than weak blur. The ranking may not reflect what a person sees." in md
    assert "<h2>Sanity of the feature space</h2>" in page and "Warning: Far from the floor" in page
    assert "<strong>Failed</strong>" in page


def test_without_sanity_json_there_is_no_floor_warning_and_no_sanity_section(compared):
    tmp, _, _ = compared
    out = tmp / "out"
    assert not (out / "sanity.json").exists()
    md, page = (out / "report.md").read_text(), (out / "report.html").read_text()
    board = json.loads((out / "leaderboard.json").read_text())
    assert "Sanity of the feature space" not in md and "Sanity of the feature space" not in page
    assert "Far from the floor" not in md and "Far from the floor" not in page
    assert {w["kind"] for w in board["warnings"]} <= {"seed_spread"}  # only what the runs themselves can tell


# ------------------------------------------------------------------ engine pieces the compare relies on

def test_data_order_does_not_depend_on_the_batch_size():
    data = ImageData(torch.arange(50, dtype=torch.uint8).view(50, 1, 1, 1).expand(50, 1, 2, 2).contiguous())
    def sequence(batch_size):
        stream = BatchStream(data, batch_size, seed=7, device=torch.device("cpu"))
        return torch.cat([stream.next()[0][:, 0, 0, 0] for _ in range(120 // batch_size)])
    assert torch.equal(sequence(8), sequence(24)) and torch.equal(sequence(8), sequence(40))


def test_a_wall_clock_budget_stops_training_and_is_evaluated_at_its_last_step(tmp_path, chost):
    recipe = tiny_recipe(tmp_path, steps=None, wall_clock=0.3, log_every=1)
    recipe["eval"] = {"every_images": 10_000, "n_fake": 10, "extractor": "test-pixels", "metrics": ["fid"]}
    result = run_recipe(resolve(recipe, chost), chost)
    records = [json.loads(line) for line in result.run_dir.stats_file.read_text().splitlines()]
    evals = [r for r in records if "eval/fid" in r]
    assert result.summary["step"] > 0 and [r["step"] for r in evals] == [result.summary["step"]]
    assert evals[0]["eval/seconds"] >= 0


@pytest.mark.parametrize("train, message", [({"steps": None, "wall_clock": -1},
                                             r"train.wall_clock: got -1; .*greater than 0"),
                                            ({"wall_clock": 5}, "give exactly one budget")])
def test_bad_wall_clock_budgets_are_refused(tmp_path, chost, train, message):
    with pytest.raises(RecipeError, match=message):
        resolve(tiny_recipe(tmp_path, **train), chost)


def test_periodic_eval_scores_the_last_step_when_the_budget_ends_early(tmp_path, chost):
    # StyleGAN-lite's R1 phase shows real images every r1_every steps, so an image budget ends before the
    # estimated last step; the last record must still be evaluated (the compare ranks on it).
    recipe = tiny_recipe(tmp_path, steps=None, images=48, log_every=1, checkpoint_every=100)
    recipe["architecture"] = {"kind": "stylegan-lite", "preset": "tiny", "r1_every": 2}
    recipe["eval"] = {"every_images": 1000, "n_fake": 10, "extractor": "test-pixels", "metrics": ["fid"]}
    result = run_recipe(resolve(recipe, chost), chost)
    records = [json.loads(line) for line in result.run_dir.stats_file.read_text().splitlines()]
    assert result.summary["step"] == 4  # 16 + 8 + 16 + 8 images
    assert [r["step"] for r in records if "eval/fid" in r] == [4]


@pytest.mark.slow
def test_one_run_per_gpu_goes_through_ganzoo_run_subprocesses(tmp_path, monkeypatch):
    # No GPUs here: two fake "GPUs" that hide CUDA (CUDA_VISIBLE_DEVICES=""), to exercise the subprocess
    # path with installed plugins only (the children cannot see this test's plugins).
    monkeypatch.setattr("ganzoo.compare.run.gpus_for", lambda device: ["", ""])
    path = compare_recipe(tmp_path, data={"kind": "catalogue", "resolution": 16, "size": 120}, seeds=[0],
                          eval={"extractor": {"kind": "domain", "epochs": 1, "width": 4}, "n_fake": 20,
                                "every_images": 32, "batch_size": 20, "metrics": ["fid"]},
                          entries=[{"name": "a", "architecture": {"kind": "dcgan", "width": 8, "z_dim": 16}},
                                   {"name": "b", "architecture": {"kind": "dcgan", "width": 4, "z_dim": 16}}])
    result = invoke(path)
    assert result.exit_code == 0, result.output
    assert "2 GPUs: one run per GPU at a time" in result.stdout
    for name in ("a-s0", "b-s0"):
        log = (tmp_path / "out" / "logs" / f"{name}.log").read_text()
        assert f"Run {name}" in log and "Done: step 8" in log
    board = json.loads((tmp_path / "out" / "leaderboard.json").read_text())
    assert all(e["fid"]["n"] == 1 for e in board["entries"])


REPO = Path(__file__).resolve().parents[1]
FASHION_MNIST = REPO.parent / "shared" / "data" / "fashion-mnist"


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted((REPO / "recipes").glob("compare-*.yaml")), ids=lambda p: p.name)
def test_every_shipped_compare_recipe_runs_with_a_tiny_budget(path, tmp_path, monkeypatch):
    small = {"budget.images": 16, "seeds": "[0]", "threads": 1, "output": tmp_path / "out", "samples.count": 4,
             "train.batch_size": 8, "train.grid_size": 4, "eval.n_fake": 16, "eval.every_images": 8,
             "eval.batch_size": 16, "eval.extractor": "{kind: domain, epochs: 1}"}  # Inception is not here
    if "fashion-mnist" in path.read_text():
        if not FASHION_MNIST.is_dir():
            pytest.skip(f"Fashion-MNIST not found at {FASHION_MNIST}")
        monkeypatch.setenv("GANZOO_FASHION_MNIST", str(FASHION_MNIST))
        small["data.limit"] = 64
    elif "kind: folder" in path.read_text():
        from tests.photos import write_shop_photos
        small["data.path"] = write_shop_photos(tmp_path / "photos", 64)
    else:
        small["data.size"] = 64
    if any("init" in entry for entry in yaml.safe_load(path.read_text())["entries"]):
        # Fine-tuned entries start from the run recipes/finetune-parent.yaml makes, found from the working directory.
        monkeypatch.chdir(tmp_path)
        parent = ["run", str(REPO / "recipes" / "finetune-parent.yaml"), "--set", "train.images=16", "--set",
                  "train.batch_size=8", "--set", "train.grid_size=4", "--set", "data.size=64", "--set", "run.threads=1"]
        assert runner.invoke(app, parent).exit_code == 0
    result = invoke(path, *[a for k, v in small.items() for a in ("--set", f"{k}={v}")])
    assert result.exit_code == 0, result.output
    board = json.loads((tmp_path / "out" / "leaderboard.json").read_text())
    recipe = yaml.safe_load(path.read_text())
    assert {e["kind"] for e in board["entries"]} == {e["architecture"]["kind"] for e in recipe["entries"]}
    assert all(e["fid"]["n"] == 1 for e in board["entries"])


def test_the_compare_checks_its_feature_space_once_and_reuses_the_check(chost, tmp_path, monkeypatch):
    from ganzoo.compare import run as compare_run
    from ganzoo.recipe import load_data
    path = compare_recipe(tmp_path, data={"kind": "test-squares", "resolution": 16, "size": 240},
                          eval={"extractor": "test-pixels", "n_fake": 100, "every_images": 32, "batch_size": 50},
                          entries=[{"name": "small", "architecture": {"kind": "dcgan", "width": 8, "z_dim": 16}}])
    compare = load_compare(path, chost, [])
    data = load_data(compare.runs[0].resolved, chost)
    loaded = compare_run.ensure_extractor(compare, chost, data, torch.device("cpu"), print)
    compare.output.mkdir(parents=True)
    first = compare_run.ensure_sanity(compare, loaded, data, print)
    saved = json.loads((compare.output / "sanity.json").read_text())
    assert saved == first and saved["images_per_side"] == 100 and saved["cases"][0]["name"] == "floor"
    assert saved["key"]["content_sha256"] == data.content_hash()

    def measured_again(*args, **kwargs):
        raise AssertionError("the check was measured again although nothing changed")

    monkeypatch.setattr(compare_run, "check_feature_space", measured_again)
    assert compare_run.ensure_sanity(compare, loaded, data, print) == first
    (tmp_path / "small").mkdir()
    small = load_compare(compare_recipe(tmp_path / "small"), chost, [])
    lines = []
    assert compare_run.ensure_sanity(small, loaded, data, lines.append) is None  # n_fake 20: too few per side
    assert "Not checking the feature space" in lines[0]
