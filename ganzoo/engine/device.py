"""Device choice, CPU threads, mixed precision and seeding."""
from __future__ import annotations

import os
import random
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch

from ganzoo.errors import RecipeError


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` prefers cuda, then mps, then cpu; an explicit device must exist."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RecipeError(f"run.device is '{name}' but PyTorch sees no CUDA GPU here. Use 'auto' or 'cpu'.")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise RecipeError(f"run.device is '{name}' but only {torch.cuda.device_count()} CUDA device(s) exist.")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RecipeError(f"run.device is '{name}' but MPS is not available here. Use 'auto' or 'cpu'.")
    return device


def set_threads(threads: int | None) -> int:
    """Use ``threads`` CPU threads (default: ``OMP_NUM_THREADS`` when set, else every core this process may use).

    The environment variable is honoured because it is how people share a machine: two CPU-bound runs with
    a thread per core each slow down far more than twice (OpenMP threads spin waiting for each other: the
    quickstart trained at 14 images/s with 2 threads and 185 with 1, beside two busy processes on 2 cores).
    """
    if threads is None:
        env = os.environ.get("OMP_NUM_THREADS", "").strip()
        threads = int(env) if env.isdigit() and int(env) > 0 else (
            len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
    torch.set_num_threads(threads)
    return threads


def autocast(device: torch.device, amp: str):
    """The autocast context for ``train.amp``; fp16 needs CUDA, bf16 works on CPU and CUDA."""
    if amp == "off":
        return nullcontext()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[amp]
    return torch.autocast(device_type=device.type, dtype=dtype)


def check_amp(device: torch.device, amp: str) -> None:
    if amp == "fp16" and device.type != "cuda":
        raise RecipeError(f"train.amp is 'fp16' but the device is {device.type}; fp16 training needs CUDA. "
                          f"Use train.amp: bf16 or off.")
    if amp == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise RecipeError("train.amp is 'bf16' but this GPU does not support bfloat16. Use fp16 or off.")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Every global RNG, in a form ``torch.load(weights_only=True)`` accepts."""
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "python": list(random.getstate()[1]) + [random.getstate()[2] or 0.0],
        "python_version": random.getstate()[0],
        "numpy": [torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]), int(np_state[3]),
                  float(np_state[4])],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    *mt, gauss = state["python"]
    random.setstate((state["python_version"], tuple(int(x) for x in mt), gauss if gauss else None))
    keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state(("MT19937", keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
