"""Peak memory of one training session: the process's resident set, and PyTorch's allocator peak on CUDA.

On Linux the resident-set peak (VmHWM) is reset when a session starts, so
several runs trained one after another in one process (``ganzoo compare``) each
get their own peak; it still includes the interpreter and PyTorch (~400-500 MiB)
and whatever earlier runs left allocated. Elsewhere it is the process's peak
since it started (``getrusage``), and the record says so.
"""
from __future__ import annotations

import resource
import sys
from pathlib import Path
from typing import Any, Optional

import torch

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def _vm_hwm_kib() -> Optional[int]:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def reset_peak(device: torch.device) -> bool:
    """Start measuring; returns True when the resident-set peak could be reset (Linux)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    try:
        _CLEAR_REFS.write_text("5")  # "5" resets the peak resident set size to the current one (proc(5))
        return _vm_hwm_kib() is not None
    except OSError:
        return False


def peak(device: torch.device, reset: bool) -> dict[str, Any]:
    """The peaks since ``reset_peak`` (``reset`` is what it returned), in MiB."""
    hwm = _vm_hwm_kib() if reset else None
    if hwm is not None:
        out: dict[str, Any] = {"rss_mib": round(hwm / 1024, 1), "rss_since": "session"}
    else:
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
        out = {"rss_mib": round(maxrss / (2**20 if sys.platform == "darwin" else 1024), 1), "rss_since": "process"}
    if device.type == "cuda":
        out["cuda_max_allocated_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return out
