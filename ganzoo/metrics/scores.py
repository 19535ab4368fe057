"""FID, KID and improved precision/recall from feature statistics, all in float64.

- Frechet distance (Heusel et al. 2017, https://arxiv.org/abs/1706.08500) between
  N(mu1, S1) and N(mu2, S2): |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^1/2).
  The trace of the square root is the sum of the square roots of the eigenvalues
  of B^T S2 B where S1 = B B^T (Cholesky; or, when S1 is singular, B spans its
  range only), a symmetric matrix, so ``eigvalsh`` replaces ``scipy.linalg.sqrtm``:
  several times faster, no complex round-off, the same value to ~1e-9 when the
  covariances have full rank, and exact to round-off when they do not (fewer
  images than dimensions), where sqrtm is off by ~1e-5.
- KID (Binkowski et al. 2018, https://arxiv.org/abs/1801.01401): the unbiased
  MMD^2 estimate with the kernel k(x, y) = (x.y / d + 1)^3, averaged over random
  subsets, as stylegan2-ada's ``metrics/kernel_inception_distance.py``.
- Precision and recall (Kynkaanniemi et al. 2019, https://arxiv.org/abs/1904.06991):
  a sample is inside a set's manifold when it lies within the distance to the
  k-th nearest neighbour (k=3) of some member of that set.
- Inception Score (Salimans et al. 2016, https://arxiv.org/abs/1606.03498):
  exp(E_x KL(p(y|x) || p(y))) from a classifier's logits of the generated images
  alone, its mean and standard deviation over 10 splits, as the original code
  (openai/improved-gan) and torch-fidelity compute it.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch

from ganzoo.metrics.errors import InputError


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """The Frechet distance between two Gaussians (the FID when they are Inception statistics)."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise InputError(f"Cannot compare statistics of {mu1.shape[-1]}-d and {mu2.shape[-1]}-d features: they "
                         f"come from different feature extractors.")
    try:  # S1 = L L^T, and S1 S2 is similar to the symmetric L^T S2 L: a Cholesky is ~10x cheaper than eigh
        root1 = np.linalg.cholesky(sigma1)
    except np.linalg.LinAlgError:
        # Singular (fewer images than dimensions): S1 = B B^T over its range only (B = V_r w_r^1/2), so the
        # null space adds no sqrt(round-off) terms; scipy's sqrtm, which pytorch-fid uses, is off by ~1e-5 here.
        w, v = np.linalg.eigh(sigma1)
        keep = w > w.max() * len(w) * np.finfo(np.float64).eps
        root1 = v[:, keep] * np.sqrt(w[keep])
    middle = root1.T @ sigma2 @ root1
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_sqrt = np.sqrt(np.clip(eigenvalues, 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt)


def _rows64(x: np.ndarray | torch.Tensor, rows=slice(None)) -> torch.Tensor:
    """Some rows of a float32 (or float64) feature array, as float64: converted piece by piece, never all at once."""
    if not isinstance(x, torch.Tensor):
        x = torch.from_numpy(np.asarray(x))
    return x[rows].to(torch.float64)


def kernel_inception_distance(fake: np.ndarray | torch.Tensor, real: np.ndarray | torch.Tensor,
                              subset_size: int = 1000, subsets: int = 100, seed: int = 0) -> tuple[float, float, int]:
    """KID's mean and standard deviation over ``subsets`` random subsets, and the subset size used.

    When both pools hold at most ``subset_size`` vectors each subset is the whole pool, so the value is
    computed once and the standard deviation is 0 (no spread over subsets exists)."""
    d = fake.shape[1]
    m = min(len(fake), len(real), subset_size)
    if m < 2:
        raise InputError(f"KID needs at least 2 feature vectors on each side; got {len(fake)} and {len(real)}.")
    rng = np.random.default_rng(seed)
    values = []
    # Pools no larger than the subset size make every subset the whole pool: one value, and no spread to
    # report (100 copies of it used to print "± 3e-16").
    for _ in range(1 if m == len(fake) == len(real) else subsets):
        x = _rows64(fake, torch.from_numpy(rng.choice(len(fake), m, replace=False)))
        y = _rows64(real, torch.from_numpy(rng.choice(len(real), m, replace=False)))
        k_xx = (x @ x.T / d + 1) ** 3
        k_yy = (y @ y.T / d + 1) ** 3
        k_xy = (x @ y.T / d + 1) ** 3
        within = (k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
        values.append(float(within - 2 * k_xy.sum() / (m * m)))
    return float(np.mean(values)), float(np.std(values)), m


def _distance_blocks(queries, points, block: int, columns: int):
    """Yield (row slice, column slice, squared distances) in float64 blocks, so memory stays a few MiB."""
    norms = torch.cat([(p * p).sum(1) for p in (_rows64(points, slice(c, c + columns))
                                                 for c in range(0, len(points), columns))])
    for r in range(0, len(queries), block):
        q = _rows64(queries, slice(r, r + block))
        q_norms = (q * q).sum(1, keepdim=True)
        for c in range(0, len(points), columns):
            d = q @ _rows64(points, slice(c, c + columns)).T
            d.mul_(-2).add_(q_norms).add_(norms[c:c + columns])
            yield slice(r, r + len(q)), slice(c, c + columns), d.clamp_(min=0)


def _kth_radii(x, k: int, block: int, columns: int) -> torch.Tensor:
    """Squared distance from each row of x to its k-th nearest other row (the row itself is the 0th)."""
    out = torch.empty(len(x), dtype=torch.float64)
    best: Optional[torch.Tensor] = None
    for rows, cols, d in _distance_blocks(x, x, block, columns):
        if cols.start == 0:
            best = torch.empty(len(d), 0, dtype=torch.float64)
        both = torch.cat([best, d], dim=1)
        best = both.topk(min(k + 1, both.shape[1]), dim=1, largest=False).values
        if cols.start + columns >= len(x):
            out[rows] = best[:, k]
    return out


def _covered(queries, points, radii: torch.Tensor, block: int, columns: int) -> torch.Tensor:
    """For each query, whether it lies within the radius of at least one point."""
    out = torch.zeros(len(queries), dtype=torch.bool)
    for rows, cols, d in _distance_blocks(queries, points, block, columns):
        out[rows] |= (d <= radii[cols]).any(dim=1)
    return out


def precision_recall(fake: np.ndarray | torch.Tensor, real: np.ndarray | torch.Tensor, k: int = 3,
                     block: int = 256, columns: int = 2048) -> tuple[float, float]:
    """Improved precision (fakes inside the real manifold) and recall (reals inside the fake manifold)."""
    if min(len(fake), len(real)) <= k:
        raise InputError(f"Precision/recall with k={k} needs more than {k} feature vectors on each side; got "
                         f"{len(fake)} fake and {len(real)} real.")
    real_radii, fake_radii = _kth_radii(real, k, block, columns), _kth_radii(fake, k, block, columns)
    precision = _covered(fake, real, real_radii, block, columns).double().mean().item()
    recall = _covered(real, fake, fake_radii, block, columns).double().mean().item()
    return precision, recall


def _split_inception_score(log_p: torch.Tensor) -> float:
    """exp of the mean KL(p(y|x) || p(y)) over one split's rows of log-probabilities, p(y) being their mean."""
    log_marginal = torch.logsumexp(log_p, dim=0) - math.log(len(log_p))  # log of the mean, without underflow
    kl = (log_p.exp() * (log_p - log_marginal)).sum(dim=1)
    return math.exp(kl.mean().item())


def inception_score(logits: np.ndarray | torch.Tensor, splits: int = 10,
                    seed: Optional[int] = None) -> tuple[float, float]:
    """The Inception Score's mean and standard deviation over ``splits`` near-equal splits of the rows of ``logits``.

    ``logits`` (N, classes) are a classifier's for N generated images; the softmax is
    taken over all classes, in float64. Split i holds rows ``i*N//splits`` to
    ``(i+1)*N//splits``, after a permutation seeded by ``seed`` (None: in the given
    order), so that images stored in class order do not make one-class splits.
    """
    log_p = torch.log_softmax(_rows64(logits), dim=1)
    n = len(log_p)
    if splits < 1 or n < splits:
        raise InputError(f"The Inception Score over {splits} splits needs at least {splits} images; got {n}.")
    if seed is not None:
        log_p = log_p[torch.from_numpy(np.random.default_rng(seed).permutation(n))]
    values = [_split_inception_score(log_p[i * n // splits:(i + 1) * n // splits]) for i in range(splits)]
    return float(np.mean(values)), float(np.std(values))
