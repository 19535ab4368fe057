"""``encoder``: invert in one forward pass with a pSp-style encoder trained for one run (``ganzoo encoder train``).

Training draws latents, generates images from them (in W+ half of them style-mixed, so the encoder sees the
whole of W+) and teaches the encoder to recover the latent and the image: latent error (scaled by the
spread of w), pixel error and the feature distance of its reconstruction (in the run's perceptual space,
``--features``); with ``real: true`` batches of the run's real images add the two image terms. Adam's learning
rate falls to zero on a cosine. The encoder predicts offsets from the mean w of the image's class (a
class-conditional mapping puts each class's w around its own mean), or from the mean w. The weights are saved
as safetensors with the run's id and generator fingerprint, so they refuse any other generator, even a later
checkpoint of the same run. Inverting is one forward pass, optionally followed by a few ``optimize`` steps.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Callable, Literal, Optional

import torch
from pydantic import Field
from safetensors import SafetensorError
from safetensors.torch import save

from ganzoo.api import Inversion, InversionRun, Inverter, PluginConfig, to_float_images
from ganzoo.errors import UsageError
from ganzoo.fileio import read_safetensors, write_bytes
from ganzoo_inverters.encoder_net import Encoder
from ganzoo_inverters.optimize import choose_space, decode, fit

FORMAT = "ganzoo-encoder-2"  # 1: offsets from the mean w of all classes


class EncoderConfig(PluginConfig):
    weights: Optional[Path] = Field(None, description="Encoder file; default: RUN/inverters/encoder.safetensors, "
                                                      "where `ganzoo encoder train RUN` writes it.")
    refine_steps: int = Field(0, ge=0, le=100_000, description="Optimisation steps after the forward pass (0: none).")
    refine_lr: float = Field(0.02, gt=0, description="Peak learning rate of those steps (lower than optimize's: "
                                                     "they start close).")
    feature_weight: float = Field(1.0, ge=0, description="Weight of the discriminator-feature distance in training "
                                                         "and refining.")
    # Training only (`ganzoo encoder train`):
    space: Literal["auto", "z", "w+"] = Field("auto", description="What the encoder predicts; auto: w+ where the "
                                                                  "generator has styles, else z.")
    steps: int = Field(2000, ge=1, le=1_000_000, description="Training steps.")
    batch_size: int = Field(16, ge=2, le=4096, description="Generated images per training step.")
    lr: float = Field(1e-3, gt=0, description="Adam's peak learning rate (cosine decay to zero).")
    width: int = Field(16, ge=4, le=256, description="Channels of the first convolution (doubling per halving, "
                                                     "capped at 8x).")
    latent_weight: float = Field(1.0, ge=0, description="Weight of the latent error (generated images only).")
    real: bool = Field(False, description="Also train on the run's real images (image losses only; no latent "
                                          "is known for them).")


def _build(run: InversionRun, space: str, width: int) -> Encoder:
    architecture, G = run.architecture, run.generator
    if space == "z":
        return Encoder(run.image.channels, run.image.resolution, width, architecture.z_dim)
    groups = {name: list(r) for name, r in architecture.style_groups(G).items()}
    w_dim = int(architecture.w_avg(G).shape[0])
    return Encoder(run.image.channels, run.image.resolution, width, w_dim, architecture.num_ws(G), groups)


@torch.no_grad()
def _bases(run: InversionRun, space: str) -> Optional[torch.Tensor]:
    """What the encoder's offsets start from (pSp: the average latent): (classes, w_dim) mean w per class for a
    conditional generator, (1, w_dim) the mean w otherwise, None in z."""
    architecture, G = run.architecture, run.generator
    if space == "z":
        return None
    if not architecture.conditional:
        return architecture.w_avg(G).to(run.device)[None]
    z = architecture.sample_latents(1000, "cpu", torch.Generator().manual_seed(0)).to(run.device)
    return torch.stack([architecture.mapping(G, z, torch.full((len(z),), c, dtype=torch.int64, device=run.device))
                        .mean(0) for c in range(run.image.num_classes)])


def _predict(net: Encoder, bases: Optional[torch.Tensor], images: torch.Tensor,
             labels: Optional[torch.Tensor]) -> torch.Tensor:
    out = net(images)
    if bases is None:
        return out
    base = bases[labels] if labels is not None and len(bases) > 1 else bases[:1].expand(len(images), -1)
    return out + (base[:, None] if out.ndim == 3 else base)


@torch.no_grad()
def _samples(run: InversionRun, n: int, space: str) -> tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
    """(latents, images, labels) from the generator; in W+ half the batch is style-mixed at a random layer."""
    architecture, G, device = run.architecture, run.generator, run.device
    z = architecture.sample_latents(n, device)
    labels = architecture.sample_labels(n, device)
    if space == "z":
        return z, architecture.generate(G, z, labels), labels
    num_ws = architecture.num_ws(G)
    w_plus = architecture.mapping(G, z, labels)[:, None].repeat(1, num_ws, 1)
    other = architecture.mapping(G, architecture.sample_latents(n, device), labels)
    cutoff = int(torch.randint(1, num_ws, ())) if num_ws > 1 else num_ws
    w_plus[n // 2:, cutoff:] = other[n // 2:, None]
    return w_plus, architecture.synthesis(G, w_plus, labels), labels


class EncoderInverter(Inverter):
    kind = "encoder"
    Config = EncoderConfig
    description = "A pSp-style encoder (feature pyramid to W+, or to z): one forward pass, optional refining"
    trainable = True

    def train(self, run: InversionRun, out: Path, progress: Callable[[int, int], None]) -> dict[str, Any]:
        c: EncoderConfig = self.config
        space = choose_space(run.architecture, c.space)
        net = _build(run, space, c.width).to(run.device)
        bases = _bases(run, space)
        scale = 1.0
        if bases is not None:  # the latent error in units of w's spread, so its weight means the same for any run
            scale = float(_samples(run, 512, space)[0].float().var(0).mean())
        real = run.load_data() if c.real and run.load_data is not None else None
        if c.real and real is None:
            raise UsageError("real: true needs the run's real images, which this run cannot load.")
        optimizer = torch.optim.Adam(net.parameters(), lr=c.lr)
        started, trace = time.perf_counter(), []
        for step in range(c.steps):
            for group in optimizer.param_groups:  # cosine decay: the last steps settle instead of jittering
                group["lr"] = c.lr * 0.5 * (1 + math.cos(math.pi * step / c.steps))
            latents, images, labels = _samples(run, c.batch_size, space)
            predicted = _predict(net, bases, images, labels)
            recon = decode(run, predicted, space, labels)
            latent_loss = (predicted - latents).square().mean() / scale
            image_loss = (recon - images).square().mean() + c.feature_weight * \
                run.feature_distance(recon, images, labels).mean()
            loss = c.latent_weight * latent_loss + image_loss
            if real is not None:
                pick = torch.randint(0, len(real), (c.batch_size,))
                images = to_float_images(real.images[pick]).to(run.device)
                labels = real.labels[pick].to(run.device) if run.architecture.conditional else None
                recon = decode(run, _predict(net, bases, images, labels), space, labels)
                loss = loss + (recon - images).square().mean() + c.feature_weight * \
                    run.feature_distance(recon, images, labels).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if step % max(1, c.steps // 20) == 0 or step == c.steps - 1:
                with torch.no_grad():
                    trace.append({"step": step + 1, "loss": round(float(loss), 5),
                                  "latent": round(float(latent_loss), 5),
                                  "pixels": round(float((recon - images).square().mean()), 5)})
            progress(step + 1, c.steps)
        seconds = time.perf_counter() - started
        meta = {"format": FORMAT, "run_id": run.run_id or "", "generator": run.fingerprint(), "step": str(run.step),
                "architecture": run.architecture.kind, "space": space, "width": str(c.width),
                "image": json.dumps([run.image.resolution, run.image.channels]), "steps": str(c.steps),
                "real": str(c.real).lower(), "features": run.feature_space or "", "trace": json.dumps(trace)}
        tensors = {f"net.{k}": v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
        if bases is not None:
            tensors["bases"] = bases.detach().cpu().contiguous()
        write_bytes(out, save(tensors, metadata=meta))
        return {"file": str(out), "space": space, "steps": c.steps, "real": c.real, "seconds": round(seconds, 1),
                "final": trace[-1]}

    def load(self, run: InversionRun) -> tuple[Encoder, Optional[torch.Tensor], dict[str, str]]:
        """The encoder for ``run``, refusing one trained for another generator (UsageError, exit 2)."""
        path = Path(self.config.weights) if self.config.weights else self.trained_file(run)
        if not path.is_file():
            raise UsageError(f"No encoder at {path}: train one for this run with `ganzoo encoder train "
                             f"{run.path or 'RUN'}`, or give its file with --option weights=PATH.")
        try:
            tensors, meta = read_safetensors(path)
        except (SafetensorError, OSError) as exc:
            raise UsageError(f"{path} is not an encoder file ({exc}).") from None
        if meta.get("format") == "ganzoo-encoder-1":
            raise UsageError(f"{path} is an encoder of an older format ({meta['format']}, offsets from another "
                             f"base); train it again with `ganzoo encoder train {run.path or 'RUN'}`.")
        if meta.get("format") != FORMAT:
            raise UsageError(f"{path} is not a ganzoo encoder file (format {meta.get('format')!r}, expected {FORMAT}).")
        if meta.get("run_id") != (run.run_id or "") or meta.get("generator") != run.fingerprint():
            raise UsageError(
                f"The encoder {path} was trained for run {meta.get('run_id') or '?'} at step {meta.get('step')} "
                f"(generator {meta.get('generator', '')[:12]}), not for this generator (run {run.run_id} at step "
                f"{run.step}, {run.fingerprint()[:12]}): an encoder only fits the weights it was trained with. "
                f"Train one for this run with `ganzoo encoder train {run.path or 'RUN'}`.")
        net = _build(run, meta["space"], int(meta["width"])).to(run.device)
        net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
        bases = tensors["bases"].to(run.device) if "bases" in tensors else None
        return net.eval(), bases, {**meta, "file": str(path)}

    def invert(self, run: InversionRun, images: torch.Tensor, labels: Optional[torch.Tensor],
               progress: Callable[[int, int], None]) -> Inversion:
        c: EncoderConfig = self.config
        net, bases, meta = self.load(run)
        space, total = meta["space"], 1 + c.refine_steps
        started = time.perf_counter()
        with torch.no_grad():
            codes = _predict(net, bases, images, labels)
        encode_seconds = time.perf_counter() - started
        progress(1, total)
        if c.refine_steps:
            codes, _ = fit(run, codes, images, labels, space, c.refine_steps, c.refine_lr, c.feature_weight, 0.0,
                           progress, done_before=1, total=total)
        return Inversion(codes, space, labels, {"encoder": meta["file"], "encode_seconds": round(encode_seconds, 4),
                                                "refine_steps": c.refine_steps})
