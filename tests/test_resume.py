"""Resume gives the same trajectory as an uninterrupted run (losses and weights, bit for bit on CPU)."""
import json

import pytest
import torch
from safetensors.torch import load_file

from ganzoo.recipe import resolve
from ganzoo.runner import run_recipe
from tests.conftest import tiny_recipe


def _records(run_dir):
    return [json.loads(line) for line in run_dir.stats_file.read_text().splitlines()]


def _final_weights(run_dir):
    latest = json.loads((run_dir.checkpoints / "latest.json").read_text())
    return load_file(str(run_dir.checkpoints / latest["weights"]))


ARCHITECTURES = {
    "dcgan": {"kind": "dcgan", "width": 8, "z_dim": 16},
    "dcgan-conditional-augmented": {"kind": "dcgan", "width": 8, "z_dim": 16, "conditional": True},
    "wgan-gp": {"kind": "wgan-gp", "width": 8, "z_dim": 16, "n_critic": 2},
    "stylegan-lite": {"kind": "stylegan-lite", "preset": "tiny", "r1_every": 3, "path_length": 2.0,
                      "path_length_every": 3},
}


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_half_plus_resume_equals_straight_run(tmp_path, host, name):
    """Every random draw (noise, style mixing, penalty interpolates, augmentation) must replay after resume."""
    extra = {"augment": ["color", "translation", "cutout"]} if "augmented" in name else {}
    straight = tiny_recipe(tmp_path / "a", steps=8, checkpoint_every=4, **extra)
    straight["architecture"] = ARCHITECTURES[name]
    result_a = run_recipe(resolve(straight, host), host)

    halves = tiny_recipe(tmp_path / "b", steps=4, checkpoint_every=4, **extra)
    halves["architecture"] = ARCHITECTURES[name]
    run_recipe(resolve(halves, host), host)
    halves["train"]["steps"] = 8  # a larger budget extends the finished run
    result_b = run_recipe(resolve(halves, host), host)
    assert result_b.summary["resumed"] and result_b.summary["steps_this_session"] == 4

    def strip(recs):
        return [{k: v for k, v in r.items() if k not in ("elapsed_s", "images_per_s")} for r in recs]
    assert strip(_records(result_a.run_dir)) == strip(_records(result_b.run_dir))
    wa, wb = _final_weights(result_a.run_dir), _final_weights(result_b.run_dir)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key
    assert sorted(p.name for p in result_a.exported) == sorted(p.name for p in result_b.exported)
