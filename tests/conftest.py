"""Shared fixtures: a host with a tiny in-test dataset plugin, and small recipes."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from ganzoo.api import Dataset, ImageData, PluginConfig, hookimpl
from ganzoo.host import create_host

os.environ.setdefault("GANZOO_TENSORBOARD", "0")  # its import alone costs seconds per run
REPO = Path(__file__).resolve().parents[1]


class SquaresConfig(PluginConfig):
    size: int = 64
    classes: int = 2


class Squares(Dataset):
    """Dark squares of random size on white: learnable in a few steps, no files needed."""

    kind = "test-squares"
    Config = SquaresConfig

    def load(self) -> ImageData:
        g = torch.Generator().manual_seed(0)
        n, r = self.config.size, self.resolution
        images = torch.full((n, 3, r, r), 255, dtype=torch.uint8)
        for i in range(n):
            s = int(torch.randint(r // 4, r // 2, (1,), generator=g))
            x, y = torch.randint(0, r - s, (2,), generator=g).tolist()
            images[i, :, y:y + s, x:x + s] = torch.randint(0, 120, (3, 1, 1), generator=g, dtype=torch.uint8)
        labels = torch.arange(n) % self.config.classes
        return ImageData(images, labels, tuple(f"class{c}" for c in range(self.config.classes)))


class SquaresPlugin:
    @hookimpl
    def ganzoo_register_datasets(self, register):
        register(Squares)


@pytest.fixture
def host():
    return create_host([SquaresPlugin()])


def tiny_recipe(tmp_path: Path, **train) -> dict:
    return {
        "run": {"name": "tiny", "output_dir": str(tmp_path / "runs"), "seed": 3, "threads": 1},
        "data": {"kind": "test-squares", "resolution": 16, "size": 48},
        "architecture": {"kind": "dcgan", "width": 8, "z_dim": 16},
        "train": {"steps": 8, "batch_size": 8, "log_every": 2, "sample_every": 4, "checkpoint_every": 4,
                  "grid_size": 16, **train},
        "export": {"count": 4},
    }


TINY_CATALOGUE_RUN = """\
run: {{name: {name}, output_dir: {out}, seed: 0, threads: 1}}
data: {{kind: catalogue, resolution: 16, size: 32}}
architecture: {architecture}
train: {{steps: 2, batch_size: 8, log_every: 1, sample_every: 2, checkpoint_every: 2, grid_size: 4}}
export: {{count: 1}}
"""


def train_tiny_catalogue_runs(root: Path, architectures: dict[str, str]) -> dict[str, Path]:
    """Two-step catalogue runs at 16 px, one per name -> architecture section (YAML flow), under root/runs."""
    from typer.testing import CliRunner

    from ganzoo.cli import app
    for name, architecture in architectures.items():
        recipe = root / f"{name}.yaml"
        recipe.write_text(TINY_CATALOGUE_RUN.format(name=name, out=root / "runs", architecture=architecture))
        result = CliRunner().invoke(app, ["run", str(recipe)])
        assert result.exit_code == 0, result.output
    return {name: root / "runs" / name for name in architectures}
