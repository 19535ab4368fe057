"""Hostile and careless inputs (issue 13): each case answered in one paragraph with exit code 2, bounded."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import warnings
from importlib import metadata

import pytest
import torch
import yaml
from PIL import Image
from typer.testing import CliRunner

from ganzoo.cli import app
from ganzoo.errors import GanzooWarning, RecipeError
from ganzoo.fileio import YAML_LIMITS, YamlError, parse_yaml
from ganzoo.host import create_host
from ganzoo.recipe import load_recipe
from tests.conftest import REPO

runner = CliRunner()


def _flat(text: str) -> str:
    return " ".join(text.split())


def alias_bomb(levels: int = 9) -> str:
    """Nine levels of ten aliases each: 10^9 strings once expanded, 1 KB on disk."""
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        name, previous = chr(97 + i), chr(96 + i)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 10) + "]")
    lines.append(f"run: {{name: *{chr(96 + levels)}}}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ 1. YAML limits

def test_an_alias_bomb_is_refused_in_a_second_naming_the_file(tmp_path):
    recipe = tmp_path / "bomb.yaml"
    recipe.write_text(alias_bomb())
    assert len(recipe.read_bytes()) < 1024
    started = time.perf_counter()
    result = runner.invoke(app, ["validate", str(recipe)])
    assert time.perf_counter() - started < 1.0
    assert result.exit_code == 2 and "Traceback" not in result.output
    message = _flat(result.stderr)
    assert str(recipe) in message and "would expand to" in message and "20,000" in message


def test_the_alias_bomb_costs_no_memory(tmp_path):
    """Measured in a fresh interpreter: peak memory after refusing the bomb, against after the imports."""
    recipe = tmp_path / "bomb.yaml"
    recipe.write_text(alias_bomb())
    script = textwrap.dedent(f"""
        import resource
        from pathlib import Path
        from ganzoo.recipe.yamlfile import read_yaml
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            read_yaml(Path({str(recipe)!r}))
        except Exception as exc:
            assert "would expand" in str(exc), exc
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
    """)
    grown_mib = float(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                     check=True, timeout=60).stdout.strip())
    assert grown_mib < 100


@pytest.mark.parametrize("text, problem", [
    ("a: " + "[" * 100 + "]" * 100, "nests 101 levels deep"),
    ("a: &a [1]\n" + "\n".join(f"k{i}: *a" for i in range(YAML_LIMITS["aliases"] + 1)), "more than 1,000 aliases"),
    ("a: &a [b, *a]\n", None),  # a recursive alias is bounded, not a hang
])
def test_nesting_and_alias_limits(text, problem):
    if problem is None:
        data, _ = parse_yaml(text)
        assert data["a"][1] is data["a"]
        return
    with pytest.raises(YamlError, match=problem):
        parse_yaml(text)


@pytest.mark.parametrize("kind", ["recipe", "pipeline", "compare"])
def test_a_recursive_alias_in_any_file_is_one_paragraph(tmp_path, kind):
    """Found by tests/test_fuzz.py: collecting line numbers walked a recursive alias forever (RecursionError)."""
    loop = "b: &b [[&c [x, x], *c, *c], *b]\n"
    path = tmp_path / f"{kind}.yaml"
    if kind == "recipe":
        path.write_text(loop + "data: {kind: catalogue, resolution: 32, size: 8}\narchitecture: {kind: dcgan}\n"
                               "train: {steps: 1}\n")
        args = ["validate", str(path)]
    elif kind == "pipeline":
        path.write_text(loop + "steps: [{kind: preset, name: marketplace-white-1000}]\n")
        (tmp_path / "in").mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / "in" / "a.png")
        args = ["postprocess", str(tmp_path / "in"), str(tmp_path / "out"), "--pipeline", str(path)]
    else:
        path.write_text(loop + "data: {kind: catalogue, resolution: 32, size: 8}\nbudget: {steps: 1}\n"
                               "entries: [{name: a, architecture: {kind: dcgan}}]\n")
        args = ["compare", str(path), "--dry-run"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert str(path) in _flat(result.stderr)
    if kind != "pipeline":  # a pipeline file shows what it got instead of one key's line
        assert "'b'" in _flat(result.stderr) and "line 1" in _flat(result.stderr)  # the unknown key, where it is


def test_ordinary_anchors_still_work():
    data, _ = parse_yaml("base: &b {lr: 0.001, beta: 0.5}\ng: *b\nd: {<<: *b, lr: 0.004}\n")
    assert data["g"] == {"lr": 0.001, "beta": 0.5} and data["d"] == {"lr": 0.004, "beta": 0.5}


# ------------------------------------------------------------------ 2. duplicate keys

def test_a_duplicate_key_names_the_key_and_both_lines(tmp_path):
    recipe = tmp_path / "dup.yaml"
    recipe.write_text("run: {name: a}\ndata: {kind: catalogue}\narchitecture: {kind: dcgan}\n"
                      "train: {steps: 2}\nrun: {name: b}\n")
    result = runner.invoke(app, ["validate", str(recipe)])
    assert result.exit_code == 2
    assert "the key 'run' appears twice in one mapping, at lines 1 and 5" in _flat(result.stderr)


def test_duplicate_keys_in_pipeline_compare_and_preset_files(tmp_path):
    pipeline = tmp_path / "pipe.yaml"
    pipeline.write_text("steps:\n  - kind: resize\n    size: 64\n    size: 128\n")
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (8, 8), "red").save(photos / "a.png")
    result = runner.invoke(app, ["postprocess", str(photos), str(tmp_path / "out"), "--pipeline", str(pipeline)])
    assert result.exit_code == 2 and "the key 'size' appears twice" in _flat(result.stderr)
    assert not (tmp_path / "out").exists()

    compare = tmp_path / "compare.yaml"
    compare.write_text("data: {kind: catalogue}\nseeds: [0]\nseeds: [1]\nbudget: {images: 10}\n"
                       "entries: [{name: a, architecture: {kind: dcgan}}]\n")
    result = runner.invoke(app, ["compare", str(compare), "--dry-run"])
    assert result.exit_code == 2 and "the key 'seeds' appears twice in one mapping, at lines 2 and 3" in _flat(
        result.stderr)

    from ganzoo_postprocess.presets import read_preset
    preset = tmp_path / "twice.yaml"
    preset.write_text("description: x\nsteps: []\nsteps: [{kind: resize}]\n")
    with pytest.raises(ValueError, match="the key 'steps' appears twice"):
        read_preset(preset)


# ------------------------------------------------------------------ 3. budgets from the command line

def _images_budget_recipe(tmp_path):
    path = tmp_path / "images.yaml"
    path.write_text(yaml.safe_dump({"run": {"output_dir": str(tmp_path / "runs")},
                                    "data": {"kind": "catalogue", "resolution": 16, "size": 32},
                                    "architecture": {"kind": "dcgan", "width": 8},
                                    "train": {"images": 100000, "batch_size": 8}}))
    return path


def test_a_set_budget_replaces_the_files_budget(tmp_path):
    host = create_host()
    path = _images_budget_recipe(tmp_path)
    train = load_recipe(path, host, ["train.steps=200"]).recipe.train
    assert (train.steps, train.images, train.wall_clock) == (200, None, None)
    train = load_recipe(path, host, ["train.wall_clock=60"]).recipe.train
    assert (train.steps, train.images, train.wall_clock) == (None, None, 60)
    with pytest.raises(RecipeError, match="give two budgets"):
        load_recipe(path, host, ["train.steps=200", "train.images=500"])
    both = tmp_path / "both.yaml"
    both.write_text(path.read_text().replace("batch_size: 8", "batch_size: 8\n  steps: 5"))
    with pytest.raises(RecipeError, match="give exactly one budget"):
        load_recipe(both, host)
    result = runner.invoke(app, ["validate", str(path), "--set", "train.steps=200"])
    assert result.exit_code == 0, result.output


def test_every_shipped_recipe_takes_a_steps_budget_from_the_command_line():
    host = create_host()
    for path in sorted((REPO / "recipes").glob("*.yaml")):
        if path.name.startswith("compare-"):
            continue
        try:
            train = load_recipe(path, host, ["train.steps=200"]).recipe.train
        except RecipeError as exc:
            if "requires what this environment lacks" in str(exc) or "Fashion-MNIST" in str(exc):
                continue
            raise
        assert train.steps == 200 and train.images is None, path


# ------------------------------------------------------------------ 7. names the file system refuses

def test_a_run_name_too_long_for_the_file_system_is_refused_by_validate(tmp_path):
    recipe = tmp_path / "long.yaml"
    recipe.write_text(f"run: {{name: {'a' * 100_000}}}\ndata: {{kind: catalogue}}\narchitecture: {{kind: dcgan}}\n"
                      f"train: {{steps: 2}}\n")
    result = runner.invoke(app, ["validate", str(recipe)])
    assert result.exit_code == 2 and "run.name" in result.stderr and "200" in result.stderr


def test_a_run_directory_the_file_system_refuses_is_one_paragraph(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the runs folder should be")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"run: {{name: r, output_dir: {blocker}}}\ndata: {{kind: catalogue, resolution: 16, "
                      f"size: 16}}\narchitecture: {{kind: dcgan, width: 8}}\ntrain: {{steps: 1, batch_size: 4}}\n")
    result = runner.invoke(app, ["run", str(recipe)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "cannot be prepared" in _flat(result.stderr) and blocker.read_text().startswith("a file")


# ------------------------------------------------------------------ 9. plugins that fail at import

def test_an_import_failure_names_the_file_and_line_and_traces(tmp_path, monkeypatch, capsys):
    module = tmp_path / "ganzoo_broken_plugin.py"
    module.write_text("import os\nPALETTE = {}\nCOLOUR = PALETTE['colour']\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    point = metadata.EntryPoint(name="broken", value="ganzoo_broken_plugin", group="ganzoo")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        create_host(entry_points=[point])
    message = str(next(w.message for w in caught if issubclass(w.category, GanzooWarning)))
    assert f"{module}:3" in message and "KeyError: 'colour'" in message
    monkeypatch.setenv("GANZOO_TRACE_PLUGINS", "1")
    sys.modules.pop("ganzoo_broken_plugin", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        create_host(entry_points=[point])
    traced = capsys.readouterr().err
    assert "Traceback (most recent call last)" in traced and "PALETTE['colour']" in traced


# ------------------------------------------------------------------ 11. visible label and metadata agree

def test_a_generated_label_is_only_drawn_on_images_that_carry_the_record(tmp_path):
    from ganzoo_postprocess.watermark import Watermark, WatermarkConfig
    with pytest.raises(ValueError, match="when: ai-generated"):
        WatermarkConfig(text="ACME · AI-generated")
    step = Watermark(WatermarkConfig(text="AI-generated", when="ai-generated", size=0.3, opacity=1.0))
    photo = Image.new("RGB", (64, 64), "white")
    assert step(photo, {"provenance": None}) is photo  # a real photo: untouched
    marked = step(photo, {"provenance": {"ai_generated": True}})
    assert marked.tobytes() != photo.tobytes()
    brand = Watermark(WatermarkConfig(text="ACME", size=0.3, opacity=1.0))  # a brand mark goes on everything
    assert brand(photo, {"provenance": None}).tobytes() != photo.tobytes()


def test_the_shipped_watermark_pipeline_leaves_real_photos_unlabelled(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (120, 90), (200, 30, 30)).save(photos / "shoe.jpg", quality=95)
    pipeline = REPO / "recipes" / "pipelines" / "marketplace-watermark.yaml"
    result = runner.invoke(app, ["postprocess", str(photos), str(tmp_path / "out"), "--pipeline", str(pipeline)])
    assert result.exit_code == 0, result.output
    out = next((tmp_path / "out").iterdir())
    with Image.open(out) as image:
        corner = image.convert("L").crop((700, 900, 1000, 1000))  # where the label would be: plain white
        assert corner.getextrema()[0] > 245
    inspected = json.loads(runner.invoke(app, ["inspect", str(out), "--json"]).stdout)
    assert not inspected["ai_generated"]


# ------------------------------------------------------------------ 6. files that are not what they claim

def _png_declaring(path, width: int, height: int) -> None:
    """A small PNG whose header declares width x height pixels (a decompression bomb's shape)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = zlib.compress(b"\x00" * (width * 3 + 1) * 4)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", rows) + chunk(b"IEND", b""))


def shop_folder_with_bad_files(folder):
    """Good but unusual files (CMYK, 16-bit, animated, a symlink loop) and four that are not images at all."""
    import io
    import os
    folder.mkdir()
    Image.new("RGB", (40, 30), "red").save(folder / "good.png")
    Image.new("CMYK", (40, 30), (0, 100, 100, 0)).save(folder / "cmyk.jpg")
    Image.new("I;16", (40, 30), 40000).save(folder / "sixteen-bit.png")
    frames = [Image.new("RGB", (40, 30), c) for c in ("red", "green")]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:])
    (folder / "loop").mkdir()
    os.symlink("..", folder / "loop" / "up")
    _png_declaring(folder / "bomb.png", 50_000, 50_000)
    jpeg = io.BytesIO()
    Image.new("RGB", (40, 30), "blue").save(jpeg, "JPEG")
    (folder / "truncated.jpg").write_bytes(jpeg.getvalue()[:200])
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.jpg").write_text("not a jpeg at all")
    return {"bomb.png", "truncated.jpg", "empty.png", "text.jpg"}


def test_postprocess_refuses_files_that_are_not_images_in_one_paragraph(tmp_path):
    bad = shop_folder_with_bad_files(tmp_path / "photos")
    started = time.perf_counter()
    result = runner.invoke(app, ["postprocess", str(tmp_path / "photos"), str(tmp_path / "out"),
                                 "--pipeline", str(REPO / "recipes" / "pipelines" / "marketplace-watermark.yaml")])
    assert time.perf_counter() - started < 20
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    message = _flat(result.stderr)
    assert all(name in message for name in bad) and "decompression bomb" in message
    assert "nothing was written" in message and not (tmp_path / "out").exists()
    for name in bad:
        (tmp_path / "photos" / name).unlink()
    white = tmp_path / "white.yaml"
    white.write_text("steps: [{kind: preset, name: marketplace-white-1000}]\n")
    photos, out = str(tmp_path / "photos"), str(tmp_path / "out")
    fine = runner.invoke(app, ["postprocess", photos, out, "--pipeline", str(white)])
    assert fine.exit_code == 0, fine.output  # CMYK, 16-bit and animated images are images
    assert len(list((tmp_path / "out").rglob("*.jpg"))) == 4


def test_the_folder_dataset_skips_what_is_not_an_image_with_one_warning(tmp_path):
    bad = shop_folder_with_bad_files(tmp_path / "photos")
    recipe = tmp_path / "folder.yaml"
    recipe.write_text(f"data: {{kind: folder, path: {tmp_path / 'photos'}, resolution: 16}}\n"
                      f"architecture: {{kind: dcgan, width: 8}}\ntrain: {{steps: 1, batch_size: 2}}\n")
    result = runner.invoke(app, ["validate", str(recipe), "--data"])  # --data: decode all, as training does
    assert result.exit_code == 0, result.output
    warning = _flat(result.stderr)
    assert f"Skipped {len(bad)} of 8 image file(s)" in warning and all(name in warning for name in bad)
    assert "4 images decoded" in _flat(result.stdout)
    cheap = runner.invoke(app, ["validate", str(recipe)])  # headers only: the same files, found without decoding
    assert cheap.exit_code == 0, cheap.output
    assert f"{len(bad)} of 8 image file(s) sampled" in _flat(cheap.stderr) and "validate --data" in _flat(cheap.stderr)
    assert "8 images; listed, headers of 8 read, none decoded" in _flat(cheap.stdout)


# ------------------------------------------------------------------ 4. validating without decoding

def test_validate_decodes_nothing_unless_asked(tmp_path, monkeypatch):
    from ganzoo_datasets import _pixels, _render

    def no_decoding(*args):
        raise AssertionError("validate decoded an image")

    monkeypatch.setattr(_render, "render", no_decoding)
    monkeypatch.setattr(_pixels, "read_image", no_decoding)
    result = runner.invoke(app, ["validate", str(REPO / "recipes" / "quickstart.yaml")])
    assert result.exit_code == 0, result.output
    assert "6,000 images; drawn when training starts" in _flat(result.stdout) and "6 classes" in _flat(result.stdout)
    for cls in ("shoes", "bags"):
        (tmp_path / "photos" / cls).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (30, 20), "red").save(tmp_path / "photos" / cls / f"{i}.jpg")
    recipe = tmp_path / "folder.yaml"
    recipe.write_text(f"data: {{kind: folder, path: {tmp_path / 'photos'}, resolution: 16}}\n"
                      f"architecture: {{kind: dcgan, width: 8, conditional: true}}\ntrain: {{steps: 1}}\n")
    result = runner.invoke(app, ["validate", str(recipe)])
    assert result.exit_code == 0, result.output
    assert "6 images; listed" in _flat(result.stdout) and "2 classes" in _flat(result.stdout)
    monkeypatch.setattr(_pixels, "read_image", lambda *args: (_ for _ in ()).throw(OSError("cannot decode")))
    decoded = runner.invoke(app, ["validate", str(recipe), "--data"])
    assert decoded.exit_code == 2 and "None of the 6 image file(s)" in _flat(decoded.stderr)


def test_a_dataset_plugin_without_a_cheap_check_is_loaded_instead():
    from ganzoo.api import Dataset, ImageData, hookimpl
    from ganzoo.recipe import check_data, resolve

    loads = []

    class Plain(Dataset):  # plugin API 1.0: load only
        kind = "plain"

        def load(self):
            loads.append(self.resolution)
            return ImageData(torch.zeros(5, 1, self.resolution, self.resolution, dtype=torch.uint8))

    class Plugin:
        @hookimpl
        def ganzoo_register_datasets(self, register):
            register(Plain)

    from ganzoo_dcgan import plugin as dcgan_plugin
    host = create_host([Plugin(), dcgan_plugin], entry_points=False)
    resolved = resolve({"data": {"kind": "plain", "resolution": 8, "channels": 3}, "architecture": {"kind": "dcgan"},
                        "train": {"steps": 1}, "export": {"count": 0}}, host, source="test")
    found = check_data(resolved, host)
    assert loads == [8] and (found.size, found.channels) == (5, 3) and "no cheap check" in found.notes[0]


def test_damaged_or_hostile_checkpoint_files_are_refused(tmp_path):
    import pickle

    from ganzoo.engine import checkpoint
    from ganzoo.errors import GanzooError
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    weights = folder / "step-00000001.safetensors"
    import torch
    from safetensors.torch import save_file
    save_file({"generator.w": torch.zeros(64)}, str(weights), metadata={"format": checkpoint.FORMAT, "step": "1"})
    whole = weights.read_bytes()
    weights.write_bytes(whole[:len(whole) // 2])
    with pytest.raises(GanzooError, match="damaged or not a safetensors file"):
        checkpoint.read_metadata(weights)
    weights.write_bytes((10**12).to_bytes(8, "little") + whole[8:])  # a header claiming a terabyte
    with pytest.raises(GanzooError, match="Cannot read checkpoint weights"):
        checkpoint.network_names(weights)

    marker = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    state = folder / "step-00000001.state.pt"
    state.write_bytes(pickle.dumps({"step": 1, "payload": Payload()}))
    with pytest.raises(GanzooError, match="Cannot read checkpoint state"):
        checkpoint.load_state(state)
    assert not marker.exists()  # weights_only: no code runs

    (folder / "latest.json").write_text(json.dumps({"step": 1, "weights": "../../elsewhere.safetensors",
                                                    "state": state.name}))
    with pytest.raises(GanzooError, match="points outside its checkpoint folder"):
        checkpoint.latest(folder)


def test_a_dataset_size_that_would_take_the_machine_is_refused_at_once(tmp_path):
    recipe = tmp_path / "huge.yaml"
    recipe.write_text("data: {kind: catalogue, size: 1000000000}\narchitecture: {kind: dcgan}\ntrain: {steps: 2}\n")
    started = time.perf_counter()
    result = runner.invoke(app, ["validate", str(recipe)])
    assert time.perf_counter() - started < 10
    assert result.exit_code == 2 and "data.size" in result.stderr and "1000000" in result.stderr.replace(",", "")
