"""The contract check for inverters, and the toy runs it inverts."""
from __future__ import annotations

import json
from typing import Any

from ganzoo.testing.shared import check_class


def toy_inversion_runs() -> list:
    """Two tiny 8 px runs for inverter checks, as ``InversionRun``: a z-only generator and a style-based one
    (z, w, w+, two styles), each with random frozen weights and a pooled-pixel feature space."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    from ganzoo.api import Architecture, ImageSpec, InversionRun, PluginConfig

    class ToyConfig(PluginConfig):
        z_dim: int = 8

    class ToyGenerator(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mapping = nn.Linear(8, 8)
            self.layers = nn.ModuleList([nn.Linear(8, 3 * 8 * 8) for _ in range(2)])

        def synthesis(self, ws):
            return torch.tanh(sum(layer(ws[:, i]) for i, layer in enumerate(self.layers))).view(-1, 3, 8, 8)

        def forward(self, z, labels=None):
            return self.synthesis(self.mapping(z)[:, None].expand(-1, 2, -1))

    class ToyZ(Architecture):
        kind, Config = "toy-z", ToyConfig

        def build_generator(self):
            return ToyGenerator()

    class ToyStyle(ToyZ):
        kind = "toy-style"

        def latent_spaces(self):
            return ("z", "w", "w+")

        def mapping(self, generator, z, labels=None):
            return generator.mapping(z)

        def synthesis(self, generator, w_plus, labels=None):
            return generator.synthesis(w_plus)

        def num_ws(self, generator):
            return 2

        def style_groups(self, generator):
            return {"coarse": range(0, 1), "middle": range(1, 1), "fine": range(1, 2)}

        def style_weights(self, generator):
            return torch.cat([layer.weight for layer in generator.layers]).detach()

    runs = []
    for cls in (ToyZ, ToyStyle):
        torch.manual_seed(0)
        architecture = cls(ToyConfig(), ImageSpec(8, 3))
        generator = architecture.build_generator().eval().requires_grad_(False)
        runs.append(InversionRun(architecture, generator, torch.device("cpu"), run_id=f"{cls.kind}-run",
                                 features=lambda x, labels=None: [F.avg_pool2d(x, 2)]))
    return runs


def check_inverter(cls: type, config: dict[str, Any] | None = None, setup: Any = None,
                   must_improve: bool = True) -> None:
    """Assert that ``cls`` inverts generated images of two toy runs (z-only and style-based): an ``Inversion``
    of one finite latent per image in a space the run offers, progress reported, JSON-able info, the same
    latents for the same seed and, with ``must_improve``, reconstructions closer to the targets than the
    generator's image of the mean latent. ``setup(run)`` (optional) prepares what the inverter needs for a run
    (a trained encoder, say) and returns config fields to add for it. Since plugin API 1.3.
    """
    import torch

    from ganzoo.api import Inversion

    check_class(cls, "Inverter", config)
    for run in toy_inversion_runs():
        extra = setup(run) if setup is not None else {}
        inverter = cls(cls.Config.model_validate({**(config or {}), **(extra or {})}))
        architecture, G = run.architecture, run.generator
        where = f"{cls.kind} on a {architecture.kind} run"
        targets = architecture.generate(G, torch.randn(4, architecture.z_dim, generator=torch.Generator()
                                                       .manual_seed(1))).detach()
        calls: list[tuple[int, int]] = []

        def invert():
            torch.manual_seed(0)
            return inverter.invert(run, targets.clone(), None, lambda done, total: calls.append((done, total)))

        result = invert()
        assert isinstance(result, Inversion), f"{where}: invert() must return a ganzoo.api.Inversion"
        assert result.space in architecture.latent_spaces(), \
            f"{where}: space {result.space!r} is not one of the run's {architecture.latent_spaces()}"
        shapes = {"z": (4, architecture.z_dim), "w": (4, 8), "w+": (4, 2, 8)}
        assert tuple(result.latents.shape) == shapes[result.space], \
            f"{where}: {result.space} latents of shape {tuple(result.latents.shape)}, expected {shapes[result.space]}"
        assert torch.isfinite(result.latents).all(), f"{where}: latents are not finite"
        assert result.labels is None, f"{where}: labels must be None for an unconditional generator"
        json.dumps(result.info)
        assert calls and all(0 <= done <= total for done, total in calls), \
            f"{where}: call progress(done, total) as work proceeds, with 0 <= done <= total"
        assert torch.equal(invert().latents, result.latents), f"{where}: the same seed gave other latents"
        if must_improve:
            with torch.no_grad():
                mean_image = architecture.generate(G, torch.zeros(1, architecture.z_dim))
                codes = result.latents if result.space != "w" else result.latents[:, None].expand(-1, 2, -1)
                recon = architecture.generate(G, codes) if result.space == "z" else architecture.synthesis(G, codes)
            error, baseline = (recon - targets).square().mean(), (mean_image - targets).square().mean()
            assert error < baseline, f"{where}: reconstructions ({error:.4f} MSE) are no closer to the targets " \
                                     f"than the mean latent's image ({baseline:.4f})"
