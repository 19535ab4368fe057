"""Metrics: streaming statistics, FID/KID/precision-recall, the reference cache, and the extractor hook.

A tiny in-test extractor (4x4 average-pooled pixels) stands in for Inception, so
everything here runs in seconds without weights; plugins/features/tests checks
the real Inception against pytorch-fid.
"""
import numpy as np
import pytest
import scipy.linalg
import torch
from torch.nn import functional as F

from ganzoo.api import FeatureExtractor, ImageData, PluginConfig, hookimpl
from ganzoo.host import create_host
from ganzoo.metrics import FeatureStats, InputError, frechet_distance, kernel_inception_distance, precision_recall
from ganzoo.metrics.evaluate import MetricSettings, build_extractor, compare, extract, reference_stats
from ganzoo.metrics.sources import dataset_source


class PixelsConfig(PluginConfig):
    size: int = 4


class Pixels(FeatureExtractor):
    """Average-pooled pixels: deterministic, per image, cheap."""

    kind = "test-pixels"
    space = "pooled pixels"
    Config = PixelsConfig
    calls = 0

    def __init__(self, config, device="cpu"):
        super().__init__(config, device)
        self.dims = 3 * config.size * config.size

    def protocol(self):
        return {"weights_sha256": "none", "input": f"avg-pool {self.config.size}", "comparable_to_published": False}

    def __call__(self, images):
        Pixels.calls += 1
        x = images.float() / 255
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return F.adaptive_avg_pool2d(x, self.config.size).flatten(1)


class PixelsPlugin:
    @hookimpl
    def ganzoo_register_feature_extractors(self, register):
        register(Pixels)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def host():
    return create_host([PixelsPlugin()], entry_points=False)


def images(n=96, seed=0, r=16, dark=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256 - dark, (n, 3, r, r), generator=g, dtype=torch.uint8)
    return ImageData(x, torch.arange(n) % 2, ("a", "b"))


def random_spd(d, seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(d, 2 * d))
    return a @ a.T / (2 * d) + 0.1 * np.eye(d)


# ------------------------------------------------------------------ hook and statistics

def test_ganzoo_register_feature_extractors_hook_registers_a_kind(host):
    provider = host.feature_extractors.get("test-pixels")
    assert provider.obj is Pixels
    assert "feature_extractor" in [c for r in host.records for c in r.provides]


def test_streaming_statistics_match_numpy_bit_for_bit_in_any_batching():
    rng = np.random.default_rng(0)
    x = rng.normal(5.0, 2.0, size=(2500, 12)).astype(np.float32)  # a large mean: cancellation would show
    results = []
    for batch in (1, 7, 1000, 2500):  # folded in chunks of 1,024 rows at fixed positions
        stats = FeatureStats(12)
        for s in range(0, len(x), batch):
            stats.add(x[s:s + batch])
        np.testing.assert_allclose(stats.mean, x.astype(np.float64).mean(0), rtol=1e-13)
        np.testing.assert_allclose(stats.sigma, np.cov(x.astype(np.float64), rowvar=False), rtol=1e-11, atol=1e-13)
        assert stats.n == 2500 and stats.sigma.dtype == np.float64
        results.append(stats)
    for other in results[1:]:
        np.testing.assert_array_equal(other.mean, results[0].mean)
        np.testing.assert_array_equal(other.sigma, results[0].sigma)


def test_kept_features_are_the_same_sample_whatever_the_batching():
    x = np.arange(200 * 3, dtype=np.float32).reshape(200, 3)
    keep = np.array([0, 5, 6, 99, 150, 199])
    kept = []
    for batch in (1, 13, 200):
        stats = FeatureStats(3, keep)
        for s in range(0, 200, batch):
            stats.add(x[s:s + batch])
        kept.append(stats.features)
    for k in kept:
        np.testing.assert_array_equal(k, x[keep])


# ------------------------------------------------------------------ scores

def test_frechet_distance_matches_scipy_closed_form():
    d = 40
    s1, s2 = random_spd(d, 1), random_spd(d, 2)
    mu1, mu2 = np.random.default_rng(3).normal(size=d), np.random.default_rng(4).normal(size=d)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    expected = (mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)
    # Commuting (diagonal) covariances: FID = |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2.
    a, b = np.linspace(0.5, 3, d), np.linspace(2, 0.1, d)
    closed = (mu1 - mu2) @ (mu1 - mu2) + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(closed, rel=1e-12)


def _low_rank_fid(x, y):
    """FID from the features themselves: S1 = A^T A, so S1 S2 shares its non-zero eigenvalues with A S2 A^T."""
    m1, m2, s2 = x.mean(0), y.mean(0), np.cov(y, rowvar=False)
    a = (x - m1) / np.sqrt(len(x) - 1)
    small = a @ s2 @ a.T
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((small + small.T) / 2), 0, None)).sum()
    return (m1 - m2) @ (m1 - m2) + np.trace(a.T @ a) + np.trace(s2) - 2 * trace_sqrt


def test_frechet_distance_agrees_with_pytorch_fid_function():
    fid_score = pytest.importorskip("pytorch_fid.fid_score")
    d = 64
    rng = np.random.default_rng(5)
    # Full rank (more samples than dimensions): the same value as pytorch-fid's sqrtm route.
    x, y = rng.normal(size=(300, d)), rng.normal(0.3, 1.2, size=(300, d))
    m1, s1, m2, s2 = x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False)
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(fid_score.calculate_frechet_distance(m1, s1, m2, s2),
                                                             rel=1e-10)
    # Rank-deficient (fewer samples than dimensions): exact against the low-rank formula, where sqrtm
    # (pytorch-fid) carries round-off of the null space into its result.
    x, y = x[:30], y[:30]
    m1, s1, m2, s2 = x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False)
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(_low_rank_fid(x, y), rel=2e-9)  # sqrtm: 2e-8 off
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(fid_score.calculate_frechet_distance(m1, s1, m2, s2),
                                                             rel=1e-6)


def test_fid_of_a_set_against_itself_is_zero(host):
    loaded = build_extractor(host, "test-pixels", {})
    stats = extract(loaded, dataset_source(images(), "x", {}), batch_size=32)
    value = frechet_distance(stats.mean, stats.sigma, stats.mean, stats.sigma)
    assert abs(value) < 1e-10 * np.trace(stats.sigma)


def _naive_unbiased_mmd2(x, y):
    d = x.shape[1]
    k = lambda a, b: (a @ b / d + 1) ** 3  # noqa: E731
    m = len(x)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_is_the_unbiased_polynomial_mmd():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(12, 5)), rng.normal(0.5, 1, size=(12, 5))
    mean, std, m = kernel_inception_distance(x, y, subset_size=12, subsets=3)  # each subset is the whole set
    assert m == 12 and std < 1e-12
    assert mean == pytest.approx(_naive_unbiased_mmd2(x, y), rel=1e-10)
    # Unbiased: two samples of one distribution average to ~0 (can be negative), different ones do not.
    same = kernel_inception_distance(rng.normal(size=(400, 8)), rng.normal(size=(400, 8)), 100, 50)[0]
    other = kernel_inception_distance(rng.normal(size=(400, 8)), rng.normal(1, 1, size=(400, 8)), 100, 50)[0]
    assert abs(same) < 0.05 * other


def test_precision_and_recall_follow_the_manifolds():
    rng = np.random.default_rng(7)
    real = np.concatenate([rng.normal(0, 0.1, (100, 2)), rng.normal(10, 0.1, (100, 2))])
    assert precision_recall(real, real) == (1.0, 1.0)
    one_mode = rng.normal(0, 0.1, (100, 2))  # good samples, but only one of the two modes
    precision, recall = precision_recall(one_mode, real)
    assert precision > 0.9 and 0.4 < recall < 0.6
    far = rng.normal(50, 0.1, (100, 2))
    assert precision_recall(far, real) == (0.0, 0.0)


def test_scores_do_not_depend_on_the_batch_size(host):
    loaded = build_extractor(host, "test-pixels", {})
    settings = MetricSettings(("fid", "kid", "pr"), pool=60, kid_subset_size=40, kid_subsets=10)
    real = dataset_source(images(120, seed=1), "real", {})
    fake = dataset_source(images(90, seed=2, dark=60), "fake", {})
    results = []
    for batch in (1, 7, 64):
        r = extract(loaded, real, batch, settings.pool, settings.seed)
        f = extract(loaded, fake, batch, settings.pool, settings.seed)
        results.append(compare(f, r, settings)["scores"])
    assert results[0] == results[1] == results[2]  # exactly: same chunks, same kept features
    assert results[0]["fid"] > 0.01


# ------------------------------------------------------------------ reference cache

def test_reference_cache_hits_and_invalidates_when_one_image_changes(host, tmp_path):
    loaded = build_extractor(host, "test-pixels", {})
    settings = MetricSettings(("fid",), pool=10)
    data = images(40)
    info = {"type": "dataset", "kind": "test", "split": None}
    first = reference_stats(loaded, dataset_source(data, "d", info), settings, batch_size=16)
    assert first.meta["cached"] is False
    assert len(list((tmp_path / "cache" / "stats").glob("test-pixels-*.npz"))) == 1

    Pixels.calls = 0
    again = reference_stats(loaded, dataset_source(data, "d", info), settings, batch_size=16)
    assert again.meta["cached"] is True and Pixels.calls == 0
    np.testing.assert_array_equal(again.mean, first.mean)
    np.testing.assert_array_equal(again.sigma, first.sigma)
    np.testing.assert_array_equal(again.features, first.features)

    changed = ImageData(data.images.clone(), data.labels, data.class_names)
    changed.images[17, 0, 3, 3] ^= 1  # one pixel of one image
    fresh = reference_stats(loaded, dataset_source(changed, "d", info), settings, batch_size=16)
    assert fresh.meta["cached"] is False and Pixels.calls > 0
    assert not np.array_equal(fresh.mean, first.mean)
    assert len(list((tmp_path / "cache" / "stats").glob("*.npz"))) == 2

    # Any part of the protocol keys the cache too: the count, the extractor's options.
    fewer = reference_stats(loaded, dataset_source(data, "d", info, count=30), settings, batch_size=16)
    other = build_extractor(host, "test-pixels", {"size": 2})
    coarser = reference_stats(other, dataset_source(data, "d", info), settings, batch_size=16)
    assert fewer.meta["cached"] is False and fewer.n == 30 and coarser.meta["cached"] is False
    assert len(list((tmp_path / "cache" / "stats").glob("*.npz"))) == 4


def test_statistics_files_round_trip_and_bad_ones_are_refused(host, tmp_path):
    loaded = build_extractor(host, "test-pixels", {})
    stats = extract(loaded, dataset_source(images(20), "x", {}), 8, keep=5)
    stats.save(tmp_path / "s.npz")
    back = FeatureStats.load(tmp_path / "s.npz")
    np.testing.assert_array_equal(back.mean, stats.mean)
    np.testing.assert_array_equal(back.sigma, stats.sigma)
    assert back.n == 20 and back.features.shape == (5, 48) and back.meta["extractor"]["kind"] == "test-pixels"
    with np.load(tmp_path / "s.npz") as npz:  # what pytorch-fid reads
        assert npz["mu"].shape == (48,) and npz["sigma"].shape == (48, 48)
    np.savez(tmp_path / "bad.npz", mean=np.zeros(3))
    with pytest.raises(InputError, match="must hold arrays 'mu' and 'sigma'.*holds mean"):
        FeatureStats.load(tmp_path / "bad.npz")


@pytest.mark.slow
def test_frechet_distance_agrees_with_pytorch_fid_at_2048_dimensions():
    """Full-rank Inception-sized statistics (scipy's sqrtm at 2048-d: ~30 s on 2 cores)."""
    fid_score = pytest.importorskip("pytorch_fid.fid_score")
    rng = np.random.default_rng(8)
    x = rng.gamma(2.0, 0.2, size=(2600, 2048))  # non-negative and skewed, like pool3 activations
    y = rng.gamma(2.2, 0.19, size=(2600, 2048))
    m1, s1, m2, s2 = x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False)
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(fid_score.calculate_frechet_distance(m1, s1, m2, s2),
                                                             rel=1e-9)


def test_kid_over_whole_pools_is_computed_once_with_no_spread():
    """With pools no larger than the subset size every subset is the whole pool: no spread exists."""
    from ganzoo.metrics.report import format_scores
    from ganzoo.metrics.scores import kernel_inception_distance
    rng = np.random.default_rng(0)
    fake, real = rng.normal(size=(50, 8)), rng.normal(0.5, 1, size=(50, 8))
    mean, std, m = kernel_inception_distance(fake, real, subset_size=1000, subsets=100)
    assert (std, m) == (0.0, 50)
    assert mean == pytest.approx(kernel_inception_distance(fake, real, subset_size=50, subsets=3)[0])
    assert "±" not in format_scores({"kid": mean, "kid_std": std})
    assert kernel_inception_distance(fake, real, subset_size=20, subsets=10)[1] > 0  # real subsets: a spread
