"""Streaming feature statistics: float64 mean and covariance, plus a fixed sample of the features.

Features arrive batch by batch and are folded in, 1,024 rows at a time, with
Chan, Golub and LeVeque's pairwise update (each chunk is centred on its own mean
first), so 50,000 images never sit in memory; chunks start at fixed positions
of the stream, so the result is bit for bit the same whatever the batch size.
KID and precision/recall need the features themselves: a ``keep`` sample of
them, chosen by index before the first batch arrives, is kept as float32.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from ganzoo.fileio import atomic_path
from ganzoo.metrics.errors import InputError


def sample_indices(count: int, keep: int, seed: int = 0) -> np.ndarray:
    """Sorted positions of ``keep`` of ``count`` items, uniformly at random and seeded (all when keep >= count)."""
    if keep >= count:
        return np.arange(count)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(count, size=keep, replace=False))


class FeatureStats:
    """Mean and covariance (float64) of a stream of feature vectors, and the kept sample of them."""

    CHUNK = 1024  # rows folded at a time: one big matrix product instead of many small ones

    def __init__(self, dims: int, keep: Optional[np.ndarray] = None, meta: Optional[dict[str, Any]] = None,
                 first: int = 0):
        self.dims = dims
        self.first = first                              # stream position of the first row (a process's share)
        self.n = 0                                      # rows added
        self._folded = 0                                # rows folded into _mean and _m2
        self._mean = np.zeros(dims, np.float64)
        self._m2 = np.zeros((dims, dims), np.float64)   # sum of outer products of deviations from the mean
        self._pending: list[np.ndarray] = []            # rows not folded yet (fewer than CHUNK)
        self._keep = np.asarray(keep if keep is not None else [], np.int64)
        self._kept: list[np.ndarray] = []
        self._features: Optional[np.ndarray] = None
        self._sigma: Optional[np.ndarray] = None
        self.meta: dict[str, Any] = dict(meta or {})

    # -- building
    def add(self, features: torch.Tensor | np.ndarray) -> None:
        """Add the next batch (rows are feature vectors, in stream order)."""
        if isinstance(features, torch.Tensor):
            features = features.detach().cpu().numpy()
        x = np.asarray(features, np.float64)
        if x.ndim != 2 or x.shape[1] != self.dims:
            raise ValueError(f"expected features of shape (N, {self.dims}), got {x.shape}")
        b = len(x)
        if b == 0:
            return
        start = self.first + self.n
        if len(self._keep):
            lo, hi = np.searchsorted(self._keep, [start, start + b])
            if hi > lo:
                self._kept.append(np.asarray(features, np.float32)[self._keep[lo:hi] - start])
        self.n += b
        self._pending.append(x)
        # Fold whole chunks at fixed positions of the stream, so the arithmetic (and so every bit of
        # the result) is the same whatever the batch size.
        if self.n - self._folded >= self.CHUNK:
            rows = np.concatenate(self._pending)
            whole = len(rows) // self.CHUNK * self.CHUNK
            for s in range(0, whole, self.CHUNK):
                self._fold(rows[s:s + self.CHUNK])
            self._pending = [rows[whole:]] if whole < len(rows) else []
        self._sigma = None
        self._features = None

    def _fold(self, x: np.ndarray) -> None:
        b = len(x)
        chunk_mean = x.mean(0)
        centred = x - chunk_mean
        delta = chunk_mean - self._mean
        total = self._folded + b
        self._m2 += centred.T @ centred
        self._m2 += np.multiply.outer(delta * (self._folded * b / total), delta)
        self._mean += delta * (b / total)
        self._folded = total

    def _flush(self) -> None:
        if self._pending:
            self._fold(np.concatenate(self._pending))
            self._pending = []

    # -- results
    @property
    def mean(self) -> np.ndarray:
        self._flush()
        return self._mean

    @property
    def m2(self) -> np.ndarray:
        """Sum of outer products of the deviations from the mean (the covariance times n - 1)."""
        self._flush()
        return self._m2

    @property
    def sigma(self) -> np.ndarray:
        """The unbiased covariance (divided by n - 1), as numpy's ``np.cov`` and pytorch-fid compute it."""
        if self._sigma is None:
            self._flush()
            if self.n < 2:
                raise InputError(f"Covariance needs at least 2 images; got {self.n}.")
            self._sigma = self._m2 / (self.n - 1)
        return self._sigma

    @property
    def features(self) -> np.ndarray:
        """The kept sample (float32, rows in stream order); empty when none was kept."""
        if self._features is None:
            self._features = (np.concatenate(self._kept) if self._kept
                              else np.zeros((0, self.dims), np.float32))
            self._kept = [self._features] if len(self._features) else []
        return self._features

    @classmethod
    def from_parts(cls, n: int, mean: np.ndarray, m2: np.ndarray, features: Optional[np.ndarray] = None,
                   meta: Optional[dict[str, Any]] = None) -> "FeatureStats":
        """Statistics from their count, mean and ``m2`` (e.g. the parts of one stream reduced across processes)."""
        stats = cls(len(mean), meta=meta)
        stats._mean, stats._m2 = np.asarray(mean, np.float64), np.asarray(m2, np.float64)
        stats.n = stats._folded = int(n)
        if features is not None and len(features):
            stats._features = np.asarray(features, np.float32)
            stats._kept = [stats._features]
        return stats

    @classmethod
    def from_moments(cls, mu: np.ndarray, sigma: np.ndarray, n: int = 0, features: Optional[np.ndarray] = None,
                     meta: Optional[dict[str, Any]] = None) -> "FeatureStats":
        mu = np.asarray(mu, np.float64).reshape(-1)
        sigma = np.asarray(sigma, np.float64)
        stats = cls(len(mu), meta=meta)
        stats._mean, stats._sigma, stats.n, stats._folded = mu, sigma, int(n), int(n)
        stats._m2 = sigma * max(int(n) - 1, 0)
        if features is not None and len(features):
            stats._features = np.asarray(features, np.float32)
            stats._kept = [stats._features]
        return stats

    # -- files
    def save(self, path: str | Path, with_features: bool = True) -> None:
        """Write an .npz that pytorch-fid reads (``mu``, ``sigma``) plus ganzoo's ``n``, ``protocol`` and features."""
        arrays: dict[str, Any] = {"mu": self.mean, "sigma": self.sigma, "n": np.int64(self.n),
                                  "protocol": np.array(json.dumps(self.meta, sort_keys=True))}
        if with_features and len(self.features):
            arrays["features"] = self.features
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> "FeatureStats":
        """Read a statistics .npz written by ganzoo or pytorch-fid (which has only ``mu`` and ``sigma``)."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as npz:
                keys = set(npz.files)
                if not {"mu", "sigma"} <= keys:
                    raise InputError(
                        f"'{path}' is not a statistics file: it must hold arrays 'mu' and 'sigma' (the format "
                        f"pytorch-fid and `ganzoo fid --save-stats` write), but it holds "
                        f"{', '.join(sorted(keys)) or 'no arrays'}.")
                mu, sigma = npz["mu"], npz["sigma"]
                n = int(npz["n"]) if "n" in keys else 0
                meta = json.loads(str(npz["protocol"])) if "protocol" in keys else {}
                features = npz["features"] if "features" in keys else None
        except InputError:
            raise
        except (OSError, ValueError, EOFError) as exc:
            raise InputError(f"Could not read statistics file '{path}': {exc}. It should be an .npz with "
                             f"arrays 'mu' and 'sigma'.") from None
        mu = np.asarray(mu, np.float64).reshape(-1)
        sigma = np.asarray(sigma, np.float64)
        if sigma.shape != (len(mu), len(mu)):
            raise InputError(f"'{path}' is damaged: 'mu' has {len(mu)} entries but 'sigma' has shape "
                             f"{sigma.shape}; expected ({len(mu)}, {len(mu)}).")
        return cls.from_moments(mu, sigma, n, features, meta)
