"""Evaluation as a user meets it: `ganzoo fid`, `ganzoo eval`, periodic evaluation in a recipe, bad input."""
import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from typer.testing import CliRunner

from ganzoo.cli import app
from ganzoo.engine.loop import Callback
from ganzoo.errors import RecipeError
from ganzoo.recipe import resolve
from ganzoo.runner import run_recipe
from tests.conftest import tiny_recipe
from tests.test_metrics import PixelsPlugin

runner = CliRunner()


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def mhost(host, monkeypatch):
    """The conftest host (test-squares data, installed plugins) plus the test-pixels extractor, also for the CLI."""
    host.add_plugin(PixelsPlugin())
    monkeypatch.setattr("ganzoo.host.default_host", lambda: host)
    return host


def folder(path, n, seed, size=(16, 16), mode="RGB", dark=0):
    path.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
        Image.fromarray(rng.integers(0, 256 - dark, shape, dtype=np.uint8), mode).save(path / f"{i:03d}.png")
    return path


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def err(result):
    return " ".join(result.stderr.split())  # rich wraps lines at the terminal width


def fid_of(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_fid_between_folders_and_through_saved_statistics(tmp_path, mhost):
    a, b = folder(tmp_path / "a", 40, 0), folder(tmp_path / "b", 30, 1, dark=80)
    direct = fid_of(invoke("fid", a, b, "-e", "test-pixels", "--json"))
    protocol = direct["protocol"]
    assert direct["fid"] > 0.01
    assert protocol["n_fake"] == 40 and protocol["n_real"] == 30
    assert protocol["extractor"]["kind"] == "test-pixels" and protocol["extractor"]["weights_sha256"] == "none"
    assert "not comparable to published FIDs" in protocol["note"]

    saved = invoke("fid", a, "-e", "test-pixels", "--save-stats", tmp_path / "a.npz")
    assert saved.exit_code == 0 and "Wrote the statistics of 40 images" in saved.stdout
    via_file = fid_of(invoke("fid", tmp_path / "a.npz", b, "-e", "test-pixels", "--json"))
    assert via_file["fid"] == pytest.approx(direct["fid"], rel=1e-12)
    # ganzoo's .npz keeps a sample of features, so KID and precision/recall work from it too.
    full = fid_of(invoke("fid", tmp_path / "a.npz", b, "-e", "test-pixels", "--metrics", "fid,kid,pr", "--json"))
    assert {"fid", "kid", "kid_std", "precision", "recall"} <= set(full)

    same = fid_of(invoke("fid", a, a, "-e", "test-pixels", "--json"))
    assert abs(same["fid"]) < 1e-6  # ~sqrt(machine eps): 40 images span fewer than 48 dimensions


def test_pytorch_fid_style_npz_is_accepted_with_a_warning(tmp_path, mhost):
    a, b = folder(tmp_path / "a", 20, 0), folder(tmp_path / "b", 20, 1)
    invoke("fid", a, "-e", "test-pixels", "--save-stats", tmp_path / "a.npz")
    with np.load(tmp_path / "a.npz") as npz:  # only what pytorch-fid writes
        np.savez(tmp_path / "plain.npz", mu=npz["mu"], sigma=npz["sigma"])
    result = invoke("fid", tmp_path / "plain.npz", b, "-e", "test-pixels")
    assert result.exit_code == 0 and "does not record how it was computed" in err(result)
    kid = invoke("fid", tmp_path / "plain.npz", b, "-e", "test-pixels", "--metrics", "kid")
    assert kid.exit_code == 2 and "KID needs the features themselves" in err(kid)


@pytest.mark.parametrize("case", ["missing-folder", "sizes-in-folder", "sizes-across", "npz-without-mu",
                                  "unknown-extractor", "bad-option", "one-side", "unknown-metric", "other-extractor"])
def test_bad_input_is_one_paragraph_and_exit_2(tmp_path, mhost, case):
    a = folder(tmp_path / "a", 6, 0)
    if case == "missing-folder":
        args, expect = ("fid", a, tmp_path / "nope"), "does not exist"
    elif case == "sizes-in-folder":
        folder(tmp_path / "mixed", 2, 0)
        Image.new("RGB", (20, 16)).save(tmp_path / "mixed" / "z.png")
        args, expect = ("fid", tmp_path / "mixed", a), "differ in size"
    elif case == "sizes-across":
        args, expect = ("fid", folder(tmp_path / "big", 3, 0, size=(32, 32)), a), "different image sizes"
    elif case == "npz-without-mu":
        np.savez(tmp_path / "x.npz", mean=np.zeros(4))
        args, expect = ("fid", tmp_path / "x.npz", a), "must hold arrays 'mu' and 'sigma'"
    elif case == "unknown-extractor":
        args, expect = ("fid", a, a, "-e", "test-pixel"), "Did you mean 'test-pixels'"
    elif case == "bad-option":
        args, expect = ("fid", a, a, "-e", "test-pixels", "-o", "sise=3"), "Accepted fields: size"
    elif case == "one-side":
        args, expect = ("fid", a, "-e", "test-pixels"), "--save-stats"
    elif case == "unknown-metric":
        args, expect = ("fid", a, a, "-e", "test-pixels", "--metrics", "fid,isc"), "Unknown metric 'isc'"
    else:
        invoke("fid", a, "-e", "test-pixels", "-o", "size=2", "--save-stats", tmp_path / "s.npz")
        args, expect = ("fid", tmp_path / "s.npz", a, "-e", "test-pixels"), "different feature extractor"
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert expect in err(result) and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) <= 6  # one paragraph, wrapped by the terminal


def test_eval_run_dir_records_numbers_with_their_protocol(tmp_path, mhost):
    result = run_recipe(resolve(tiny_recipe(tmp_path, steps=4), mhost), mhost)
    run_dir = result.run_dir.path
    out = invoke("eval", run_dir, "-e", "test-pixels", "--n-fake", "40", "--metrics", "fid,kid,pr", "--json")
    record = fid_of(out)
    p = record["protocol"]
    assert p["n_fake"] == 40 and p["n_real"] == 48 and p["generator"] == "ema"
    assert p["fake"]["step"] == 4 and p["real"]["kind"] == "test-squares"
    assert p["real"]["content_sha256"] == json.loads((run_dir / "run.json").read_text())["data"]["content_sha256"]
    assert p["extractor"]["kind"] == "test-pixels" and p["kid"]["subset_size"] == 40 and p["pr"]["k"] == 3
    assert p["reference_cached"] is False
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["fid"] == record["fid"]

    again = fid_of(invoke("eval", run_dir, "-e", "test-pixels", "--n-fake", "40", "--metrics", "fid,kid,pr",
                          "--batch-size", "7", "--json"))
    assert again["protocol"]["reference_cached"] is True
    for key in ("fid", "kid", "precision", "recall"):  # batch size and cache change nothing
        assert again[key] == pytest.approx(record[key], rel=1e-10, abs=1e-15)
    raw = fid_of(invoke("eval", run_dir, "-e", "test-pixels", "--n-fake", "40", "--raw", "--json"))
    assert raw["protocol"]["generator"] == "raw" and raw["fid"] != record["fid"]
    human = invoke("eval", run_dir, "-e", "test-pixels", "--n-fake", "40")
    assert human.exit_code == 0 and "FID" in human.stdout and "40 EMA fakes at step 4 vs 48 reals" in human.stdout


class Seen(Callback):
    def __init__(self):
        self.metrics = []

    def on_metrics(self, trainer, record):
        self.metrics.append(record)


def test_periodic_eval_writes_jsonl_and_leaves_training_unchanged(tmp_path, mhost):
    plain = tiny_recipe(tmp_path / "plain", steps=8)
    evaluated = tiny_recipe(tmp_path / "eval", steps=8)
    evaluated["eval"] = {"every_images": 24, "n_fake": 20, "metrics": ["fid", "kid", "pr"], "batch_size": 6,
                         "extractor": "test-pixels"}  # a kind alone is short for {kind: test-pixels}
    seen = Seen()
    a = run_recipe(resolve(plain, mhost), mhost)
    b = run_recipe(resolve(evaluated, mhost), mhost, [seen])

    records = [json.loads(x) for x in b.run_dir.stats_file.read_text().splitlines()]
    evals = [r for r in records if "eval/fid" in r]
    # 8 images a step, a record every 2 steps: the first records at or past 24 and 48 images, and the last.
    assert [r["images_seen"] for r in evals] == [32, 48, 64]
    assert all(r["eval/protocol"]["n_fake"] == 20 and r["eval/protocol"]["generator"] == "ema" for r in evals)
    assert evals[-1]["eval/protocol"]["fake"]["step"] == 8 and "eval/precision" in evals[-1]
    assert seen.metrics == evals
    # Evaluation forks the RNG and restores modes: training is bit-identical to a run without it.
    wa, wb = (load_file(str(sorted(r.run_dir.checkpoints.glob("*.safetensors"))[-1])) for r in (a, b))
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key
    def losses(rs):
        return [{k: v for k, v in r.items() if "/" in k} for r in rs if "eval/fid" not in r]

    assert losses(records) == losses([json.loads(x) for x in a.run_dir.stats_file.read_text().splitlines()])


def test_eval_section_checks_its_extractor(tmp_path, mhost):
    recipe = tiny_recipe(tmp_path)
    recipe["eval"] = {"every_images": 100, "extractor": {"kind": "test-pixels", "sise": 2}}
    with pytest.raises(RecipeError, match=r"eval.extractor.sise.*Did you mean 'size'"):
        resolve(recipe, mhost)
    recipe["eval"]["extractor"] = {"kind": "no-such-extractor"}
    with pytest.raises(RecipeError, match="Unknown feature_extractor kind 'no-such-extractor'"):
        resolve(recipe, mhost)
    recipe["eval"] = {"extractor": "no-such-extractor"}  # not evaluated during training: checked by `ganzoo eval`
    assert resolve(recipe, mhost).recipe.eval.extractor.kind == "no-such-extractor"
