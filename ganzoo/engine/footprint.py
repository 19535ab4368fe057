"""How much memory training will take, estimated before anything is allocated, and how much the device has.

The networks are built on the meta device (shapes without storage or random draws). Parameters,
gradients, Adam's two moments and the EMA copy are counted from them. Activations are traced: one
batch goes through the generator and the discriminator on meta tensors while a
``saved_tensors_hooks`` pack hook adds up every tensor autograd keeps for backward. A training step
holds at most the larger of G + D (the generator phase) and 2 x D (reals and fakes in the
discriminator phase) at once; ``ACTIVATION_SAFETY`` covers what the trace does not see (the
gradients flowing back, gradient penalties' second graphs, allocator slack), measured on CPU
against real peaks (benchmarks/resolution_throughput.py prints both).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import nn

from ganzoo.api import Architecture, Phase, PhaseInputs

# Real CPU peaks (resident set above what the process held before building the networks) came to 0.96-1.19x
# the fixed state plus the traced activations, for DCGAN, WGAN-GP, SNGAN and StyleGAN-lite at 32-128 px and
# batches of 8-32; 1.5 on the activations keeps the estimate above every one of them, with room for what a
# GPU adds (cuDNN workspaces, the caching allocator's slack), without refusing recipes that fit.
ACTIVATION_SAFETY = 1.5
ADAM_MOMENTS = 2  # exp_avg and exp_avg_sq, one of each per trainable parameter
MIB = 2 ** 20


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes training will hold: networks, their gradients and optimiser state, the EMA generator, activations."""

    generator: int
    discriminator: int
    gradients: int
    optimizer: int
    ema: int
    activations: int  # for one batch, safety factor included; 0 when it could not be traced (``note`` says why)
    batch_size: int
    note: str = ""

    @property
    def fixed(self) -> int:
        """What does not grow with the batch."""
        return self.generator + self.discriminator + self.gradients + self.optimizer + self.ema

    @property
    def total(self) -> int:
        return self.fixed + self.activations

    def largest_batch(self, available: int) -> int:
        """The largest batch size whose estimate fits in ``available`` bytes (0: not even the networks fit)."""
        per_image = self.activations / max(1, self.batch_size)
        if self.fixed >= available:
            return 0
        return int((available - self.fixed) // per_image) if per_image else self.batch_size

    def to_dict(self) -> dict[str, Any]:
        """For run.json, in MiB like the measured ``peak_memory`` beside it."""
        out = {k: round(getattr(self, k) / MIB, 1) for k in
               ("total", "generator", "discriminator", "gradients", "optimizer", "ema", "activations")}
        out = {f"{k}_mib": v for k, v in out.items()}
        out.update(batch_size=self.batch_size, activation_safety=ACTIVATION_SAFETY)
        return {**out, **({"note": self.note} if self.note else {})}

    def describe(self) -> str:
        if not self.fixed:
            return f"an unknown amount ({self.note})"
        parts = [f"parameters {size(self.generator + self.discriminator)} (generator {size(self.generator)}, "
                 f"discriminator {size(self.discriminator)})", f"gradients {size(self.gradients)}",
                 f"optimiser state {size(self.optimizer)}"]
        if self.ema:
            parts.append(f"EMA generator {size(self.ema)}")
        parts.append(f"activations for a batch of {self.batch_size} {size(self.activations)}"
                     if not self.note else f"activations not counted ({self.note})")
        return f"about {size(self.total)}: " + ", ".join(parts)


def size(n: float) -> str:
    if n >= 2 ** 30:
        return f"{n / 2 ** 30:,.1f} GiB"
    return f"{n / MIB:,.0f} MiB" if n >= 10 * MIB else f"{n / MIB:.1f} MiB"


def _bytes(module: nn.Module, trainable_only: bool = False) -> int:
    tensors = [p for p in module.parameters() if p.requires_grad or not trainable_only]
    if not trainable_only:
        tensors += list(module.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)


def _saved_for_backward(run: Callable[[], Any]) -> int:
    """Bytes of the distinct tensors autograd saves while ``run`` executes (on meta tensors: none allocated)."""
    seen: dict[int, torch.Tensor] = {}  # keeps each tensor alive so that its id stays its own

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        seen.setdefault(id(tensor), tensor)
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        run()
    return sum(t.numel() * t.element_size() for t in seen.values())


def _meta_inputs(architecture: Architecture, generator: nn.Module, discriminator: nn.Module,
                 batch_size: int) -> PhaseInputs:
    """What a phase's loss gets in training, as meta tensors: its whole graph is traced, penalties included."""
    image = architecture.image
    real = torch.empty(batch_size, image.channels, image.resolution, image.resolution, device="meta")
    return PhaseInputs(generator, discriminator, real, architecture.sample_labels(batch_size, "meta"),
                       architecture.sample_latents(batch_size, "meta"), architecture.sample_labels(batch_size, "meta"),
                       step=0)


def _trace_phase(phase: Phase, architecture: Architecture, generator: nn.Module, discriminator: nn.Module,
                 batch_size: int) -> int:
    """What one phase's loss saves for backward; a loss that cannot run on meta tensors (one that reads a value,
    or turns autocast off for its device) is counted as the usual G then D forward pass, twice for a D phase."""
    inputs = _meta_inputs(architecture, generator, discriminator, batch_size)
    try:
        return _saved_for_backward(lambda: phase.loss(inputs))
    except Exception:
        fakes: list[torch.Tensor] = []
        g_saved = _saved_for_backward(lambda: fakes.append(generator(inputs.z, inputs.fake_labels)))
        d_saved = _saved_for_backward(lambda: discriminator(fakes[0].detach(), inputs.fake_labels))
        return g_saved + d_saved * (2 if phase.trains == "discriminator" else 1)


def estimate(architecture: Architecture, batch_size: int, ema: bool = True, amp: str = "off") -> MemoryEstimate:
    """The training footprint of ``architecture`` at ``batch_size``; allocates nothing (the meta device)."""
    try:
        with torch.device("meta"):
            generator, discriminator = architecture.build_generator(), architecture.build_discriminator()
    except Exception as exc:  # a plugin whose constructor needs real values: say so rather than allocate
        return MemoryEstimate(0, 0, 0, 0, 0, 0, batch_size,
                              f"the networks could not be built on the meta device: {type(exc).__name__}")
    trainable = _bytes(generator, True) + _bytes(discriminator, True)
    g_bytes, d_bytes = _bytes(generator), _bytes(discriminator)
    note, activations = "", 0
    try:
        generator.train(), discriminator.train()
        with torch.random.fork_rng(devices=[]):  # a forward pass may draw on the CPU (style mixing): not ours to move
            traced = max(_trace_phase(phase, architecture, generator, discriminator, batch_size)
                         for phase in architecture.phases())
        # Under autocast most activations are 16-bit: half the float32 trace (an approximation, not measured).
        activations = int(traced * ACTIVATION_SAFETY * (0.5 if amp in ("bf16", "fp16") else 1.0))
    except Exception as exc:  # an op without a meta kernel: the networks are still counted
        note = f"the forward pass could not be traced on the meta device: {type(exc).__name__}"
    return MemoryEstimate(g_bytes, d_bytes, trainable, ADAM_MOMENTS * trainable, g_bytes if ema else 0,
                          activations, batch_size, note)


def _read_int(path: Path) -> Optional[int]:
    try:
        text = path.read_text().strip()
        return None if text == "max" else int(text)
    except (OSError, ValueError):
        return None


def _cgroup_headroom() -> Optional[int]:
    """What this process's cgroup (v2, else v1) still allows: its limit less its usage; None without a limit."""
    for limit_file, usage_file in (("memory.max", "memory.current"),
                                   ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")):
        limit = _read_int(Path("/sys/fs/cgroup") / limit_file)
        if limit is not None and limit < 2 ** 60:  # v1 writes "no limit" as a huge number
            return max(0, limit - (_read_int(Path("/sys/fs/cgroup") / usage_file) or 0))
    return None


def _mem_available() -> Optional[int]:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def available(device: torch.device) -> Optional[tuple[int, str]]:
    """Bytes training may use on ``device`` and where that figure comes from; None when unknown (e.g. MPS)."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return torch.cuda.get_device_properties(index).total_memory, f"total memory of {device}"
    if device.type != "cpu":
        return None
    found = [(n, what) for n, what in ((_mem_available(), "MemAvailable"), (_cgroup_headroom(), "cgroup memory.max"))
             if n is not None]
    return min(found) if found else None
