"""``optimize``: fit each image's latent by gradient descent, StyleGAN2's projector idea (Karras et al. 2020,
https://arxiv.org/abs/1912.04958, section 5 and ``projector.py``).

Start from the mean latent (w_avg in W and W+, zero in z), minimise pixel error plus a perceptual distance in
the run's own discriminator features, with Adam under a warm-up and cosine cool-down of the learning rate and,
in W/W+, noise added to the latent that fades out over the first three quarters (it keeps the early steps from
settling in the nearest poor minimum). Every image is its own set of parameters and its loss is a sum over
images, so a batch gives each image the same steps as inverting it alone.
"""
from __future__ import annotations

import math
from typing import Callable, Literal, Optional

import torch
from pydantic import Field

from ganzoo.api import Architecture, Inversion, InversionRun, Inverter, PluginConfig
from ganzoo.errors import UsageError

Space = Literal["auto", "z", "w", "w+"]


def choose_space(architecture: Architecture, wanted: str) -> str:
    """``wanted`` when the architecture offers it; ``auto``: w+ where there is one (closest fits), else z."""
    offered = architecture.latent_spaces()
    if wanted == "auto":
        return "w+" if "w+" in offered else "z"
    if wanted not in offered:
        raise UsageError(f"space {wanted!r}: '{architecture.kind}' offers {', '.join(offered)} (set space to one "
                         f"of them, or auto).")
    return wanted


def decode(run: InversionRun, codes: torch.Tensor, space: str, labels: Optional[torch.Tensor]) -> torch.Tensor:
    """Images in [-1, 1] from latents in ``space``, differentiably."""
    architecture, G = run.architecture, run.generator
    if space == "z":
        return architecture.generate(G, codes, labels)
    if space == "w":
        codes = codes[:, None].expand(-1, architecture.num_ws(G), -1)
    return architecture.synthesis(G, codes, labels)


def mean_latents(run: InversionRun, n: int, space: str) -> torch.Tensor:
    architecture, G = run.architecture, run.generator
    if space == "z":
        return torch.zeros(n, architecture.z_dim, device=run.device)
    w = architecture.w_avg(G).to(run.device)
    if space == "w":
        return w.expand(n, -1).clone()
    return w.expand(n, architecture.num_ws(G), -1).clone()


@torch.no_grad()
def w_spread(run: InversionRun) -> float:
    """sqrt of the summed variance of w (StyleGAN2's w_std), from 2,000 seeded z; scales the latent noise."""
    architecture = run.architecture
    z = architecture.sample_latents(2000, "cpu", torch.Generator().manual_seed(0)).to(run.device)
    labels = architecture.sample_labels(2000, "cpu", torch.Generator().manual_seed(1))
    w = architecture.mapping(run.generator, z, None if labels is None else labels.to(run.device))
    return float(w.float().var(0).sum().sqrt())


def image_loss(run: InversionRun, images: torch.Tensor, targets: torch.Tensor, labels: Optional[torch.Tensor],
               feature_weight: float) -> torch.Tensor:
    """Per-image loss (N,): mean squared pixel error plus ``feature_weight`` times the feature distance."""
    loss = (images - targets).square().flatten(1).mean(1)
    if feature_weight:
        loss = loss + feature_weight * run.feature_distance(images, targets, labels)
    return loss


def fit(run: InversionRun, start: torch.Tensor, targets: torch.Tensor, labels: Optional[torch.Tensor], space: str,
        steps: int, lr: float, feature_weight: float, noise: float, progress: Callable[[int, int], None],
        done_before: int = 0, total: Optional[int] = None) -> tuple[torch.Tensor, list[float]]:
    """Optimise ``start`` for ``steps``; returns the latents and the mean loss every tenth of the way."""
    total = steps + done_before if total is None else total
    codes = start.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([codes], lr=lr, betas=(0.9, 0.999))
    spread = w_spread(run) * noise if noise and space != "z" else 0.0
    trace: list[float] = []
    for step in range(steps):
        t = step / max(1, steps)
        # StyleGAN2's schedule: lr warms up over the first 5 %, cools down (cosine) over the last 25 %.
        cool = 0.5 - 0.5 * math.cos(min(1.0, (1.0 - t) / 0.25) * math.pi)
        for group in optimizer.param_groups:
            group["lr"] = lr * cool * min(1.0, t / 0.05)
        jitter = spread * max(0.0, 1.0 - t / 0.75) ** 2
        noisy = codes + torch.randn_like(codes) * jitter if jitter else codes
        loss = image_loss(run, decode(run, noisy, space, labels), targets, labels, feature_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()
        optimizer.step()
        if step % max(1, steps // 10) == 0 or step == steps - 1:
            trace.append(round(float(loss.detach().mean()), 6))
        progress(done_before + step + 1, total)
    return codes.detach(), trace


class OptimizeConfig(PluginConfig):
    space: Space = Field("auto", description="Latent space to fit: z, w (one style for all layers), w+ (one per "
                                             "layer; closest fits, less editable); auto: w+ where offered, else z.")
    steps: int = Field(300, ge=1, le=100_000, description="Optimisation steps per batch of images.")
    lr: float = Field(0.1, gt=0, description="Adam's peak learning rate (StyleGAN2's projector: 0.1).")
    feature_weight: float = Field(1.0, ge=0, description="Weight of the discriminator-feature distance beside the "
                                                         "pixel error (0: pixels only).")
    noise: float = Field(0.05, ge=0, description="Latent noise at the start, times the spread of w, fading out by "
                                                 "75 % of the steps (W/W+ only; StyleGAN2: 0.05).")


class OptimizeInverter(Inverter):
    kind = "optimize"
    Config = OptimizeConfig
    description = "Gradient descent on the latent from the mean (StyleGAN2's projector): z, W or W+"

    def invert(self, run: InversionRun, images: torch.Tensor, labels: Optional[torch.Tensor],
               progress: Callable[[int, int], None]) -> Inversion:
        c: OptimizeConfig = self.config
        space = choose_space(run.architecture, c.space)
        codes, trace = fit(run, mean_latents(run, len(images), space), images, labels, space, c.steps, c.lr,
                           c.feature_weight, c.noise, progress)
        return Inversion(codes, space, labels, {"steps": c.steps, "loss_trace": trace})
