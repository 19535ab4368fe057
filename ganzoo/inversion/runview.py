"""A run directory as an inverter sees it: ``ganzoo.api.InversionRun``."""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable, Optional

import torch
from torch import nn

from ganzoo.api import Architecture, InversionRun
from ganzoo.engine import checkpoint
from ganzoo.host import Host
from ganzoo.recipe import load_data, resolve
from ganzoo.rundir import LoadedRun, load_run


class _Stop(Exception):
    """Raised by the last block's hook: the discriminator's head is not needed for features."""


def _output_module(block: nn.Module) -> nn.Module:
    """The module whose output is the block's: a container (a list, or a Sequential slice that forward never
    calls as such) ends in its last child."""
    while isinstance(block, (nn.ModuleList, nn.Sequential, nn.ModuleDict)) and len(block):
        block = list(block.children())[-1]
    return block


def discriminator_features(architecture: Architecture, discriminator: nn.Module
                           ) -> Optional[Callable[[torch.Tensor, Optional[torch.Tensor]], list[torch.Tensor]]]:
    """images -> the outputs of the discriminator's blocks (``discriminator_blocks``), or None when it names none."""
    blocks = architecture.discriminator_blocks(discriminator)
    if not blocks:
        return None
    outputs = [_output_module(block) for block in blocks]

    def features(images: torch.Tensor, labels: Optional[torch.Tensor] = None) -> list[torch.Tensor]:
        found: dict[int, torch.Tensor] = {}

        def keep(index: int):
            def hook(module, args, output):
                found.setdefault(index, output)
                if index == len(outputs) - 1:
                    raise _Stop
            return hook

        handles = [module.register_forward_hook(keep(i)) for i, module in enumerate(outputs)]
        try:
            discriminator(images, labels)
        except _Stop:
            pass
        finally:
            for handle in handles:
                handle.remove()
        return [found[i] for i in sorted(found)]

    return features


def open_run(path: str | Path, host: Host, device: torch.device, prefer_ema: bool = True
             ) -> tuple[InversionRun, LoadedRun]:
    """The run's generator (EMA when kept) and discriminator, frozen, in eval mode, with its feature space."""
    loaded = load_run(path, host, device, prefer_ema=prefer_ema)
    architecture = loaded.architecture
    generator = loaded.generator.eval().requires_grad_(False)
    files = checkpoint.latest(loaded.run_dir.checkpoints)
    discriminator, features = None, None
    if files is not None and "discriminator" in checkpoint.network_names(files.weights):
        discriminator = architecture.build_discriminator().to(device)
        checkpoint.load_networks(files.weights, {"discriminator": discriminator}, device)
        discriminator.eval().requires_grad_(False)
        features = discriminator_features(architecture, discriminator)
    info = loaded.run_dir.read_info()

    @functools.lru_cache(maxsize=1)  # loaded once, whether for the feature space, an encoder, or both
    def data():
        return load_data(resolve(loaded.run_dir.read_recipe(), host, source=str(loaded.run_dir.recipe_file)), host)

    run = InversionRun(architecture, generator, device, run_id=info.get("run_id"), step=loaded.step,
                       path=loaded.run_dir.path, discriminator=discriminator, features=features, load_data=data,
                       feature_space="discriminator blocks" if features is not None else None)
    return run, loaded
