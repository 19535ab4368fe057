"""The CLI as a user meets it: exit codes, messages, run directories, resume, generate."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ganzoo.cli import app

runner = CliRunner()

RECIPE = """\
run: {{name: cli, output_dir: {out}, seed: 0, threads: 1}}
data: {{kind: catalogue, resolution: 16, size: 64}}
architecture: {{kind: dcgan, width: 8, z_dim: 16}}
train: {{steps: {steps}, batch_size: 16, log_every: 2, sample_every: 4, checkpoint_every: {ckpt}, grid_size: 16}}
export: {{count: 5}}
"""


def recipe(tmp_path, steps=6, ckpt=3, name="r.yaml"):
    path = tmp_path / name
    path.write_text(RECIPE.format(out=tmp_path / "runs", steps=steps, ckpt=ckpt))
    return path


def test_plugins_json_lists_dcgan_from_its_distribution():
    result = runner.invoke(app, ["plugins", "--json"])
    assert result.exit_code == 0
    records = {r["name"]: r for r in json.loads(result.stdout)}
    assert records["dcgan"]["distribution"] == "ganzoo-dcgan"
    assert records["dcgan"]["provides"] == {"architecture": ["dcgan"]}
    assert records["datasets"]["provides"]["dataset"] == ["catalogue", "folder", "fashion-mnist"]


def test_plugins_table():
    result = runner.invoke(app, ["plugins"])
    assert result.exit_code == 0 and "ganzoo-dcgan" in result.stdout


def test_bad_recipe_exits_2_with_one_paragraph(tmp_path):
    path = recipe(tmp_path)
    path.write_text(path.read_text().replace("width: 8", "width: many"))
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert "architecture.width (line 3): got 'many'" in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) <= 3  # one paragraph, wrapped at most by the terminal


def test_validate_ok_and_resolution_check(tmp_path):
    path = recipe(tmp_path)
    assert runner.invoke(app, ["validate", str(path)]).exit_code == 0
    result = runner.invoke(app, ["validate", str(path), "--set", "data.resolution=48"])
    assert result.exit_code == 2 and "16, 28, 32, 64, 128" in result.stderr


def test_schema_is_json_with_plugins():
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    assert "catalogue" in json.dumps(json.loads(result.stdout))


def test_run_resume_refuse_and_generate(tmp_path):
    path = recipe(tmp_path)
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "runs" / "cli"
    for name in ("recipe.resolved.json", "run.json", "stats.jsonl", "grids/reals.png", "grids/fakes00000006.png",
                 "checkpoints/latest.json", "checkpoints/step-00000006.safetensors", "export/000004.png"):
        assert (run_dir / name).exists(), name
    info = json.loads((run_dir / "run.json").read_text())
    assert info["seed"] == 0 and info["plugins"]["ganzoo-dcgan"] == "0.1.0"
    assert "Run directory" in result.stdout and "checkpoints/" in result.stdout

    # A larger budget extends the run; a different recipe is refused with the difference shown.
    result = runner.invoke(app, ["run", str(path), "--set", "train.steps=8"])
    assert result.exit_code == 0 and "Resuming at step 6" in result.stdout
    result = runner.invoke(app, ["run", str(path), "--set", "architecture.width=16"])
    assert result.exit_code == 2 and "architecture.width: 8 -> 16" in result.stderr
    # --fresh archives the old run instead of deleting it.
    result = runner.invoke(app, ["run", str(path), "--set", "architecture.width=16", "--fresh"])
    assert result.exit_code == 0
    assert any(p.name.startswith("cli.replaced-") for p in (tmp_path / "runs").iterdir())

    out_a, out_b = tmp_path / "gen_a", tmp_path / "gen_b"
    assert runner.invoke(app, ["generate", str(run_dir), "-n", "3", "--out", str(out_a), "--seed", "7"]).exit_code == 0
    assert runner.invoke(app, ["generate", str(run_dir), "-n", "3", "--out", str(out_b), "--seed", "7",
                               "--batch-size", "1"]).exit_code == 0
    assert sorted(p.name for p in out_a.iterdir()) == ["000000.png", "000001.png", "000002.png"]
    for p in out_a.iterdir():
        assert p.read_bytes() == (out_b / p.name).read_bytes()


def test_generate_without_checkpoint_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["generate", str(tmp_path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "not a ganzoo run directory" in result.stderr


@pytest.mark.slow
def test_sigkill_halfway_then_rerun_resumes_and_finishes(tmp_path):
    path = recipe(tmp_path, steps=400, ckpt=20)
    run_dir = tmp_path / "runs" / "cli"
    env = {**os.environ, "GANZOO_TENSORBOARD": "0"}
    cmd = [sys.executable, "-m", "ganzoo", "run", str(path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 120
    while time.time() < deadline:
        latest = run_dir / "checkpoints" / "latest.json"
        if latest.exists() and json.loads(latest.read_text())["step"] >= 100:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = json.loads((run_dir / "checkpoints" / "latest.json").read_text())["step"]
    assert 100 <= killed_at < 400
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"Resuming at step {killed_at}" in done.stdout
    steps = [json.loads(line)["step"] for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    assert steps == list(range(2, 401, 2))  # no record lost or doubled across the kill
    assert len(list((run_dir / "export").glob("*.png"))) == 5


FASHION_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fashion-mnist"
RECIPES = sorted(p for p in (Path(__file__).resolve().parents[1] / "recipes").glob("*.yaml")
                 if not p.name.startswith("compare-"))  # compare recipes: tests/test_compare.py


def _shop_photos(tmp_path_factory) -> Path:
    """A few product photos for recipes over a folder (data.path is the one thing a user changes)."""
    from tests.photos import write_shop_photos
    folder = tmp_path_factory.getbasetemp() / "recipe-photos"
    return folder if folder.is_dir() else write_shop_photos(folder, 20)


def _uncommented(path: Path) -> str:
    """A recipe without its comments (which may show how to point it at a folder of photos)."""
    return "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_every_shipped_recipe_validates(path, monkeypatch, tmp_path_factory):
    extra = []
    if "fashion-mnist" in path.read_text():
        if not FASHION_MNIST.is_dir():
            pytest.skip(f"Fashion-MNIST not found at {FASHION_MNIST}")
        monkeypatch.setenv("GANZOO_FASHION_MNIST", str(FASHION_MNIST))
    if "kind: folder" in _uncommented(path):
        extra = ["--set", f"data.path={_shop_photos(tmp_path_factory)}"]
    result = runner.invoke(app, ["validate", str(path), *extra])
    assert result.exit_code == 0, result.stderr


def test_yaml_bare_off_means_amp_off(tmp_path):
    path = recipe(tmp_path)
    path.write_text(path.read_text().replace("grid_size: 16", "grid_size: 16, amp: off"))
    assert runner.invoke(app, ["validate", str(path)]).exit_code == 0


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_every_shipped_recipe_trains_two_steps(path, tmp_path, monkeypatch, tmp_path_factory):
    text = path.read_text()
    small = ["train.images=null", "train.steps=2", "train.batch_size=8", "export.count=2",
             f"run.output_dir={tmp_path}", "train.grid_size=4"]
    if "fashion-mnist" in text:
        if not FASHION_MNIST.is_dir():
            pytest.skip(f"Fashion-MNIST not found at {FASHION_MNIST}")
        monkeypatch.setenv("GANZOO_FASHION_MNIST", str(FASHION_MNIST))
        small.append("data.limit=64")
    elif "kind: folder" in _uncommented(path):
        small.append(f"data.path={_shop_photos(tmp_path_factory)}")
    else:
        small.append("data.size=64")
    if "device: cuda" in text and not __import__("torch").cuda.is_available():
        # A GPU recipe (recipes/*-gpu.yaml) at its own resolution, but narrow: its widths take minutes a step here.
        small += ["run.device=cpu", "architecture.width=8", "architecture.max_width=16"]
    args = ["run", str(path)]
    for item in small:
        args += ["--set", item]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    assert "Done: step 2" in result.stdout
