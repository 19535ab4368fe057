"""The inception and domain extractors: agreement with pytorch-fid, weights handling, offline behaviour.

No download happens: the Inception weights are random (calibrated) weights saved
in the official file's format, which pytorch-fid itself loads from a private
torch hub cache, untouched.
"""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from ganzoo.api import ImageData
from ganzoo.cli import app
from ganzoo.host import create_host
from ganzoo.metrics import InputError, frechet_distance
from ganzoo.metrics.check import check_feature_space
from ganzoo.metrics.evaluate import build_extractor, extract
from ganzoo.metrics.sources import dataset_source, folder_source
from ganzoo_features import inception
from ganzoo_features.domain import DomainExtractor, model_path
from ganzoo_features.image_statistics import DIMS as STATISTICS
from ganzoo_features.inception import WEIGHTS_FILE, make_random_weights
from ganzoo_features.plugin import ganzoo_register_feature_extractors

pytest.importorskip("pytorch_fid")
from pytorch_fid import fid_score  # noqa: E402
from pytorch_fid.inception import InceptionV3  # noqa: E402

runner = CliRunner()


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory):
    return make_random_weights(tmp_path_factory.mktemp("weights"), calibration_images=2)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No real cache, no real torch hub, no environment weights: each test sets what it needs."""
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("GANZOO_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.delenv("GANZOO_OFFLINE", raising=False)


@pytest.fixture
def host():
    return create_host()


def pictures(path, n, seed, mode="RGB", size=20):
    path.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        # Smooth-ish content: a random gradient plus noise, so images differ in more than noise.
        base = np.linspace(0, rng.uniform(50, 255), size)[None, :] + rng.normal(0, 30, (size, size))
        array = np.clip(base[..., None] * rng.uniform(0.3, 1, 3) if mode == "RGB" else base, 0, 255)
        Image.fromarray(array.astype(np.uint8), mode).save(path / f"{i:03d}.png")
    return path


def pytorch_fid_model(weights: Path, home: Path):
    """pytorch-fid, unpatched, loading the weights file from its usual place in the torch hub cache."""
    hub = home / "hub" / "checkpoints"
    hub.mkdir(parents=True, exist_ok=True)
    shutil.copy(weights, hub / WEIGHTS_FILE)
    return InceptionV3([3]).eval()


def test_hook_registers_both_extractors():
    registered = []
    ganzoo_register_feature_extractors(registered.append)
    assert [c.kind for c in registered] == ["inception", "domain"]


def test_features_and_statistics_agree_with_pytorch_fid(tmp_path, host, random_weights):
    """Same images, same weights: bit-identical features (at other batch sizes too), the same mu, sigma and FID."""
    rgb, grey = pictures(tmp_path / "rgb", 7, 0), pictures(tmp_path / "grey", 3, 1, mode="L")
    model = pytorch_fid_model(random_weights, tmp_path / "torch")
    with pytest.warns(Warning, match="not the official FID Inception weights"):
        loaded = build_extractor(host, "inception", {"weights": str(random_weights)})
    assert loaded.protocol["comparable_to_published"] is False  # random weights are never the official file
    ours, theirs = [], []
    for folder, their_batch, our_batch in ((rgb, 4, 3), (grey, 3, 2)):  # grey: PIL's convert('RGB') vs ours
        files = sorted(folder.glob("*.png"))
        activations = fid_score.get_activations(files, model, batch_size=their_batch, dims=2048, num_workers=0)
        # What pytorch-fid's calculate_activation_statistics does with them:
        theirs.append((np.mean(activations, axis=0), np.cov(activations, rowvar=False)))
        stats = extract(loaded, folder_source(folder), batch_size=our_batch, keep=len(files))
        assert activations.std() > 1e-3  # calibrated random weights give informative features
        np.testing.assert_array_equal(stats.features, activations.astype(np.float32))
        np.testing.assert_allclose(stats.mean, theirs[-1][0], rtol=1e-12)
        np.testing.assert_allclose(stats.sigma, theirs[-1][1], rtol=1e-9, atol=1e-12 * np.abs(theirs[-1][1]).max())
        ours.append(stats)
    # The distance itself is compared with pytorch-fid's calculate_frechet_distance in tests/test_metrics.py
    # (its scipy sqrtm takes ~30 s at 2048-d and fails on 3 images); end to end in the slow test below.
    fid_ours = frechet_distance(ours[0].mean, ours[0].sigma, ours[1].mean, ours[1].sigma)
    assert fid_ours == pytest.approx(frechet_distance(*theirs[0], *theirs[1]), rel=1e-6)


@pytest.mark.slow
def test_fid_end_to_end_agrees_with_pytorch_fid(tmp_path, random_weights, monkeypatch):
    """`ganzoo fid A B` against pytorch-fid's own calculate_fid_given_paths (scipy sqrtm: ~30 s on 2 cores).

    With 10 images a side the covariances have rank 9 in 2048 dimensions; there scipy's sqrtm carries
    round-off of the null space into the result (~1e-5), while ganzoo's value is exact to round-off: so
    ganzoo is checked against the exact low-rank value at 1e-7, and against pytorch-fid at pytorch-fid's
    own accuracy. With full-rank covariances the two agree to 1e-10 (tests/test_metrics.py).
    """
    a, b = pictures(tmp_path / "a", 10, 2), pictures(tmp_path / "b", 10, 3)
    model = pytorch_fid_model(random_weights, tmp_path / "torch")
    theirs = fid_score.calculate_fid_given_paths([str(a), str(b)], 5, "cpu", 2048, num_workers=0)
    monkeypatch.setenv("GANZOO_INCEPTION_WEIGHTS", str(random_weights))
    result = runner.invoke(app, ["fid", str(a), str(b), "--json"])
    assert result.exit_code == 0, result.output
    ours = json.loads(result.stdout)["fid"]

    x, y = (fid_score.get_activations(sorted(p.glob("*.png")), model, 5, 2048, "cpu", 0) for p in (a, b))
    m1, m2, s2 = x.mean(0), y.mean(0), np.cov(y, rowvar=False)
    root = (x - m1) / np.sqrt(len(x) - 1)  # S1 = root^T root: S1 S2 has the eigenvalues of root S2 root^T
    small = root @ s2 @ root.T
    exact = ((m1 - m2) @ (m1 - m2) + np.trace(root.T @ root) + np.trace(s2)
             - 2 * np.sqrt(np.clip(np.linalg.eigvalsh((small + small.T) / 2), 0, None)).sum())
    assert ours == pytest.approx(exact, rel=1e-7)
    assert theirs == pytest.approx(exact, rel=5e-5)
    assert ours == pytest.approx(theirs, rel=5e-5)


def _flat(text):
    return " ".join(text.split())


def test_offline_and_absent_weights_give_a_clear_error(tmp_path, monkeypatch):
    pictures(tmp_path / "a", 2, 0)
    monkeypatch.setenv("GANZOO_OFFLINE", "1")
    result = runner.invoke(app, ["fid", str(tmp_path / "a"), str(tmp_path / "a")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    message = _flat(result.stderr)
    hub = str(tmp_path / "torch" / "hub" / "checkpoints" / WEIGHTS_FILE)
    for part in (WEIGHTS_FILE, "GANZOO_INCEPTION_WEIGHTS", "GANZOO_OFFLINE=1", inception.WEIGHTS_URL, "curl"):
        assert part in message, part
    assert hub.replace("/", "") in message.replace("/", "").replace(" ", "")  # the path may be wrapped


def test_failed_download_says_offline(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("Name or service not known")

    monkeypatch.setattr(inception.torch.hub, "download_url_to_file", no_network)
    with pytest.raises(InputError, match="downloading it from .* failed .*Name or service not known.*offline"):
        inception.InceptionExtractor(inception.InceptionConfig()).load()
    with pytest.raises(InputError, match=r"'download: false'"):
        inception.InceptionExtractor(inception.InceptionConfig(download=False)).load()


def test_weights_are_checked_against_the_hash_in_their_name(tmp_path, monkeypatch, random_weights):
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    shutil.copy(random_weights, hub / WEIGHTS_FILE)  # the official name, but not the official bytes
    with pytest.raises(InputError, match="damaged or not the file its name says.*promises 6726825d"):
        inception.InceptionExtractor(inception.InceptionConfig()).load()
    monkeypatch.setenv("GANZOO_INCEPTION_WEIGHTS", str(tmp_path / "missing.pth"))
    with pytest.raises(InputError, match="GANZOO_INCEPTION_WEIGHTS is set to .*missing.pth', which does not exist"):
        inception.InceptionExtractor(inception.InceptionConfig()).load()
    junk = tmp_path / "junk.pth"
    torch.save({"w": torch.zeros(1)}, junk)
    with pytest.warns(Warning), pytest.raises(InputError, match="does not hold FID Inception weights"):
        inception.InceptionExtractor(inception.InceptionConfig(weights=junk)).load()


# ------------------------------------------------------------------ domain

def shapes(n=240, r=16, seed=0):
    """Two classes a small CNN can tell apart: dark squares and dark horizontal bars, on white."""
    g = torch.Generator().manual_seed(seed)
    x = torch.full((n, 1, r, r), 255, dtype=torch.uint8)
    for i in range(n):
        a, b = torch.randint(2, r // 2, (2,), generator=g).tolist()
        if i % 2:
            x[i, :, a:a + 6, b:b + 6] = 40
        else:
            x[i, :, a:a + 2, 1:r - 1] = 40
    return ImageData(x, torch.arange(n) % 2, ("square", "bar"))


def test_domain_trains_caches_and_extracts(host):
    data = shapes()
    config = DomainExtractor.Config(width=4, epochs=3, batch_size=32, lr=1e-2)
    extractor = DomainExtractor(config)
    with pytest.raises(InputError, match="ganzoo features train domain"):
        extractor.load(data)
    summary = extractor.train(data, log=lambda line: None)
    assert Path(summary["path"]) == model_path(data.content_hash(), config) and Path(summary["path"]).exists()
    assert summary["held_out_accuracy"] > 0.8

    loaded = build_extractor(host, "domain", {"width": 4, "epochs": 3, "batch_size": 32, "lr": 1e-2}, reference=data)
    assert loaded.protocol["comparable_to_published"] is False and loaded.protocol["dims"] == 32 + STATISTICS
    assert loaded.protocol["trained_on_sha256"] == data.content_hash()
    stats = extract(loaded, dataset_source(data, "d", {}), batch_size=17)
    assert stats.n == 240 and np.isfinite(stats.sigma).all()
    by_path = build_extractor(host, "domain", {"weights": summary["path"]})  # no reference data needed
    assert by_path.protocol["weights_sha256"] == loaded.protocol["weights_sha256"]
    with pytest.raises(InputError, match="trained on 16x16 images but got 32x32"):
        loaded.extractor(torch.zeros(2, 1, 32, 32, dtype=torch.uint8))
    unlabelled = DomainExtractor(config).train(ImageData(data.images), log=lambda line: None)
    assert unlabelled["held_out_accuracy"] is None and unlabelled["objective"] == "contrastive views (shift, mirror)"
    assert 0 <= unlabelled["held_out_view_match"] <= 1


def test_domain_model_of_the_old_format_is_refused_with_what_to_do(tmp_path):
    from safetensors.torch import save_file
    old = tmp_path / "old.safetensors"
    save_file({"w": torch.zeros(1)}, str(old), metadata={"format": "ganzoo-domain-1"})
    with pytest.raises(InputError, match="older, colour-blind category classifier"):
        DomainExtractor(DomainExtractor.Config(weights=old)).load()
    damaged = tmp_path / "damaged.safetensors"
    save_file({"w": torch.zeros(1)}, str(damaged), metadata={"format": "ganzoo-domain-2", "width": "4"})
    with pytest.raises(InputError, match="damaged domain model"):
        DomainExtractor(DomainExtractor.Config(weights=damaged)).load()


def test_domain_features_see_colour_that_the_labels_do_not_need(host):
    """Two shapes in random warm colours: a category classifier needs no colour, the domain space must see it."""
    g = torch.Generator().manual_seed(0)
    shapes_data = shapes(n=400)
    warm = torch.stack([torch.tensor([200, 80, 40]) + torch.randint(-40, 41, (3,), generator=g) for _ in range(400)])
    dark = shapes_data.images < 128
    x = torch.where(dark, warm.view(400, 3, 1, 1), torch.tensor(255)).to(torch.uint8)
    data = ImageData(x, shapes_data.labels, shapes_data.class_names)
    options = {"width": 8, "epochs": 6, "batch_size": 64, "lr": 1e-2}
    DomainExtractor(DomainExtractor.Config(**options)).train(data, log=lambda line: None)
    loaded = build_extractor(host, "domain", options, reference=data)
    report = check_feature_space(loaded, data, {"kind": "test"})
    floor = report.case("floor").fid
    assert report.case("greyscale").fid > 3 * floor and report.case("hue").fid > 3 * floor
    assert report.case("greyscale").status == "pass"


def test_features_train_command(tmp_path):
    args = ["features", "train", "domain", "catalogue:size=60,resolution=16", "-o", "epochs=1", "-o", "width=4"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    models = list((tmp_path / "cache" / "features" / "domain").glob("*.safetensors"))
    assert "Saved" in first.stdout and len(models) == 1
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "already trained" in again.stdout
    wrong = runner.invoke(app, ["features", "train", "inception", "catalogue:size=60"])
    assert wrong.exit_code == 2 and "not trainable" in _flat(wrong.stderr)
    listing = runner.invoke(app, ["features", "list", "--json"])
    assert {r["kind"]: r["trainable"] for r in json.loads(listing.stdout)} == {"domain": True, "inception": False}


def _fashion_mnist_root():
    import os
    for place in (os.environ.get("GANZOO_FASHION_MNIST"), "/work/shared/data/fashion-mnist",
                  "/usr/share/datasets/fashion-mnist", "~/.cache/ganzoo/fashion-mnist"):
        if place and any(Path(place).expanduser().glob("train-images-idx3-ubyte*")):
            return str(Path(place).expanduser())
    return None


@pytest.mark.slow
@pytest.mark.skipif(_fashion_mnist_root() is None, reason="no local copy of Fashion-MNIST")
def test_domain_ranks_a_trained_model_above_a_barely_trained_one(tmp_path):
    """On Fashion-MNIST: DCGAN after 20 steps vs after 500 steps, in domain space (~2 min on 2 cores)."""
    root = _fashion_mnist_root()
    recipe = tmp_path / "fm.yaml"
    recipe.write_text(f"""\
run: {{output_dir: {tmp_path / 'runs'}, seed: 0}}
data: {{kind: fashion-mnist, resolution: 28, root: {root}, limit: 10000}}
architecture: {{kind: dcgan, width: 16}}
train: {{steps: 500, batch_size: 64, sample_every: 500, checkpoint_every: 500}}
export: {{count: 0}}
eval: {{extractor: domain, n_fake: 2000, metrics: [fid, kid]}}
""")
    trained = runner.invoke(app, ["features", "train", "domain", str(recipe)])
    assert trained.exit_code == 0, trained.output
    scores = {}
    for name, steps in (("barely", 20), ("trained", 500)):
        run = runner.invoke(app, ["run", str(recipe), "--set", f"run.name={name}", "--set", f"train.steps={steps}"])
        assert run.exit_code == 0, run.output
        result = runner.invoke(app, ["eval", str(tmp_path / "runs" / name), "--json"])
        assert result.exit_code == 0, result.output
        scores[name] = json.loads(result.stdout)
    assert scores["trained"]["fid"] < 0.5 * scores["barely"]["fid"]
    assert scores["trained"]["kid"] < scores["barely"]["kid"]
    assert scores["trained"]["protocol"]["extractor"]["kind"] == "domain"
