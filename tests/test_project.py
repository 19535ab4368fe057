"""`ganzoo project` and `ganzoo encoder train`: inverting real images into a run's latent space through inverter
plugins, the folder and manifest written, exact regeneration from the latents, determinism, clear refusals."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from ganzoo.cli import app
from ganzoo.export.latents import read_latents, synthesise
from ganzoo.host import default_host
from ganzoo.inversion.runview import open_run
from ganzoo.provenance import read_provenance
from tests.conftest import train_tiny_catalogue_runs

runner = CliRunner()

ARCHITECTURES = {"sg": "{kind: stylegan-lite, preset: tiny}",
                 "dc": "{kind: dcgan, width: 8, z_dim: 16, conditional: true}",
                 "sgc": "{kind: stylegan-lite, preset: tiny, conditional: true}"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    run_dirs = train_tiny_catalogue_runs(root, ARCHITECTURES)
    photos = root / "photos"
    photos.mkdir()
    for i, colour in enumerate(["red", "navy", "olive"]):  # non-square, one with transparency
        Image.new("RGBA" if i == 2 else "RGB", (40, 24 + 8 * i), colour).save(photos / f"p{i}.png")
    return root, run_dirs, photos


def project(*args):
    return runner.invoke(app, ["project", *map(str, args)])


def pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_project_writes_latents_reconstructions_and_scores(runs, tmp_path):
    _, run_dirs, photos = runs
    out = tmp_path / "out"
    result = project(run_dirs["sg"], photos, "--out", out, "--steps", 5, "--json")
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    assert manifest == json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "ganzoo-manifest-1" and manifest["command"] == "project"
    assert manifest["run"]["dir"] == str(run_dirs["sg"]) and manifest["run"]["generator"] == "generator_ema"
    assert manifest["run"]["architecture"] == "stylegan-lite" and manifest["features"]["kind"] == "discriminator"
    assert manifest["space"] == "w+" and manifest["count"] == 3 and manifest["inverter"]["kind"] == "optimize"
    assert manifest["inverter"]["config"]["steps"] == 5 and manifest["feature_space"] == "discriminator blocks"
    assert [row["name"] for row in manifest["images"]] == ["photos/p0.png", "photos/p1.png", "photos/p2.png"]
    assert all(np.isfinite(row["psnr"]) and row["feature_distance"] >= 0 for row in manifest["images"])
    latents = read_latents(out / "latents.safetensors")
    assert latents.space == "w+" and latents.latents.shape[:2] == (3, 6) and latents.kind == "stylegan-lite"
    assert latents.names == [row["name"] for row in manifest["images"]]
    # The latents regenerate the written reconstructions exactly, and the PSNR is theirs against the targets.
    run, _ = open_run(run_dirs["sg"], default_host(), torch.device("cpu"))
    with torch.no_grad():
        again = synthesise(run.architecture, run.generator, latents.latents, "w+")
    for i, row in enumerate(manifest["images"]):
        written = pixels(out / row["reconstruction"])
        assert np.array_equal(written, to_uint8(again[i]))
        target = pixels(out / row["target"]).astype(float)
        assert row["psnr"] == pytest.approx(10 * np.log10(255 ** 2 / ((written - target) ** 2).mean()), abs=1e-3)
        assert read_provenance(Image.open(out / row["reconstruction"])).ai_generated
    assert not read_provenance(Image.open(out / "targets" / "000000.png")).ai_generated
    # Prepared as the catalogue's images are: padded onto white, so the top rows of the wide red photo are white.
    assert pixels(out / "targets" / "000000.png")[0].min() == 255
    assert (out / "comparison.png").is_file()


def to_uint8(image: torch.Tensor) -> np.ndarray:
    return image.add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def test_same_seed_same_latents_and_without_noise_whatever_the_batch_size(runs, tmp_path):
    _, run_dirs, photos = runs
    for name, batch, noise in (("a", 3, 0.05), ("b", 3, 0.05), ("c", 3, 0), ("d", 1, 0)):
        assert project(run_dirs["sg"], photos, "--out", tmp_path / name, "--steps", 4, "--batch-size", batch,
                       "--space", "w", "-o", f"noise={noise}").exit_code == 0
    a, b, c, d = (read_latents(tmp_path / name / "latents.safetensors").latents for name in "abcd")
    assert a.shape == (3, 32) and torch.equal(a, b)
    assert torch.allclose(c, d, atol=1e-5)  # each image has its own parameters and its own share of the loss


def test_z_space_for_a_conditional_dcgan_needs_the_class(runs, tmp_path):
    _, run_dirs, photos = runs
    result = project(run_dirs["dc"], photos, "--out", tmp_path / "x", "--steps", 3)
    assert result.exit_code == 2 and "--class" in result.output and "t-shirt" in result.output
    result = project(run_dirs["dc"], photos, "--out", tmp_path / "z", "--steps", 3, "--class", "mug")
    assert result.exit_code == 0, result.output
    latents = read_latents(tmp_path / "z" / "latents.safetensors")
    assert latents.space == "z" and latents.latents.shape == (3, 16) and set(latents.labels) == {5}


@pytest.mark.parametrize("args, message", [
    (["--space", "w"], "offers z"),
    (["-o", "stepz=3"], "stepz"),
    (["--refine", "2"], "no 'refine_steps' option"),
    (["--inverter", "optimise"], "Did you mean 'optimize'"),
])
def test_bad_options_exit_2_naming_the_problem(runs, tmp_path, args, message):
    _, run_dirs, photos = runs
    result = project(run_dirs["dc"], photos, "--out", tmp_path / "o", "--class", "0", "--steps", 1, *args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "o" / "manifest.json").exists()


def test_bad_inputs_exit_2_and_keep_an_earlier_projection(runs, tmp_path):
    _, run_dirs, photos = runs
    (tmp_path / "broken.png").write_bytes(b"not an image")
    result = project(run_dirs["sg"], tmp_path / "broken.png", "--out", tmp_path / "o")
    assert result.exit_code == 2 and "cannot be read as an image" in result.output
    assert project(run_dirs["sg"], tmp_path / "missing.png", "--out", tmp_path / "o").exit_code == 2
    assert project(tmp_path, photos, "--out", tmp_path / "o").exit_code == 2  # not a run directory
    assert project(run_dirs["sg"], photos / "p0.png", "--out", tmp_path / "o", "--steps", 1).exit_code == 0
    before = (tmp_path / "o" / "manifest.json").read_bytes()
    result = project(run_dirs["sg"], photos, "--out", tmp_path / "o", "--steps", 1)
    assert result.exit_code == 2 and "--force" in result.output
    assert (tmp_path / "o" / "manifest.json").read_bytes() == before


def test_encoder_train_then_project_in_one_pass(runs, tmp_path):
    _, run_dirs, photos = runs
    result = runner.invoke(app, ["encoder", "train", str(run_dirs["sg"]), "--steps", 3, "-o", "width=4",
                                 "-o", "batch_size=4", "--real", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["space"] == "w+" and summary["real"] is True
    assert (run_dirs["sg"] / "inverters" / "encoder.safetensors").is_file()
    result = project(run_dirs["sg"], photos, "--out", tmp_path / "e", "--inverter", "encoder", "--refine", 2, "--json")
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    assert manifest["inverter"]["kind"] == "encoder" and manifest["space"] == "w+"
    assert manifest["inverter_info"][0]["refine_steps"] == 2
    # Trained for the stylegan run's generator: refused for any other.
    result = project(run_dirs["dc"], photos, "--out", tmp_path / "f", "--class", "0", "--inverter", "encoder",
                     "-o", f"weights={run_dirs['sg'] / 'inverters' / 'encoder.safetensors'}")
    assert result.exit_code == 2 and "was trained for run" in " ".join(result.output.split())
    result = runner.invoke(app, ["encoder", "train", str(run_dirs["sg"]), "--inverter", "optimize"])
    assert result.exit_code == 2 and "not trainable" in result.output


def test_domain_features_need_a_trained_extractor_then_serve_as_the_perceptual_space(runs, tmp_path, monkeypatch):
    _, run_dirs, photos = runs
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))
    result = project(run_dirs["sg"], photos, "--out", tmp_path / "d", "--steps", 2, "--features", "domain")
    message = " ".join(result.output.split())
    assert result.exit_code == 2 and f"ganzoo features train domain {run_dirs['sg']}" in message, result.output
    assert not (tmp_path / "d").exists()
    result = project(run_dirs["sg"], photos, "--out", tmp_path / "d", "--features", "inception")
    assert result.exit_code == 2 and "no feature maps" in " ".join(result.output.split())
    trained = runner.invoke(app, ["features", "train", "domain", str(run_dirs["sg"])])
    assert trained.exit_code == 0, trained.output
    result = project(run_dirs["sg"], photos, "--out", tmp_path / "d", "--steps", 2, "--features", "domain", "--json")
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    assert manifest["feature_space"] == "domain CNN" and manifest["features"]["kind"] == "domain"
    assert len(manifest["features"]["weights_sha256"]) == 64
    same = project(run_dirs["sg"], photos, "--out", tmp_path / "s", "--steps", 2, "--json")
    # another space, so other losses and other distances (the PSNR is measured the same way in both)
    assert json.loads(same.stdout)["mean_feature_distance"] != manifest["mean_feature_distance"]
    result = runner.invoke(app, ["encoder", "train", str(run_dirs["sg"]), "--steps", 2, "-o", "width=4",
                                 "-o", "batch_size=2", "--features", "domain", "--out", tmp_path / "e.safetensors",
                                 "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["features"]["space"] == "domain CNN"
    from ganzoo.fileio import read_safetensors
    assert read_safetensors(tmp_path / "e.safetensors")[1]["features"] == "domain CNN"


def test_domain_feature_maps_are_differentiable_and_per_image(tmp_path, monkeypatch):
    from ganzoo.api import ImageData
    from ganzoo_features.domain import DomainConfig, DomainExtractor
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path))
    g = torch.Generator().manual_seed(0)
    data = ImageData(torch.randint(0, 256, (24, 3, 16, 16), generator=g, dtype=torch.uint8))
    extractor = DomainExtractor(DomainConfig(epochs=1, batch_size=8), "cpu")
    extractor.train(data, log=lambda line: None)
    extractor.load(data)
    images = (torch.rand(3, 3, 16, 16, generator=g) * 2 - 1).requires_grad_(True)
    maps = extractor.feature_maps(images)
    assert [m.shape[-1] for m in maps] == [16, 8, 4, 2] and extractor.perceptual
    maps[-1].sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    alone = extractor.feature_maps(images[:1].detach())
    assert torch.allclose(alone[-1], maps[-1][:1].detach(), atol=1e-5)  # eval mode: no batch statistics


def test_a_conditional_encoder_starts_from_the_mean_w_of_the_image_class(runs, tmp_path):
    from ganzoo_inverters.encoder import _bases, _predict
    _, run_dirs, photos = runs
    result = runner.invoke(app, ["encoder", "train", str(run_dirs["sgc"]), "--steps", 2, "-o", "width=4",
                                 "-o", "batch_size=2", "--real"])
    assert result.exit_code == 0, result.output
    run, _ = open_run(run_dirs["sgc"], default_host(), torch.device("cpu"))
    bases = _bases(run, "w+")
    assert bases.shape == (6, 32) and not torch.allclose(bases[0], bases[5])
    offsets = lambda images: torch.zeros(len(images), 6, 32)  # noqa: E731 - an encoder that predicts no offset
    codes = _predict(offsets, bases, torch.zeros(2, 3, 16, 16), torch.tensor([5, 0]))
    assert torch.equal(codes[0, 3], bases[5]) and torch.equal(codes[1, 0], bases[0])
    result = project(run_dirs["sgc"], photos, "--out", tmp_path / "c", "--inverter", "encoder", "--class", "mug")
    assert result.exit_code == 0, result.output


class WrongShape:
    """A third-party plugin whose inverter returns one latent too few."""

    @staticmethod
    def make():
        from ganzoo.api import Inversion, Inverter, hookimpl

        class Short(Inverter):
            kind = "short"

            def invert(self, run, images, labels, progress):
                progress(1, 1)
                return Inversion(torch.zeros(len(images) - 1, run.architecture.z_dim), "z", labels)

        class Plugin:
            @hookimpl
            def ganzoo_register_inverters(self, register):
                register(Short)

        return Plugin()


def test_a_third_party_inverter_is_used_and_checked(runs, tmp_path, monkeypatch):
    from ganzoo.cli import inversion
    from ganzoo.host import create_host
    _, run_dirs, photos = runs
    host = create_host([WrongShape.make()])
    assert "short" in host.inverters and "optimize" in host.inverters
    monkeypatch.setattr(inversion, "plugin_host", lambda: host)
    result = project(run_dirs["sg"], photos, "--out", tmp_path / "s", "--inverter", "short")
    assert result.exit_code == 1 and "returned 2 latents in 'z' for 3 images" in " ".join(result.output.split())
    assert not (tmp_path / "s" / "manifest.json").exists()


def test_folder_dataset_prepares_a_file_as_it_loads_it(tmp_path):
    from ganzoo_datasets.folder import FolderConfig, FolderDataset
    Image.new("RGBA", (30, 20), (200, 10, 10, 128)).save(tmp_path / "a.png")
    Image.new("RGB", (16, 40), "teal").save(tmp_path / "b.jpg")
    for fit in ("pad", "crop"):
        dataset = FolderDataset(FolderConfig(path=tmp_path, fit=fit, background="#102030"), 16)
        loaded = dataset.load().images
        for i, name in enumerate(["a.png", "b.jpg"]):
            assert torch.equal(dataset.prepare_image(tmp_path / name), loaded[i])


def test_plugins_lists_the_first_party_inverters():
    records = json.loads(runner.invoke(app, ["plugins", "--json"]).stdout)
    record = next(r for r in records if r["distribution"] == "ganzoo-inverters")
    assert record["status"] == "loaded" and record["provides"] == {"inverter": ["optimize", "encoder"]}
    assert record["hooks"] == ["ganzoo_register_inverters"] and record["api"] == "1.3"
