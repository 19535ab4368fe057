"""GAN losses as plain functions of discriminator logits: public building blocks for plugins.

Each ``*_d`` takes logits on real and fake images and returns the discriminator's
loss; each ``*_g`` takes logits on fakes and returns the generator's loss.
"""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Callable

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from ganzoo.api import PhaseInputs

__all__ = [
    "nonsaturating_d", "nonsaturating_g", "hinge_d", "hinge_g", "wasserstein_d", "wasserstein_g",
    "gradient_penalty", "r1_penalty", "discriminator_step", "generator_step"
]


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


# --------------------------------------------------------------- regularisers
# Both take gradients of the discriminator with respect to its input, which
# needs double backward; they run in float32 with autocast off, because
# second-order gradients in fp16/bf16 overflow or lose the penalty entirely.

def _float32_logits(discriminator, images: torch.Tensor, labels) -> torch.Tensor:
    # Meta tensors (ganzoo.engine.footprint traces the penalties on them) have no autocast to turn off.
    off = (torch.autocast(device_type=images.device.type, enabled=False) if images.device.type != "meta"
           else contextlib.nullcontext())
    with off:
        return discriminator(images.float(), labels).float()


def gradient_penalty(discriminator, real: torch.Tensor, fake: torch.Tensor, labels=None,
                     target: float = 1.0) -> torch.Tensor:
    """Gulrajani et al. 2017: E[(||grad D(x_hat)|| - 1)^2] on random interpolates x_hat of real and fake."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    interpolates = (alpha * real.detach().float() + (1 - alpha) * fake.detach().float()).requires_grad_(True)
    logits = _float32_logits(discriminator, interpolates, labels)
    (grad,) = torch.autograd.grad(logits.sum(), interpolates, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - target) ** 2).mean()


def r1_penalty(discriminator, real: torch.Tensor, labels=None) -> torch.Tensor:
    """Mescheder et al. 2018: E[||grad D(x)||^2] on real images (multiply by gamma / 2 yourself)."""
    real = real.detach().float().requires_grad_(True)
    logits = _float32_logits(discriminator, real, labels)
    (grad,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
    return grad.square().flatten(1).sum(1).mean()


def discriminator_step(x: "PhaseInputs", loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> dict:
    """A discriminator phase's usual body: score augmented reals and fresh (detached) fakes with ``loss``.

    Returns the loss and the mean real/fake scores that ``ganzoo.testing.check_training_sanity`` reads,
    and reports the real logits to adaptive augmentation (``x.report_real_logits``, plugin API 1.3).
    """
    fake = x.generator(x.z, x.fake_labels).detach()
    real_logits = x.discriminator(x.augment(x.real), x.real_labels)
    fake_logits = x.discriminator(x.augment(fake), x.fake_labels)
    x.report_real_logits(real_logits)
    return {"loss": loss(real_logits, fake_logits),
            "real_score": real_logits.mean(), "fake_score": fake_logits.mean()}


def generator_step(x: "PhaseInputs", loss: Callable[[torch.Tensor], torch.Tensor]) -> dict:
    """A generator phase's usual body: ``loss`` of the discriminator's logits on augmented fresh fakes."""
    fake_logits = x.discriminator(x.augment(x.generator(x.z, x.fake_labels)), x.fake_labels)
    return {"loss": loss(fake_logits)}
