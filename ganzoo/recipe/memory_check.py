"""A recipe's training footprint against its device: refused (exit 2) before anything is allocated or written
when the networks, their optimiser state and a batch's activations would not fit."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from ganzoo.api import Architecture
from ganzoo.engine.device import pick_device
from ganzoo.engine.footprint import MemoryEstimate, available, estimate, size
from ganzoo.errors import RecipeError
from ganzoo.recipe.models import ResolvedRecipe


@dataclass(frozen=True)
class MemoryCheck:
    estimate: MemoryEstimate
    device: Optional[torch.device]  # None: the recipe's device is not on this machine (validate checks no fit)
    available: Optional[tuple[int, str]]  # bytes and where the figure comes from; None when unknown

    def summary(self) -> str:
        """One line for ``ganzoo validate``."""
        line = f"training needs {self.estimate.describe()}"
        if not self.estimate.total:
            return line + ", so the fit was not checked"
        if self.device is None:
            return line + "; the recipe's device is not on this machine, so the fit was not checked"
        if self.available is None:
            return line + f"; how much {self.device} has is unknown, so the fit was not checked"
        return line + f"; fits in {size(self.available[0])} on {self.device} ({self.available[1]})"


def device_here(name: str) -> Optional[torch.device]:
    """The recipe's ``run.device`` on this machine, or None when it is not here (``ganzoo validate`` of a GPU
    recipe on a laptop still checks everything else)."""
    try:
        return pick_device(name)
    except RecipeError:
        return None


def check_memory(resolved: ResolvedRecipe, architecture: Architecture,
                 device: Optional[torch.device]) -> MemoryCheck:
    """Estimate the footprint (nothing allocated: the meta device) and refuse it when it exceeds ``device``."""
    train = resolved.recipe.train
    found = estimate(architecture, train.batch_size, train.ema.enabled, train.amp)
    room = available(device) if device is not None else None
    if room is not None and found.total > room[0]:
        raise RecipeError(_too_big(resolved, architecture, found, device, room))
    return MemoryCheck(found, device, room)


def _too_big(resolved: ResolvedRecipe, architecture: Architecture, found: MemoryEstimate, device: torch.device,
             room: tuple[int, str]) -> str:
    recipe = resolved.recipe
    batch = found.largest_batch(room[0])
    fixes = [f"smaller networks (architecture '{architecture.kind}': its width settings)",
             f"a smaller train.batch_size ({f'up to {batch} would fit' if batch else 'the networks alone do not fit'})",
             f"a lower data.resolution (now {recipe.data.resolution})"]
    if recipe.train.amp == "off":
        fixes.append("train.amp: bf16")
    return (f"Recipe {resolved.source}: training would not fit in memory. It needs {found.describe()}, but "
            f"{device} has {size(room[0])} ({room[1]}). Use {', '.join(fixes)}, or a device with more memory "
            f"(run.device, e.g. --set run.device=cuda).")
