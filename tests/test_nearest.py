"""`ganzoo nearest`: chunked neighbours equal brute force, the memorisation figure, the command and its refusals."""
from __future__ import annotations

import json

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from ganzoo.api import ImageData
from ganzoo.cli import app
from ganzoo.metrics.copy_check import CopyCheckSettings, check_images
from ganzoo.metrics.nearest import memorisation, nearest, pixel_features, training_distances

runner = CliRunner()

RECIPE = """\
run: {{name: nn, output_dir: {out}, seed: 0, threads: 1}}
data: {{kind: catalogue, resolution: 16, size: 64}}
architecture: {{kind: dcgan, width: 8, z_dim: 16}}
train: {{steps: 2, batch_size: 16, log_every: 1, sample_every: 2, checkpoint_every: 2, grid_size: 4}}
export: {{count: 1}}
"""


@pytest.mark.parametrize("block", [3, 7, 2048])
def test_blocked_neighbours_equal_brute_force(block):
    g = torch.Generator().manual_seed(0)
    queries, refs = torch.randn(23, 5, generator=g), torch.randn(31, 5, generator=g)
    d, i = nearest(queries, refs, 4, block=block)
    expected_d, expected_i = torch.cdist(queries.double(), refs.double()).topk(4, dim=1, largest=False)
    assert torch.equal(i, expected_i)
    assert torch.allclose(d.double(), expected_d, atol=1e-4)
    # skip: a set against itself never finds each point itself
    d, i = nearest(refs, refs, 1, skip=torch.arange(len(refs)), block=block)
    full = torch.cdist(refs.double(), refs.double()).fill_diagonal_(float("inf"))
    assert torch.equal(i[:, 0], full.argmin(1)) and (d[:, 0] > 0).all()


def test_memorisation_counts_copies_and_not_fresh_draws():
    g = torch.Generator().manual_seed(1)
    training = torch.randn(400, 8, generator=g)
    baseline = training_distances(training, 200, seed=0)
    copies = nearest(training[:50] + 1e-4, training, 1)[0][:, 0]
    fresh = nearest(torch.randn(200, 8, generator=g), training, 1)[0][:, 0]
    assert memorisation(copies, baseline).share == 1.0
    fresh_share = memorisation(fresh, baseline, percentile=5).share
    assert fresh_share < 0.2  # about 5% for draws from the training distribution
    assert memorisation(fresh, baseline).to_dict()["expected_share_without_copying"] == 0.05


def test_pixel_distance_is_rms_per_value():
    black = torch.zeros(1, 3, 16, 16, dtype=torch.uint8)
    white = torch.full((1, 3, 16, 16), 255, dtype=torch.uint8)
    assert float(torch.dist(pixel_features(black), pixel_features(white))) == pytest.approx(1.0)


def test_copy_check_finds_the_copied_training_image():
    g = torch.Generator().manual_seed(2)
    data = ImageData(torch.randint(0, 256, (40, 3, 16, 16), generator=g, dtype=torch.uint8))
    generated = data.images[[7, 30]].clone()
    check = check_images(generated, ["a", "b"], data, CopyCheckSettings(k=3, extractor=None, training_sample=40),
                         None, {})
    (pixels,) = check.spaces
    assert pixels.indices[:, 0].tolist() == [7, 30] and pixels.distances[:, 0].max() < 1e-3
    assert pixels.memorisation.share == 1.0


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("nearest")
    (root / "r.yaml").write_text(RECIPE.format(out=root / "runs"))
    result = runner.invoke(app, ["run", str(root / "r.yaml")])
    assert result.exit_code == 0, result.output
    return root / "runs" / "nn"


def test_nearest_command_writes_sheets_summary_and_manifest(run_dir, tmp_path):
    out = tmp_path / "copy"
    result = runner.invoke(app, ["nearest", str(run_dir), "--out", str(out), "-n", "6", "--k", "3",
                                 "-o", "epochs=1", "-o", "batch_size=16", "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert set(record["spaces"]) == {"domain CNN", "pixels"}
    for space in record["spaces"].values():
        assert len(space["neighbours"]) == 6 and len(space["neighbours"][0]["training_index"]) == 3
        assert 0.0 <= space["memorisation"]["share"] <= 1.0
    manifest = json.loads((out / "manifest.json").read_text())
    names = {f["path"] for f in manifest["files"]}
    assert names == {"contact-sheet-domain-cnn.png", "contact-sheet-pixels.png", "nearest.json"}
    with Image.open(out / "contact-sheet-pixels.png") as sheet:
        assert sheet.width > 4 * 96 and sheet.height > 6 * 96  # 6 rows of generated + 3 neighbours
    assert json.loads((out / "nearest.json").read_text())["spaces"]["pixels"] == record["spaces"]["pixels"]


def test_nearest_on_a_folder_and_its_refusals(run_dir, tmp_path):
    folder = tmp_path / "gen"
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (16, 16), (i * 80, 40, 40)).save(folder / f"{i}.png")
    out = tmp_path / "o"
    result = runner.invoke(app, ["nearest", str(run_dir), "--images", str(folder), "--out", str(out), "-e", "none",
                                 "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert [n["image"] for n in record["spaces"]["pixels"]["neighbours"]] == ["0.png", "1.png", "2.png"]

    big = tmp_path / "big"
    big.mkdir()
    Image.new("RGB", (32, 32)).save(big / "x.png")
    cases = [(["--images", str(big)], "32x32 with 3 channel(s) but the training data is 16x16"),
             (["--images", str(tmp_path / "missing")], "does not exist"),
             (["--k", "500"], "has only 64 images"),
             (["-e", "no-such-extractor"], "no-such-extractor")]
    for args, message in cases:
        bad = runner.invoke(app, ["nearest", str(run_dir), "--out", str(tmp_path / "x"), "-e", "none", "-n", "2",
                                  *args[:2], *args[2:]] if args[0] != "-e" else
                            ["nearest", str(run_dir), "--out", str(tmp_path / "x"), "-n", "2", *args])
        assert bad.exit_code == 2, (args, bad.output)
        assert message in " ".join(bad.stderr.split()), (args, bad.stderr)
        assert "Traceback" not in bad.output
    not_run = runner.invoke(app, ["nearest", str(tmp_path), "--out", str(tmp_path / "x")])
    assert not_run.exit_code == 2 and "is not a run directory" in not_run.stderr
