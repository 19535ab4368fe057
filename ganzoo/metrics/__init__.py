"""Evaluation: FID, KID, precision/recall and the Inception Score over features from extractor plugins.

A public module: plugins may import from it (feature extractors use
:func:`cache_root` for their own files and :class:`InputError` for bad input).

- ``stats``: streaming float64 mean/covariance plus a kept sample of features
- ``scores``: Frechet distance, KID, improved precision/recall, Inception Score
- ``sources``: images from datasets, folders and generators, as uint8 batches
- ``cache``: reference statistics keyed by the whole protocol and the data's hash
- ``evaluate``: the driver used by ``ganzoo eval``, ``ganzoo fid`` and periodic evaluation
- ``periodic``: the training callback behind a recipe's ``eval`` section
"""
from ganzoo.metrics.cache import cache_root
from ganzoo.metrics.errors import InputError
from ganzoo.metrics.scores import frechet_distance, inception_score, kernel_inception_distance, precision_recall
from ganzoo.metrics.stats import FeatureStats, sample_indices

__all__ = ["cache_root", "InputError", "frechet_distance", "kernel_inception_distance", "precision_recall",
           "inception_score", "FeatureStats", "sample_indices"]
