"""Data parallelism on torch.distributed: one process per device, started by torchrun.

torchrun describes the job in environment variables (RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR, ...); :func:`setup` joins the process group it describes, NCCL on
CUDA GPUs and gloo on CPUs. Without torchrun (or with one process) every helper
here is a no-op, so a single process computes exactly what it always did.

Gradients are averaged by hand after backward, flattened into one buffer per
dtype, as NVlabs' StyleGAN2-ADA and StyleGAN3 do, instead of wrapping the
networks in DistributedDataParallel: gradient penalties, R1 and path length
need double backward, phases train one network while the other only runs
forward, and architectures never see a wrapper.
"""
from __future__ import annotations

import atexit
import gc
import math
import os
import warnings
from collections import defaultdict
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Optional

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ganzoo.engine.device import pick_device
from ganzoo.errors import GanzooError, GanzooWarning, RecipeError

# ------------------------------------------------------------------ who am I

def launched() -> bool:
    """True when torchrun started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    """True when this process is in a process group of more than one."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 in a single process); read from torchrun's RANK before the group is joined."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """Only the main process (rank 0) writes files and prints."""
    return rank() == 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def local_world_size() -> int:
    return int(os.environ.get("LOCAL_WORLD_SIZE", "1"))


def restarted() -> bool:
    """True in workers that torchrun restarted after a failure (``--max-restarts``)."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")) > 0


def default_threads() -> Optional[int]:
    """CPU threads per process: the cores shared among this node's processes (None: all, in a single process)."""
    if not launched():
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // local_world_size())


def rank_seed(seed: int, rank: int, *more: int) -> int:
    """A distinct, reproducible seed for each rank (NumPy's SeedSequence: independent streams)."""
    return int(np.random.SeedSequence([seed, rank, *more]).generate_state(1)[0])


# ------------------------------------------------------------------ joining

def _device(name: str) -> torch.device:
    """This process's device: the GPU of its LOCAL_RANK on CUDA, else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda:"):
        raise RecipeError(f"run.device is '{name}', one GPU, but torchrun started {os.environ['WORLD_SIZE']} "
                          f"processes. Use 'cuda' or 'auto': each process takes the GPU numbered by its LOCAL_RANK.")
    if name not in ("cuda", "cpu"):
        raise RecipeError(f"run.device is '{name}', but distributed training runs on CUDA GPUs (NCCL) or on CPUs "
                          f"(gloo). Use 'auto', 'cuda' or 'cpu'.")
    device = pick_device(name)
    if device.type == "cuda":
        count = torch.cuda.device_count()
        if local_rank() >= count:
            raise RecipeError(f"torchrun started {local_world_size()} processes on this node but it has only "
                              f"{count} CUDA GPU(s); use --nproc-per-node {count} (one process per GPU).")
        device = torch.device("cuda", local_rank())
    return device


def setup(device_name: str = "auto") -> torch.device:
    """Pick this process's device and join torchrun's process group (left when the process exits).

    Outside torchrun it only picks the device, as a single process always did.
    """
    if not launched():
        return pick_device(device_name)
    if not dist.is_available():
        raise GanzooError("torchrun started several processes but this PyTorch build has no torch.distributed.")
    device = _device(device_name)
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)  # NCCL and the object collectives use the current device
        _join("nccl" if device.type == "cuda" else "gloo")
        atexit.register(shutdown)
    return device


def _join(backend: str) -> None:
    """``init_process_group`` from torchrun's environment, safe across torchrun's restarts.

    torchrun shares its rendezvous store with the workers and (PyTorch 2.14 at least) keeps it
    across restarts, so restarted workers can read the addresses of the workers they replace
    and never connect (pytorch/pytorch#135712). On one machine every worker has the same
    restart count, so keys prefixed with it cannot be stale; across machines the counts can
    differ, and only TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 (a store per attempt) helps.
    """
    world = int(os.environ["WORLD_SIZE"])
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        dist.init_process_group(backend)
        return
    if local_world_size() != world:
        if rank() == 0 and int(os.environ.get("TORCHELASTIC_MAX_RESTARTS", "0")) > 0:
            warnings.warn("torchrun --max-restarts across several machines: export "
                          "TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 before torchrun, or restarted processes may fail to "
                          "reconnect (docs/scaling.md).",
                          GanzooWarning, stacklevel=3)
        dist.init_process_group(backend)
        return
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world, is_master=False)
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    dist.init_process_group(backend, store=dist.PrefixStore(f"ganzoo/attempt_{attempt}", store), rank=rank(),
                            world_size=world)


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        # DistributedDataParallel reducers held in reference cycles (a trainer and its callbacks) keep the gloo
        # group alive past destroy_process_group, to be destroyed during interpreter teardown, which aborted the
        # process ("terminate called without an active exception") in about 1 of 5 runs of a 2-process test.
        # Collecting them first lets the group go while the interpreter is whole: 0 of 20 runs since.
        gc.collect()
        dist.destroy_process_group()


def backend() -> Optional[str]:
    return dist.get_backend() if active() else None


def _comm_device() -> torch.device:
    """Where collective buffers must live: the GPU under NCCL, the CPU under gloo."""
    return torch.device("cuda", torch.cuda.current_device()) if backend() == "nccl" else torch.device("cpu")


def barrier() -> None:
    if active():
        dist.barrier()


@contextmanager
def main_first() -> Iterator[None]:
    """Run the body on rank 0 first, then on the others (e.g. to fill a cache once)."""
    if not is_main():
        barrier()
    yield
    if is_main():
        barrier()


# ------------------------------------------------------------------ objects

def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order, on every rank."""
    if not active():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


# ------------------------------------------------------------------ tensors

def _flat_groups(tensors: Iterable[torch.Tensor]) -> list[list[torch.Tensor]]:
    groups: dict[tuple, list[torch.Tensor]] = defaultdict(list)
    for t in tensors:
        groups[(t.dtype, t.device)].append(t)
    return list(groups.values())


def broadcast_tensors(tensors: Iterable[torch.Tensor]) -> None:
    """Overwrite ``tensors`` in place with rank 0's, one broadcast per dtype."""
    if not active():
        return
    for group in _flat_groups(tensors):
        flat = torch.cat([t.detach().reshape(-1) for t in group]).to(_comm_device())
        dist.broadcast(flat, src=0)
        with torch.no_grad():
            for t, value in zip(group, flat.split([t.numel() for t in group])):
                t.copy_(value.view_as(t))


def broadcast_modules(modules: Iterable[nn.Module], buffers_only: bool = False) -> None:
    """Give every rank rank 0's parameters and buffers (or buffers only).

    Buffers (batch-norm running statistics, StyleGAN's path-length mean) then
    follow rank 0, as DistributedDataParallel's ``broadcast_buffers`` does, so
    every rank holds what the checkpoint holds.
    """
    if not active():
        return
    tensors: list[torch.Tensor] = []
    for module in modules:
        if not buffers_only:
            tensors += list(module.parameters())
        tensors += [b for b in module.buffers() if b is not None]
    broadcast_tensors(tensors)


def all_reduce_mean(values: torch.Tensor) -> torch.Tensor:
    """The mean over ranks of ``values`` (a new tensor on the same device)."""
    if not active():
        return values
    flat = values.detach().to(_comm_device(), copy=True)
    dist.all_reduce(flat)
    return flat.div_(dist.get_world_size()).to(values.device)


class GradientAverager:
    """Averages gradients over ranks after backward, before the optimiser steps.

    Every parameter of the optimiser takes part, with zeros where it has no
    gradient, so all ranks reduce buffers of the same size; a parameter without a
    gradient here stays without one (Adam then skips it, as in a single process:
    e.g. the critic's output bias under R1). That presumes every rank's loss
    reaches the same parameters; the reduced "has a gradient" mask checks it,
    and :meth:`check` (called at log time, when the host syncs anyway) reports a
    disagreement. Under fp16 the scaled gradients are averaged, so an inf on one
    rank reaches all, and every GradScaler skips the same steps.
    """

    def __init__(self) -> None:
        self._disagreements: Optional[torch.Tensor] = None
        self._masks: dict[tuple, torch.Tensor] = {}  # "has a gradient" masks, made once: no copy to the GPU per step

    def __call__(self, optimizer: torch.optim.Optimizer) -> None:
        world = world_size()
        if world == 1:
            return
        params = [p for group in optimizer.param_groups for p in group["params"] if p.requires_grad]
        for group in _flat_groups(params):
            dtype = group[0].dtype
            grads = [p.grad.reshape(-1) if p.grad is not None else torch.zeros(p.numel(), dtype=dtype, device=p.device)
                     for p in group]
            pattern = (dtype, group[0].device, tuple(p.grad is not None for p in group))
            if pattern not in self._masks:
                self._masks[pattern] = torch.tensor(pattern[2], dtype=dtype, device=group[0].device)
            has = self._masks[pattern]
            flat = torch.cat(grads + [has]).to(_comm_device())
            dist.all_reduce(flat)
            counts = flat[-len(group):]
            flat = flat[:-len(group)].div_(world)
            for p, value in zip(group, flat.split([p.numel() for p in group])):
                if p.grad is not None:
                    p.grad.copy_(value.view_as(p.grad))
            bad = ((counts != 0) & (counts != world)).sum()
            self._disagreements = bad if self._disagreements is None else self._disagreements + bad

    def check(self) -> None:
        if self._disagreements is not None and int(self._disagreements):
            raise GanzooError("The processes' losses reached different parameters (some got gradients where others "
                              "got none), so their weights would drift apart. Distributed training needs every "
                              "phase's loss to reach the same parameters whatever the data.")


# ------------------------------------------------------------------ evaluation

def shard(count: int, batch_size: int) -> tuple[int, int]:
    """This rank's contiguous share [start, stop) of ``count`` items, cut at multiples of ``batch_size``
    (so every batch holds the same images as in a single process)."""
    world = world_size()
    if world == 1:
        return 0, count
    batches, r = math.ceil(count / batch_size), rank()
    return min(batches * r // world * batch_size, count), min(batches * (r + 1) // world * batch_size, count)


def reduce_feature_stats(stats):
    """Each rank's :class:`~ganzoo.metrics.stats.FeatureStats` of its share of one stream -> the whole
    stream's, on every rank: float64 means and co-moments combined as Chan, Golub and LeVeque do
    (deviations from the global mean, so nothing cancels), and the kept features gathered in stream order."""
    if not active():
        return stats
    n, mean, m2 = stats.n, stats.mean, stats.m2
    device = _comm_device()
    head = torch.from_numpy(np.concatenate([[float(n)], n * mean])).to(device)
    dist.all_reduce(head)
    total = int(round(head[0].item()))
    global_mean = (head[1:] / max(total, 1)).cpu().numpy()
    delta = mean - global_mean
    part = torch.from_numpy(m2 + n * np.multiply.outer(delta, delta)).to(device)
    dist.all_reduce(part)
    features = [f for f in all_gather_objects(stats.features) if len(f)]
    kept = np.concatenate(features) if features else None
    return type(stats).from_parts(total, global_mean, part.cpu().numpy(), kept, stats.meta)
