"""Fine-tuning in the engine: a parent's weights matched to fresh networks, and FreezeD's frozen blocks.

Plain tensors and modules only; what a recipe's ``init`` and ``train.freeze_discriminator``
mean (which file, which networks, what is refused) is decided in ``ganzoo.recipe.finetune``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import torch
from torch import nn

from ganzoo.api import Architecture

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Mismatch:
    """A tensor the parent and the new network disagree on; None for a side that lacks it."""

    name: str
    saved: Optional[Shape]
    wanted: Optional[Shape]

    def __str__(self) -> str:
        def shape(s: Optional[Shape]) -> str:
            return "absent" if s is None else f"({', '.join(map(str, s))})"
        return f"{self.name}: saved {shape(self.saved)}, wanted {shape(self.wanted)}"


def is_class_tensor(saved: Shape, wanted: Shape, old_classes: int, new_classes: int) -> bool:
    """True when the shapes differ only where the parent had ``old_classes`` and the new network wants
    ``new_classes``: a class embedding (or its spectral-norm vector), whichever dimension holds the classes."""
    if old_classes == new_classes or len(saved) != len(wanted) or saved == wanted:
        return False
    return all(a == b or (a == old_classes and b == new_classes) for a, b in zip(saved, wanted))


def match(saved: Mapping[str, Shape], wanted: Mapping[str, Shape], old_classes: int,
          new_classes: int) -> tuple[list[Mismatch], list[str]]:
    """Compare a parent's tensors with a network's, name by name: (mismatches, class tensors to re-initialise)."""
    mismatches, classes = [], []
    for name in sorted(set(saved) | set(wanted)):
        a, b = saved.get(name), wanted.get(name)
        if a == b:
            continue
        if a is not None and b is not None and is_class_tensor(a, b, old_classes, new_classes):
            classes.append(name)
        else:
            mismatches.append(Mismatch(name, a, b))
    return mismatches, classes


def shapes(module: nn.Module, prefix: str = "") -> dict[str, Shape]:
    return {prefix + key: tuple(value.shape) for key, value in module.state_dict().items()}


@dataclass
class InitialWeights:
    """A parent's weights for some of ``generator``, ``discriminator``, ``generator_ema``, already matched.

    ``tensors`` maps each network to the state-dict entries to load; ``fresh`` lists (as
    ``network.key``) the class tensors that keep the new network's initialisation.
    """

    tensors: dict[str, dict[str, torch.Tensor]]
    fresh: list[str] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict)  # what run.json says of the parent

    def load_into(self, networks: Mapping[str, nn.Module]) -> None:
        """Copy the parent's tensors into the named networks present in both (in place, keeping the rest)."""
        with torch.no_grad():
            for name, module in networks.items():
                own = module.state_dict()
                for key, value in self.tensors.get(name, {}).items():
                    own[key].copy_(value)


def frozen_parameters(architecture: Architecture, discriminator: nn.Module, count: int) -> list[nn.Parameter]:
    """The parameters of the discriminator's first ``count`` blocks (FreezeD), made to need no gradient.

    Buffers (batch-norm statistics, spectral norm's power-iteration vectors) keep updating, as in the
    FreezeD authors' code: freezing fixes what the optimiser would change.
    """
    if count <= 0:
        return []
    blocks: Sequence[nn.Module] = architecture.discriminator_blocks(discriminator) or []
    params = list({id(p): p for block in blocks[:count] for p in block.parameters()}.values())
    for p in params:
        p.requires_grad_(False)
    return params
