"""``ganzoo run --nproc N``: start the same command under torchrun, N processes on this machine.

It is shorthand for ``torchrun --standalone --nproc-per-node N [--max-restarts K] -m ganzoo run ...``
(torchrun picks a free port for its c10d rendezvous); docs/scaling.md shows the long
form, and how to span several machines.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

import torch

from ganzoo.errors import UsageError


def check_nproc(nproc: int, device: str) -> None:
    """Refuse process counts the recipe's device cannot give each process a device of its own."""
    if "LOCAL_RANK" in os.environ:
        raise UsageError("--nproc and --max-restarts start torchrun, but this command already runs under torchrun; "
                         "leave them out (give torchrun --nproc-per-node and --max-restarts instead).")
    if nproc == 1:
        return
    if device.startswith("cuda:"):
        raise UsageError(f"--nproc {nproc}: run.device is '{device}', one GPU; use run.device 'cuda' or 'auto' "
                         f"(each process takes its own GPU) or run one process.")
    if device == "mps":
        raise UsageError(f"--nproc {nproc}: distributed training runs on CUDA GPUs or CPUs, not on MPS; "
                         f"set run.device to 'cpu' or run one process.")
    uses_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if uses_cuda and nproc > torch.cuda.device_count():
        raise UsageError(f"--nproc {nproc}: this machine has {torch.cuda.device_count()} CUDA GPU(s), and each "
                         f"process needs its own; use --nproc {torch.cuda.device_count()} or fewer.")


def torchrun_command(nproc: int, max_restarts: int, recipe: Path, overrides: list[str], fresh: bool) -> list[str]:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc),
               "--max-restarts", str(max_restarts), "-m", "ganzoo", "run", str(recipe)]
    for item in overrides:
        command += ["--set", item]
    return command + (["--fresh"] if fresh else [])


def launch(nproc: int, max_restarts: int, recipe: Path, overrides: Optional[list[str]], fresh: bool) -> int:
    """Run torchrun and return its exit status (0 when every process finished)."""
    return subprocess.call(torchrun_command(nproc, max_restarts, recipe, overrides or [], fresh))
