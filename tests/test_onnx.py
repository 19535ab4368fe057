"""`ganzoo export-onnx` and `ganzoo generate --onnx`: exact exports, the model card, and refusals."""
from __future__ import annotations

import json
import sys

import numpy as np
import onnxruntime
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from ganzoo.api import ImageSpec
from ganzoo.cli import app
from ganzoo.errors import UsageError
from ganzoo.export.onnx import export_generator, model_card
from ganzoo.host import create_host
from ganzoo.recipe import resolve
from ganzoo.runner import run_recipe
from tests.conftest import SquaresPlugin, tiny_recipe

runner = CliRunner()
CLASSES = ("a", "b", "c")
TINY = {
    "dcgan": {"width": 8, "z_dim": 16},
    "wgan-gp": {"width": 8, "z_dim": 16},
    "sngan": {"g_width": 16, "d_width": 8, "z_dim": 16},
    "stylegan-lite": {"preset": "small", "width": 8, "max_width": 16, "mapping_layers": 1, "z_dim": 16},
}


def _flat(text: str) -> str:
    return " ".join(text.split())


def _card(architecture, uint8=False):
    return model_card(architecture, which="ema", step=0, images_seen=0, run={}, recipe_digest=None, metrics=None,
                      uint8=uint8)


@pytest.mark.parametrize("conditional", [False, True], ids=["unconditional", "conditional"])
@pytest.mark.parametrize("kind", list(TINY))
def test_onnxruntime_gives_pytorchs_images(kind, conditional, tmp_path):
    """64 fixed latents, at batch 1 and 17: onnxruntime within 1e-3 of PyTorch (random weights, eval mode)."""
    host = create_host([])
    cls = host.architectures.get(kind).obj
    architecture = cls(cls.Config(**TINY[kind], conditional=conditional), ImageSpec(16, 3, CLASSES))
    torch.manual_seed(0)
    generator = architecture.build_generator().eval()
    path = tmp_path / f"{kind}.onnx"
    card = export_generator(architecture, generator, path, _card(architecture))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(1)
    z = torch.randn(64, architecture.z_dim, generator=g)
    labels = torch.randint(0, 3, (64,), generator=g)
    names = [i.name for i in session.get_inputs()]
    assert names == list(architecture.onnx_inputs()) == [i["name"] for i in card["inputs"]]
    options = {"truncation": 0.7} if "truncation" in names else {}
    with torch.no_grad():
        expected = architecture.generate(generator, z, labels if conditional else None, **options).numpy()
    for batch in (1, 17):
        got = []
        for start in range(0, 64, batch):
            feed = {"z": z[start:start + batch].numpy()}
            if conditional:
                feed["labels"] = labels[start:start + batch].numpy()
            if options:
                feed["truncation"] = np.array(0.7, np.float32)
            got.append(session.run(None, feed)[0])
        assert np.abs(np.concatenate(got) - expected).max() <= 1e-3, (kind, conditional, batch)


@pytest.fixture
def tiny_run(tmp_path, monkeypatch):
    host = create_host([SquaresPlugin()])
    monkeypatch.setattr("ganzoo.host.default_host", lambda: host)
    recipe = tiny_recipe(tmp_path)
    recipe["architecture"]["conditional"] = True
    run_recipe(resolve(recipe, host), host)
    return tmp_path / "runs" / "tiny"


def test_export_then_generate_without_the_run_directory(tiny_run, tmp_path):
    out = tmp_path / "export" / "generator.onnx"
    result = runner.invoke(app, ["export-onnx", str(tiny_run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    card = json.loads(out.with_suffix(".json").read_text())
    run = json.loads((tiny_run / "run.json").read_text())
    assert card["architecture"]["kind"] == "dcgan" and card["generator"] == "ema" and card["step"] == 8
    assert card["images_seen"] == 64 and card["run_id"] == run["run_id"]
    assert card["recipe_digest"] == run["recipe_digest"]
    assert card["training_data"]["content_sha256"] == run["data"]["content_sha256"]
    assert card["provenance"]["ai_generated"] is True and "AI-generated" in card["provenance"]["statement"]
    assert [i["name"] for i in card["inputs"]] == ["z", "labels"] and card["checked"]["max_abs_difference"] < 1e-3
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    in_file = {k: json.loads(v) for k, v in session.get_modelmeta().custom_metadata_map.items()}
    assert in_file["run_id"] == card["run_id"] and in_file["inputs"] == card["inputs"]  # the file says it all

    from_onnx = runner.invoke(app, ["generate", "--onnx", str(out), "-n", "5", "--out", str(tmp_path / "a"),
                                    "--class", "class1", "--seed", "3"])
    assert from_onnx.exit_code == 0, from_onnx.output
    from_run = runner.invoke(app, ["generate", str(tiny_run), "-n", "5", "--out", str(tmp_path / "b"),
                                   "--class", "class1", "--seed", "3"])
    assert from_run.exit_code == 0, from_run.output
    for i in range(5):  # the same latents, the same pixels
        a, b = (np.asarray(Image.open(tmp_path / side / f"{i:06d}.png")).astype(int) for side in "ab")
        assert np.abs(a - b).max() <= 1
    inspected = runner.invoke(app, ["inspect", str(tmp_path / "a" / "000000.png"), "--json"])
    facts = json.loads(inspected.stdout)
    assert facts["ai_generated"] and facts["record"]["class_name"] == "class1"
    assert facts["record"]["run_id"] == card["run_id"]


def test_uint8_export_bakes_the_png_rounding_in(tiny_run, tmp_path):
    out = tmp_path / "u8.onnx"
    assert runner.invoke(app, ["export-onnx", str(tiny_run), "--out", str(out), "--uint8"]).exit_code == 0
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    images = session.run(None, {"z": np.zeros((2, 16), np.float32), "labels": np.array([0, 1])})[0]
    assert images.dtype == np.uint8 and images.shape == (2, 3, 16, 16)


def test_refusals_exit_2_and_write_nothing(tiny_run, tmp_path, monkeypatch):
    out = tmp_path / "g.onnx"
    assert runner.invoke(app, ["export-onnx", str(tiny_run), "--out", str(out)]).exit_code == 0
    before = out.read_bytes()
    again = runner.invoke(app, ["export-onnx", str(tiny_run), "--out", str(out)])
    assert again.exit_code == 2 and "already exist" in _flat(again.stderr) and "--force" in again.stderr
    assert out.read_bytes() == before
    forced = runner.invoke(app, ["export-onnx", str(tiny_run), "--out", str(out), "--force", "--raw"])
    assert forced.exit_code == 0 and json.loads(out.with_suffix(".json").read_text())["generator"] == "raw"

    empty = tmp_path / "empty-run"
    empty.mkdir()
    (empty / "recipe.resolved.json").write_text((tiny_run / "recipe.resolved.json").read_text())
    no_checkpoint = runner.invoke(app, ["export-onnx", str(empty), "--out", str(tmp_path / "x.onnx")])
    assert no_checkpoint.exit_code == 2 and "no checkpoint" in _flat(no_checkpoint.stderr)

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    missing = runner.invoke(app, ["export-onnx", str(tiny_run), "--out", str(tmp_path / "y.onnx")])
    assert missing.exit_code == 2 and "pip install 'ganzoo[onnx]'" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) <= 2  # one short paragraph
    assert not list(tmp_path.glob("y.*")) and not list(tmp_path.glob(".y.onnx*"))


def test_an_architecture_without_onnx_support_is_refused(tmp_path):
    class Plain(create_host([]).architectures.get("dcgan").obj):
        kind = "test-plain"
        onnx_exportable = False

    architecture = Plain(Plain.Config(width=8, z_dim=16), ImageSpec(16, 3))
    with pytest.raises(UsageError, match="does not declare ONNX export support"):
        export_generator(architecture, architecture.build_generator(), tmp_path / "p.onnx", _card(architecture))
    assert not list(tmp_path.iterdir())


def test_generate_onnx_refuses_what_the_file_cannot_do(tiny_run, tmp_path):
    out = tmp_path / "g.onnx"
    assert runner.invoke(app, ["export-onnx", str(tiny_run), "--out", str(out)]).exit_code == 0
    for args, message in ((["--truncation", "0.5"], "has no truncation input"),
                          (["--class", "nope"], "is not a class of this generator"),
                          (["--raw"], "--raw applies to run directories")):
        result = runner.invoke(app, ["generate", "--onnx", str(out), "-n", "2", "--out", str(tmp_path / "o"), *args])
        assert result.exit_code == 2 and message in _flat(result.stderr), result.output
    both = runner.invoke(app, ["generate", str(tiny_run), "--onnx", str(out), "--out", str(tmp_path / "o")])
    assert both.exit_code == 2 and "not both" in both.stderr
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    bad = runner.invoke(app, ["generate", "--onnx", str(junk), "--out", str(tmp_path / "o")])
    assert bad.exit_code == 2 and "cannot be loaded as an ONNX model" in _flat(bad.stderr)
    assert not (tmp_path / "o").exists()
