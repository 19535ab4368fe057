"""The Inception Score: the formula and its splits, who offers it, and every place it is computed.

The formula is checked against values worked out by hand and against a naive
numpy transcription of Salimans et al.'s definition; the wiring with a cheap
in-test extractor that has a classifier; the Inception extractor end to end with
random weights saved in the official file's format (no download).
"""
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ganzoo.api import hookimpl
from ganzoo.cli import app
from ganzoo.compare.recipe import Entry
from ganzoo.compare.results import EntryResult, RunScores
from ganzoo.compare.tables import leaderboard
from ganzoo.errors import RecipeError
from ganzoo.metrics import FeatureStats, InputError, inception_score
from ganzoo.metrics.evaluate import MetricSettings, build_extractor, extract, make_record
from ganzoo.metrics.sources import dataset_source
from ganzoo.recipe import resolve
from ganzoo.runner import run_recipe
from tests.conftest import tiny_recipe
from tests.test_metrics import Pixels, PixelsPlugin, images

runner = CliRunner()


def naive_inception_score(logits: np.ndarray, splits: int) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) || p(y))) per split of consecutive rows, as written in the paper (no log-space tricks)."""
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    n = len(p)
    values = []
    for i in range(splits):
        part = p[i * n // splits:(i + 1) * n // splits]
        marginal = part.mean(0)
        kl = (part * (np.log(part) - np.log(marginal))).sum(1)
        values.append(np.exp(kl.mean()))
    return float(np.mean(values)), float(np.std(values))


def confident(classes: list[int], num_classes: int = 1008, margin: float = 50.0) -> torch.Tensor:
    """Logits that put all the mass (up to e^-margin) on the given class of each row."""
    logits = torch.zeros(len(classes), num_classes, dtype=torch.float64)
    logits[torch.arange(len(classes)), torch.tensor(classes)] = margin
    return logits


# ------------------------------------------------------------------ the formula

def test_uniform_predictions_score_one():
    assert inception_score(torch.zeros(30, 1008), splits=10) == (1.0, 0.0)


def test_confident_predictions_spread_evenly_over_k_classes_score_k():
    mean, std = inception_score(confident([i % 7 for i in range(140)]), splits=10)  # 14 per split, 2 per class
    assert mean == pytest.approx(7.0, rel=1e-12) and std == pytest.approx(0.0, abs=1e-12)


def test_two_images_two_classes_by_hand():
    # p(y|x1) = (3/4, 1/4), p(y|x2) = (1/4, 3/4), so p(y) = (1/2, 1/2) and each KL is 3/4 ln(3/2) + 1/4 ln(1/2).
    logits = np.log(np.array([[0.75, 0.25], [0.25, 0.75]]))
    mean, std = inception_score(logits, splits=1)
    assert mean == pytest.approx(np.exp(0.75 * np.log(1.5) + 0.25 * np.log(0.5)), rel=1e-14) and std == 0.0


def test_splits_are_consecutive_near_equal_parts_and_shuffled_by_the_seed():
    ordered = confident([0] * 10 + [1] * 10)  # stored in class order, as a folder of class sub-folders is read
    assert inception_score(ordered, splits=1)[0] == pytest.approx(2.0, rel=1e-12)
    assert inception_score(ordered, splits=2) == (pytest.approx(1.0), pytest.approx(0.0))  # one class per split
    shuffled = inception_score(ordered, splits=2, seed=0)  # each split now holds both classes
    assert shuffled == inception_score(ordered[np.random.default_rng(0).permutation(20)], splits=2)
    assert shuffled[0] > 1.5

    logits = np.random.default_rng(0).normal(0, 3, (25, 12))  # 25 rows in 10 splits: sizes 2 and 3
    assert inception_score(logits, splits=10) == pytest.approx(naive_inception_score(logits, 10), rel=1e-12)
    permuted = logits[np.random.default_rng(4).permutation(25)]
    assert inception_score(logits, splits=10, seed=4) == pytest.approx(naive_inception_score(permuted, 10), rel=1e-12)
    with pytest.raises(InputError, match="over 10 splits needs at least 10 images; got 9"):
        inception_score(logits[:9], splits=10)


def test_float32_logits_are_scored_in_float64():
    logits = np.random.default_rng(1).normal(0, 4, (40, 1008)).astype(np.float32)
    ours = inception_score(torch.from_numpy(logits), splits=4)
    assert ours == pytest.approx(naive_inception_score(logits.astype(np.float64), 4), rel=1e-12)


# ------------------------------------------------------------------ who offers it

class PixelClasses(Pixels):
    """Pooled pixels with a toy classifier: each pooled value, scaled, is one class's logit."""

    kind = "test-pixel-classes"
    classifier = "pooled pixels x 20 (test)"

    def class_logits(self, features):
        return 20 * features.to(torch.float64)


class ClassesPlugin:
    @hookimpl
    def ganzoo_register_feature_extractors(self, register):
        register(PixelClasses)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no Inception weights from the real hub cache
    monkeypatch.delenv("GANZOO_INCEPTION_WEIGHTS", raising=False)


@pytest.fixture
def chost(host, monkeypatch):
    """The conftest host (test-squares data, the installed inception and domain extractors) plus a classifier."""
    host.add_plugin(ClassesPlugin())
    monkeypatch.setattr("ganzoo.host.default_host", lambda: host)
    return host


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_paragraph(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) <= 8
    return " ".join(result.stderr.split())  # rich wraps lines at the terminal width


def folder(path: Path, n: int, seed: int) -> Path:
    from PIL import Image

    path.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(path / f"{i:03d}.png")
    return path


def test_an_extractor_without_a_classifier_is_refused_naming_those_with_one(chost, tmp_path):
    a = folder(tmp_path / "a", 4, 0)
    message = one_paragraph(invoke("fid", a, a, "-e", "domain", "--metrics", "fid,is"))
    assert "feature extractor 'domain' gives features and no class predictions" in message
    assert "Inception weights only" in message
    assert "Installed extractors that provide it: inception, test-pixel-classes" in message
    chost.add_plugin(PixelsPlugin())
    with pytest.raises(InputError, match="'test-pixels' gives features and no class predictions"):
        build_extractor(chost, "test-pixels", {}, metrics=("is",))
    assert build_extractor(chost, "test-pixels", {}, metrics=("fid", "kid")).protocol["kind"] == "test-pixels"


def test_a_recipe_evaluating_is_during_training_with_domain_is_refused_at_eval_metrics(chost, tmp_path):
    recipe = tiny_recipe(tmp_path)
    recipe["eval"] = {"every_images": 100, "metrics": ["fid", "is"], "extractor": "domain"}
    with pytest.raises(RecipeError, match=r"eval\.metrics: The Inception Score .* 'domain' gives features"):
        resolve(recipe, chost)
    recipe["eval"] = {"metrics": ["fid", "is"], "extractor": "domain"}  # `ganzoo eval -e` may still choose another
    assert resolve(recipe, chost).recipe.eval.metrics == ["fid", "is"]


def test_without_inception_weights_offline_the_missing_weights_message_applies(chost, tmp_path, monkeypatch):
    from ganzoo_features.inception import WEIGHTS_FILE

    monkeypatch.setenv("GANZOO_OFFLINE", "1")
    a = folder(tmp_path / "a", 4, 0)
    message = one_paragraph(invoke("fid", a, a, "--metrics", "is"))
    assert f"The Inception weights file {WEIGHTS_FILE} was not found" in message and "GANZOO_OFFLINE=1" in message


# ------------------------------------------------------------------ where it is computed

def test_the_record_scores_the_first_side_alone_with_its_protocol(chost):
    loaded = build_extractor(chost, "test-pixel-classes", {}, metrics=("fid", "is"))
    fake = extract(loaded, dataset_source(images(n=30), "fakes", {}), batch_size=8, keep=30)
    real = FeatureStats.from_moments(fake.mean + 0.1, fake.sigma, n=50)  # a pytorch-fid .npz: no features
    settings = MetricSettings(("fid", "is"), seed=3)
    record = make_record(fake, real, settings, loaded.protocol, classifier=loaded.extractor)
    expected = inception_score(20 * torch.from_numpy(fake.features).double(), splits=10, seed=3)
    assert (record["is"], record["is_std"]) == pytest.approx(expected, rel=1e-12) and record["is"] > 1.0
    assert record["protocol"]["is"] == {"splits": 10, "images": 30, "classifier": "pooled pixels x 20 (test)",
                                        "softmax over": 48, "order": "shuffled by metrics_seed"}
    assert "kid" not in record and "kid" not in record["protocol"]

    with pytest.raises(InputError, match="KID needs the features themselves, but the second side"):
        make_record(fake, real, MetricSettings(("kid", "is")), loaded.protocol, classifier=loaded.extractor)
    with pytest.raises(InputError, match="classifier, which is only loaded when one side is images"):
        make_record(fake, real, settings, loaded.protocol)  # two .npz files: no extractor was loaded


def test_periodic_evaluation_and_ganzoo_eval_report_is(chost, tmp_path):
    recipe = tiny_recipe(tmp_path, steps=4)
    recipe["eval"] = {"every_images": 32, "n_fake": 20, "metrics": ["fid", "is"], "extractor": "test-pixel-classes"}
    run_dir = run_recipe(resolve(recipe, chost), chost).run_dir
    evaluations = [r for r in map(json.loads, run_dir.stats_file.read_text().splitlines()) if "eval/is" in r]
    assert evaluations and all(r["eval/is"] >= 1.0 and "eval/is_std" in r for r in evaluations)
    last = evaluations[-1]
    assert last["step"] == 4 and last["eval/protocol"]["is"]["images"] == 20

    result = invoke("eval", run_dir.path, "--json")  # the recipe's eval section: same generator, latents, seed
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["is"] == pytest.approx(last["eval/is"], rel=1e-12)
    assert record["fid"] == pytest.approx(last["eval/fid"], rel=1e-12)
    human = invoke("eval", run_dir.path, "--metrics", "is")
    assert human.exit_code == 0 and "IS over 10 splits of 20 fakes" in human.stdout
    assert human.stdout.startswith("IS ")  # the scores line: IS alone, no FID


def test_the_leaderboard_has_an_is_column_only_when_asked_and_still_ranks_by_fid():
    def entry(name, fid, score):
        return EntryResult(Entry(name, "dcgan", "architecture"),
                           [RunScores(None, Path(name), "finished", scores={"fid": fid, "is": score})])

    results = [entry("sharper", 30.0, 4.0), entry("closer", 20.0, 2.0)]
    asked = SimpleNamespace(spec=SimpleNamespace(eval=SimpleNamespace(metrics=["fid", "is"])))
    board = leaderboard(asked, results)
    assert board.header[3:5] == ["FID ↓", "IS ↑"]
    assert [row[1] for row in board.rows] == ["closer", "sharper"] and board.rows[0][4] == "2.00"
    default = SimpleNamespace(spec=SimpleNamespace(eval=SimpleNamespace(metrics=["fid", "kid", "pr"])))
    assert not any(h.startswith("IS") for h in leaderboard(default, results).header)


# ------------------------------------------------------------------ the Inception extractor

def test_ganzoo_fid_gives_the_inception_score_of_side_a_from_the_classifier_in_the_weights_file(chost, tmp_path,
                                                                                                monkeypatch):
    """20 images through random Inception weights (~5 s on 2 cores): IS from fc without its bias, as published."""
    from ganzoo_features.inception import InceptionExtractor, make_random_weights

    weights = make_random_weights(tmp_path / "weights", calibration_images=2)
    monkeypatch.setenv("GANZOO_INCEPTION_WEIGHTS", str(weights))
    a = folder(tmp_path / "a", 20, 0)
    reference = tmp_path / "reference.npz"  # published-style statistics: B costs nothing, and IS ignores it
    np.savez(reference, mu=np.zeros(2048), sigma=np.eye(2048))
    result = invoke("fid", a, reference, "--metrics", "is", "--save-stats", tmp_path / "a.npz", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["protocol"]["is"] == {"splits": 10, "images": 20, "classifier": InceptionExtractor.classifier,
                                        "softmax over": 1008, "order": "shuffled by metrics_seed"}

    with np.load(tmp_path / "a.npz") as saved:  # A's pool3 features, kept beside its statistics
        features = saved["features"].astype(np.float64)
    fc = torch.load(weights, weights_only=True)["fc.weight"].double().numpy()
    order = np.random.default_rng(0).permutation(20)  # the metrics seed shuffles the splits
    expected = naive_inception_score((features @ fc.T)[order], 10)
    assert (record["is"], record["is_std"]) == pytest.approx(expected, rel=1e-9)
    assert record["is"] > 1.0
