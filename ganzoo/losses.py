"""GAN losses as plain functions of discriminator logits: public building blocks for plugins.

Each ``*_d`` takes logits on real and fake images and returns the discriminator's
loss; each ``*_g`` takes logits on fakes and returns the generator's loss.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def nonsaturating_d(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Goodfellow et al. 2014: -log D(x) - log(1 - D(G(z)))."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def nonsaturating_g(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss: -log D(G(z))."""
    return F.softplus(-fake_logits).mean()


def hinge_d(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Lim & Ye 2017 / Miyato et al. 2018."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def hinge_g(fake_logits: torch.Tensor) -> torch.Tensor:
    return -fake_logits.mean()


def wasserstein_d(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Arjovsky et al. 2017: the critic maximises E[D(x)] - E[D(G(z))]."""
    return fake_logits.mean() - real_logits.mean()


def wasserstein_g(fake_logits: torch.Tensor) -> torch.Tensor:
    return -fake_logits.mean()
