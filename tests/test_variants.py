"""`ganzoo generate --latents/--interpolate/--mix/--edit` and `ganzoo directions`: exact regeneration, paths,
style mixing, SeFa edits, post-processing and provenance on every output, and clear refusals."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from ganzoo.api import ImageSpec
from ganzoo.cli import app
from ganzoo.export.latents import Latents, write_latents
from ganzoo.export.sefa import read_directions, sefa
from ganzoo.export.variants import in_space, interpolate, mix, seed_latents, slerp
from ganzoo.host import default_host
from ganzoo.provenance import read_provenance
from ganzoo.rundir import load_run
from tests.conftest import train_tiny_catalogue_runs

runner = CliRunner()

ARCHITECTURES = {"sg": "{kind: stylegan-lite, preset: tiny}", "dc": "{kind: dcgan, width: 8, z_dim: 16}"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("variants")
    run_dirs = train_tiny_catalogue_runs(root, ARCHITECTURES)
    return root, run_dirs


def pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)


def generate(*args):
    return runner.invoke(app, ["generate", *map(str, args)])


def loaded(run_dir):
    return load_run(run_dir, default_host(), torch.device("cpu"))


def test_slerp_keeps_the_ends_and_the_norm():
    a, b = torch.randn(64), torch.randn(64)
    b = b / b.norm() * a.norm()
    path = slerp(a, b, torch.linspace(0, 1, 5))
    assert torch.allclose(path[0], a, atol=1e-5) and torch.allclose(path[-1], b, atol=1e-5)
    assert torch.allclose(path.norm(dim=1), a.norm().expand(5), rtol=1e-4)


def test_latents_regenerate_exactly_in_z_and_w_plus(runs, tmp_path):
    root, run = runs
    plain = tmp_path / "plain"
    assert generate(run["sg"], "-n", "3", "--seed", "4", "--out", plain).exit_code == 0
    sg = loaded(run["sg"])
    run_id = json.loads((run["sg"] / "run.json").read_text())["run_id"]
    z = seed_latents(sg.architecture, 4, 3, run_id)
    files = {"z": write_latents(tmp_path / "z.safetensors", z),
             "w+": write_latents(tmp_path / "wp.safetensors", in_space(z, "w+", sg.architecture, sg.generator))}
    for space, path in files.items():
        out = tmp_path / f"from-{space}"
        result = generate(run["sg"], "--latents", path, "--out", out)
        assert result.exit_code == 0, result.output
        for name in ("000000.png", "000001.png", "000002.png"):
            assert np.array_equal(pixels(out / name), pixels(plain / name)), (space, name)
        record = read_provenance(out / "000001.png").record
        assert record["variant"]["latent"] == "seed 4 index 1" and record["variant"]["space"] == space
        assert record["seed"] is None and record["run_id"] == run_id
    # truncation pulls w+ codes towards the mean w exactly as sampling truncates z
    truncated, from_w = tmp_path / "t", tmp_path / "tw"
    assert generate(run["sg"], "-n", "3", "--seed", "4", "--truncation", "0.5", "--out", truncated).exit_code == 0
    assert generate(run["sg"], "--latents", files["w+"], "--truncation", "0.5", "--out", from_w).exit_code == 0
    assert np.array_equal(pixels(truncated / "000002.png"), pixels(from_w / "000002.png"))


def test_interpolation_writes_frames_strip_and_animation(runs, tmp_path):
    root, run = runs
    for name in ("sg", "dc"):
        ends = tmp_path / f"ends-{name}"
        assert generate(run[name], "-n", "1", "--seed", "1", "--out", ends / "a").exit_code == 0
        assert generate(run[name], "-n", "1", "--seed", "2", "--out", ends / "b").exit_code == 0
        out = tmp_path / f"interp-{name}"
        result = generate(run[name], "--interpolate", "1", "2", "--frames", "4", "--out", out)
        assert result.exit_code == 0, result.output
        assert np.array_equal(pixels(out / "000000.png"), pixels(ends / "a" / "000000.png"))
        assert np.array_equal(pixels(out / "000003.png"), pixels(ends / "b" / "000000.png"))
        with Image.open(out / "strip.png") as strip:
            assert strip.size == (4 * 16 + 3 * 2, 16)
        with Image.open(out / "interpolation.webp") as animation:
            assert animation.n_frames == 6  # there and back
        for sheet in ("strip.png", "interpolation.webp"):
            record = read_provenance(out / sheet).record
            assert record["ai_generated"] and record["variant"]["interpolation"]["frames"] == 4
        manifest = json.loads((out / "manifest.json").read_text())
        assert [f["path"] for f in manifest["files"]][-2:] == ["strip.png", "interpolation.webp"]


def test_interpolation_in_w_is_straight_and_ends_on_the_codes(runs):
    _, run = runs
    sg = loaded(run["sg"])
    a = seed_latents(sg.architecture, 1, 1, None)
    b = in_space(seed_latents(sg.architecture, 2, 1, None), "w", sg.architecture, sg.generator)
    path = interpolate(a, b, 5, sg.architecture, sg.generator)
    assert path.space == "w"
    assert torch.allclose(path.latents[0], in_space(a, "w", sg.architecture, sg.generator).latents[0])
    assert torch.allclose(path.latents[2], (path.latents[0] + path.latents[4]) / 2, atol=1e-5)


def test_style_mixing_takes_the_chosen_layers(runs, tmp_path):
    _, run = runs
    sg = loaded(run["sg"])
    groups = sg.architecture.style_groups(sg.generator)
    base, styles = seed_latents(sg.architecture, 1, 2, None), seed_latents(sg.architecture, 2, 3, None)
    mixed = mix(base, styles, ["fine"], sg.architecture, sg.generator)
    base_w = in_space(base, "w", sg.architecture, sg.generator).latents
    style_w = in_space(styles, "w", sg.architecture, sg.generator).latents
    assert mixed.latents.shape[0] == 6
    row, column = 1, 2
    code = mixed.latents[row * 3 + column]
    assert torch.equal(code[groups["fine"].start], style_w[column])
    assert torch.equal(code[groups["coarse"].start], base_w[row])

    out = tmp_path / "mixing"
    result = generate(run["sg"], "-n", "2", "--mix", "5,6,7", "--layers", "middle,fine", "--out", out)
    assert result.exit_code == 0, result.output
    assert len(list(out.glob("0*.png"))) == 3 + 2 * 4  # the style sources, then each base and its 3 mixes
    with Image.open(out / "mixing.png") as sheet:
        assert sheet.size == (4 * 16 + 3 * 2, 3 * 16 + 2 * 2)
    assert read_provenance(out / "000004.png").record["variant"]["mix"]["layers"] == ["middle", "fine"]


def test_style_mixing_by_resolution_takes_exactly_that_resolutions_layers(runs, tmp_path):
    _, run = runs
    sg = loaded(run["sg"])
    resolutions = sg.architecture.style_resolutions(sg.generator)
    assert resolutions == [4, 8, 8, 16, 16, 16]  # 16 px: one layer at 4 px, two above, the final ToRGB
    base, styles = seed_latents(sg.architecture, 1, 1, None), seed_latents(sg.architecture, 2, 1, None)
    base_w = in_space(base, "w", sg.architecture, sg.generator).latents[0]
    style_w = in_space(styles, "w", sg.architecture, sg.generator).latents[0]
    for layers, taken in ((["8px"], {1, 2}), (["8"], {1, 2}), (["4px", "16px"], {0, 3, 4, 5}), (["fine", "8px"],
                                                                                             {1, 2, 3, 4, 5})):
        code = mix(base, styles, layers, sg.architecture, sg.generator).latents[0]
        assert {i for i in range(6) if torch.equal(code[i], style_w)} == taken, layers
        assert all(torch.equal(code[i], base_w) for i in range(6) if i not in taken)
    out = tmp_path / "by-resolution"
    result = generate(run["sg"], "-n", "1", "--mix", "5", "--layers", "8px", "--out", out)
    assert result.exit_code == 0, result.output
    assert read_provenance(out / "000001.png").record["variant"]["mix"]["layers"] == ["8px"]
    refused = generate(run["sg"], "-n", "1", "--mix", "5", "--layers", "32px", "--out", tmp_path / "no")
    assert refused.exit_code == 2
    assert "--layers 32px: choose from coarse, middle, fine, 4px, 8px, 16px" in " ".join(refused.output.split())
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("name, space", [("sg", "w"), ("dc", "z")])
def test_directions_are_orthonormal_and_edits_move_images(runs, tmp_path, name, space):
    _, run = runs
    result = runner.invoke(app, ["directions", str(run[name]), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    found = read_directions(run[name] / "directions.safetensors")
    assert found.space == summary["space"] == space
    gram = found.directions @ found.directions.T
    assert torch.allclose(gram, torch.eye(len(gram)), atol=1e-4)
    assert (found.eigenvalues[:-1] >= found.eigenvalues[1:] - 1e-6).all()  # strongest first
    again = sefa(loaded(run[name]).architecture, loaded(run[name]).generator, None)
    assert torch.equal(again.directions, found.directions)  # deterministic, signs included

    plain, zero, moved = tmp_path / "plain", tmp_path / "zero", tmp_path / "moved"
    assert generate(run[name], "-n", "2", "--out", plain).exit_code == 0
    assert generate(run[name], "-n", "2", "--edit", "d0=0", "--out", zero).exit_code == 0
    (tmp_path / "p.yaml").write_text("steps:\n  - {kind: encode, format: jpeg}\n")
    result = generate(run[name], "-n", "2", "--edit", "d0=8", "--edit", "d1=-8", "--out", moved,
                      "--postprocess", tmp_path / "p.yaml")
    assert result.exit_code == 0, result.output
    assert np.array_equal(pixels(zero / "000001.png"), pixels(plain / "000001.png"))
    assert not np.array_equal(pixels(moved / "000001.jpg"), pixels(plain / "000001.png"))
    record = read_provenance(moved / "000001.jpg").record
    assert record["variant"]["edits"] == {"d0": 8.0, "d1": -8.0}


def test_directions_into_a_folder_of_their_own(runs, tmp_path):
    _, run = runs
    result = runner.invoke(app, ["directions", str(run["sg"]), "--out", str(tmp_path / "d")])
    assert result.exit_code == 0 and "Wrote 32 directions in w" in result.stdout
    hint = " ".join(result.stdout.split())  # a file outside the run directory must be named when applying them
    assert f"--directions {tmp_path / 'd' / 'directions.safetensors'} --edit d0=3" in hint
    manifest = json.loads((tmp_path / "d" / "manifest.json").read_text())
    assert manifest["files"][0]["path"] == "directions.safetensors" and manifest["command"] == "directions"
    run_id = json.loads((run["sg"] / "run.json").read_text())["run_id"]
    assert manifest["run"] == {"id": run_id, "dir": str(run["sg"]), "step": 2, "generator": "generator_ema",
                               "architecture": "stylegan-lite", "recipe_digest": manifest["run"]["recipe_digest"]}


def test_z_latents_of_another_run_only_with_any_run(runs, tmp_path):
    _, run = runs
    dc = loaded(run["dc"])
    this = json.loads((run["dc"] / "run.json").read_text())["run_id"]
    foreign = seed_latents(dc.architecture, 0, 2, "another-run")
    path = write_latents(tmp_path / "z.safetensors", foreign)
    result = generate(run["dc"], "--out", tmp_path / "no", "--latents", path)
    message = " ".join(result.stderr.split())
    assert result.exit_code == 2 and "z latents of run another-run, but this is run " + this in message
    assert "--any-run" in message and not (tmp_path / "no").exists()
    result = generate(run["dc"], "--out", tmp_path / "yes", "--latents", path, "--any-run")
    assert result.exit_code == 0, result.output
    assert read_provenance(tmp_path / "yes" / "000000.png").record["variant"]["any_run"] is True
    manifest = json.loads((tmp_path / "yes" / "manifest.json").read_text())
    assert manifest["run"]["id"] == this and manifest["variant"]["any_run"] is True
    # the same z through this run's generator: the numbers are used as they are
    again = loaded(run["dc"])
    with torch.no_grad():
        image = again.architecture.generate(again.generator, foreign.latents[:1])
    expected = image[0].add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.array_equal(pixels(tmp_path / "yes" / "000000.png"), expected.astype(int))
    sg = loaded(run["sg"])
    w_other = write_latents(tmp_path / "w.safetensors",
                            Latents(torch.randn(2, sg.architecture.config.w_dim), "w", "another-run", "stylegan-lite"))
    result = generate(run["sg"], "--out", tmp_path / "w", "--latents", w_other, "--any-run")
    assert result.exit_code == 2 and "not even with --any-run" in " ".join(result.stderr.split())


def test_bad_requests_exit_2_and_write_nothing(runs, tmp_path):
    root, run = runs
    assert runner.invoke(app, ["directions", str(run["sg"])]).exit_code == 0
    dc = loaded(run["dc"])
    dc_latents = write_latents(tmp_path / "dc.safetensors", seed_latents(dc.architecture, 0, 2, None))
    sg = loaded(run["sg"])
    w_other = write_latents(tmp_path / "other.safetensors",
                            Latents(torch.randn(2, sg.architecture.config.w_dim), "w", "another-run", "stylegan-lite"))
    w_wrong = write_latents(tmp_path / "wrong.safetensors",
                            Latents(torch.randn(2, 7), "w", None, "stylegan-lite"))
    (tmp_path / "junk.safetensors").write_bytes(b"not a file")
    cases = [
        (run["sg"], ["--latents", tmp_path / "missing.safetensors"], "does not exist"),
        (run["sg"], ["--latents", tmp_path / "junk.safetensors"], "is not a ganzoo latents file"),
        (run["sg"], ["--latents", dc_latents], "holds latents of a 'dcgan' generator"),
        (run["sg"], ["--latents", w_other], "w latents of run another-run"),
        (run["sg"], ["--latents", w_wrong], "of shape (7,) per image"),
        (run["dc"], ["--latents", w_other], "holds latents of a 'stylegan-lite' generator"),
        (run["dc"], ["--mix", "3"], "style mixing needs an architecture with a w+ space"),
        (run["sg"], ["--mix", "3", "--layers", "middling"], "--layers middling: choose from coarse, middle, fine"),
        (run["sg"], ["--edit", "d99=1"], "there is no direction 'd99'"),
        (run["sg"], ["--edit", "d0"], "give NAME=STRENGTH"),
        (run["sg"], ["--edit", "d0=nan"], "give NAME=STRENGTH"),
        (run["dc"], ["--edit", "d0=1", "--directions", run["sg"] / "directions.safetensors"],
         "not of this run"),
        (run["dc"], ["--edit", "d0=1", "--directions", tmp_path / "none.safetensors"], "does not exist"),
        (run["sg"], ["--interpolate", "1", "2", "--latents", dc_latents], "makes its own latents"),
        (run["sg"], ["--interpolate", "1", f"{dc_latents}:5"], "holds latents of a 'dcgan'"),
        (run["sg"], ["--interpolate", "1", "2", "--truncation", "1.5"], "between 0 and 1"),
    ]
    for run_dir, args, message in cases:
        out = tmp_path / "never"
        result = generate(run_dir, "--out", out, *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in " ".join(result.stderr.split()), (args, result.stderr)
        assert "Traceback" not in result.output and not out.exists(), args
    onnx = runner.invoke(app, ["generate", "--onnx", str(tmp_path / "x.onnx"), "--out", str(tmp_path / "o"),
                               "--edit", "d0=1"])
    assert onnx.exit_code == 2 and "need the run directory" in onnx.stderr


def test_sefa_on_an_architecture_without_latent_weights_is_refused():
    host = default_host()
    cls = host.architectures.get("sngan").obj
    architecture = cls(cls.Config(g_width=16, d_width=8, z_dim=16), ImageSpec(16, 3))
    from ganzoo.errors import UsageError
    with pytest.raises(UsageError, match="SeFa cannot find directions"):
        sefa(architecture, architecture.build_generator(), None)
