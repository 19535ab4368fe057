"""Nearest neighbours between two sets of feature vectors, as batched matrix products, and the memorisation figure.

Squared distances come from |q|^2 + |r|^2 - 2 q.r, one (queries chunk x references chunk) block at a time,
and only the k smallest per query survive each block: memory stays at one block whatever the set sizes,
and there is no Python loop over pairs (docs/variants.md, "Copy check").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F

PIXEL_SIZE = 16  # pixel-space neighbours compare images downscaled to 16 x 16 (area average): layout and colour
BLOCK = 2048     # rows and columns of one distance block: 2048 x 2048 float32 = 16 MiB


@torch.no_grad()
def nearest(queries: torch.Tensor, references: torch.Tensor, k: int, skip: Optional[torch.Tensor] = None,
            block: int = BLOCK, on_block: Optional[Callable[[int], None]] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(distances, indices), each (Q, k): the ``k`` nearest ``references`` (R, D) of every query (Q, D), nearest
    first, in Euclidean distance. ``skip`` (Q,): a reference index each query must not match (itself, when
    the queries are references too). ``on_block(queries_done)`` after every block of queries."""
    if k > len(references) - (skip is not None):
        raise ValueError(f"k={k} neighbours asked of {len(references)} references")
    queries, references = queries.float(), references.float()
    ref_norms = references.square().sum(1)
    best_d = torch.empty(len(queries), k)
    best_i = torch.empty(len(queries), k, dtype=torch.int64)
    for q0 in range(0, len(queries), block):
        q = queries[q0:q0 + block]
        q_norms = q.square().sum(1, keepdim=True)
        top_d = torch.full((len(q), k), float("inf"))
        top_i = torch.zeros((len(q), k), dtype=torch.int64)
        for r0 in range(0, len(references), block):
            r = references[r0:r0 + block]
            d2 = torch.addmm(q_norms + ref_norms[None, r0:r0 + block], q, r.t(), alpha=-2.0)
            if skip is not None:
                own = skip[q0:q0 + block] - r0
                rows = ((own >= 0) & (own < len(r))).nonzero().flatten()
                d2[rows, own[rows]] = float("inf")
            kk = min(k, len(r))
            d, i = d2.topk(kk, dim=1, largest=False)
            merged_d, order = torch.cat([top_d, d], 1).topk(k, dim=1, largest=False)
            top_i = torch.cat([top_i, i + r0], 1).gather(1, order)
            top_d = merged_d
        best_d[q0:q0 + block], best_i[q0:q0 + block] = top_d.clamp_(min=0).sqrt_(), top_i
        if on_block:
            on_block(min(q0 + block, len(queries)))
    return best_d, best_i


def pixel_features(images: torch.Tensor, size: int = PIXEL_SIZE) -> torch.Tensor:
    """uint8 (N, C, H, W) -> (N, C * size^2) in [0, 1], area-averaged, scaled so that Euclidean distance is the
    root-mean-square difference per value (0: identical, 1: black against white everywhere)."""
    small = F.adaptive_avg_pool2d(images.float() / 255.0, min(size, images.shape[-1]))
    flat = small.flatten(1)
    return flat / flat.shape[1] ** 0.5


@dataclass(frozen=True)
class Memorisation:
    """How close generated images come to the training set, against how close training images come to each other.

    ``threshold`` is the ``percentile`` of the training-to-training nearest-neighbour distances (each of
    ``sample`` training images against all the others); ``share`` the fraction of generated images whose
    nearest training image is closer than that. A generator that draws new images from the data's own
    distribution scores about ``percentile`` / 100; copies of training images push it towards 1.
    """

    share: float
    threshold: float
    percentile: float
    sample: int
    generated_median: float
    training_median: float

    def to_dict(self) -> dict:
        return {"share": self.share, "threshold": self.threshold, "percentile": self.percentile,
                "training_sample": self.sample, "generated_median_distance": self.generated_median,
                "training_median_distance": self.training_median,
                "expected_share_without_copying": self.percentile / 100}


def training_distances(references: torch.Tensor, sample: int, seed: int = 0,
                       block: int = BLOCK) -> torch.Tensor:
    """Nearest-neighbour distance of ``sample`` training images (a seeded draw) to the rest of the training set."""
    chosen = torch.randperm(len(references), generator=torch.Generator().manual_seed(seed))[:sample]
    distances, _ = nearest(references[chosen], references, 1, skip=chosen, block=block)
    return distances[:, 0]


def memorisation(generated: torch.Tensor, training: torch.Tensor, percentile: float = 5.0) -> Memorisation:
    """``generated``: each generated image's nearest training distance; ``training``: those of training images
    to the rest of the training set (:func:`training_distances`)."""
    threshold = float(torch.quantile(training.double(), percentile / 100))
    return Memorisation(float((generated < threshold).double().mean()), threshold, percentile, len(training),
                        float(generated.median()), float(training.median()))
