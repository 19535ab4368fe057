"""Export pipelines as a user meets them: `ganzoo run` / `generate --postprocess` / `postprocess` / `inspect`.

Uses the first-party ganzoo-postprocess plugin (installed from plugins/postprocess).
"""
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from ganzoo.cli import app
from ganzoo.export.pipeline import check_pipeline, load_pipeline, probe_images, run_parallel, save_image
from ganzoo.host import default_host
from ganzoo.provenance import provenance_record, read_provenance

runner = CliRunner()

PIPELINE = """\
steps:
  - kind: preset
    name: marketplace-white-1000
  - kind: watermark
    text: "ACME"
    size: 0.05
    color: black
    opacity: 1
"""

RECIPE = """\
run: {{name: pp, output_dir: {out}, seed: 0, threads: 1}}
data: {{kind: catalogue, resolution: 16, size: 32}}
architecture: {{kind: dcgan, width: 8, z_dim: 16}}
train: {{steps: 2, batch_size: 8, log_every: 1, sample_every: 2, checkpoint_every: 2, grid_size: 4}}
export:
  count: 2
  workers: 2
  postprocess:
    - {{kind: preset, name: marketplace-white-1000}}
    - {{kind: watermark, text: ACME, color: black, opacity: 1}}
"""


def assert_catalogue_ready(path):
    """A 1000 px white square JPEG with a watermark in its bottom-right corner."""
    with Image.open(path) as image:
        assert image.format == "JPEG" and image.size == (1000, 1000) and image.mode == "RGB"
        pixels = np.asarray(image).astype(int)
    # A white border of 40 px all round (JPEG may round by a step), the product inside it...
    assert pixels[:40].min() >= 250 and pixels[:, :40].min() >= 250 and pixels[:900, -40:].min() >= 250
    assert pixels[960:, :500].min() >= 250 and pixels[980:].min() >= 250
    assert pixels[960:975, 600:].min() < 100  # ...but for the black watermark text, 30 px above the bottom right


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("pp")
    (root / "r.yaml").write_text(RECIPE.format(out=root / "runs"))
    result = runner.invoke(app, ["run", str(root / "r.yaml")])
    assert result.exit_code == 0, result.output
    (root / "pipeline.yaml").write_text(PIPELINE)
    return root, root / "runs" / "pp"


def test_run_exports_white_square_jpegs_with_watermark_and_provenance(trained):
    root, run_dir = trained
    files = sorted((run_dir / "export").iterdir())
    assert [f.name for f in files] == ["000000.jpg", "000001.jpg"]
    info = json.loads((run_dir / "run.json").read_text())
    for index, path in enumerate(files):
        assert_catalogue_ready(path)
        found = read_provenance(path)
        assert found.found_in == ["xmp", "exif"] and found.ai_generated
        record = found.record
        assert (record["run_id"], record["generator_kind"], record["seed"], record["index"]) == \
            (info["run_id"], "dcgan", 0, index)
        assert record["recipe_digest"] == info["recipe_digest"] and "class_name" in record
        assert found.digital_source_type == "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def test_generate_with_a_pipeline_file_and_inspect(trained):
    root, run_dir = trained
    out = root / "gen"
    result = runner.invoke(app, ["generate", str(run_dir), "-n", "3", "--out", str(out), "--seed", "5",
                                 "--postprocess", str(root / "pipeline.yaml"), "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["000000.jpg", "000001.jpg", "000002.jpg"]
    assert_catalogue_ready(out / "000002.jpg")
    shown = runner.invoke(app, ["inspect", str(out / "000002.jpg"), "--json"])
    assert shown.exit_code == 0
    facts = json.loads(shown.stdout)
    assert facts["ai_generated"] and facts["record"]["seed"] == 5 and facts["record"]["index"] == 2
    assert facts["record"]["recipe_digest"] == json.loads((run_dir / "run.json").read_text())["recipe_digest"]
    table = runner.invoke(app, ["inspect", str(out / "000002.jpg")])
    assert table.exit_code == 0 and "AI-generated" in table.stdout and "dcgan" in table.stdout

    # --no-provenance: no label at all; the pixels are the same (same seed).
    plain = root / "plain"
    assert runner.invoke(app, ["generate", str(run_dir), "-n", "1", "--out", str(plain), "--seed", "5",
                               "--no-provenance", "--postprocess", str(root / "pipeline.yaml")]).exit_code == 0
    assert read_provenance(plain / "000000.jpg").record is None
    assert json.loads(runner.invoke(app, ["inspect", str(plain / "000000.jpg"),
                                          "--json"]).stdout)["ai_generated"] is False
    with Image.open(plain / "000000.jpg") as a, Image.open(out / "000000.jpg") as b:
        assert a.tobytes() == b.tobytes()


def test_generate_with_a_bad_pipeline_writes_nothing(trained):
    root, run_dir = trained
    bad = root / "bad.yaml"
    bad.write_text("- {kind: center_crop, size: 40, background: '#ffffff00'}\n- {kind: encode, format: jpeg}\n")
    result = runner.invoke(app, ["generate", str(run_dir), "--out", str(root / "never"), "--postprocess", str(bad)])
    assert result.exit_code == 2 and "steps.1 (encode)" in result.stderr and "jpeg cannot hold" in result.stderr
    assert not (root / "never").exists()


def test_validate_tries_the_export_pipeline(trained, tmp_path):
    root, _ = trained
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.format(out=tmp_path / "runs").replace("text: ACME", "text: ACME, font: missing.ttf"))
    result = runner.invoke(app, ["validate", str(recipe)])
    assert result.exit_code == 2 and "export.postprocess.1.font" in result.stderr and "missing.ttf" in result.stderr
    result = runner.invoke(app, ["run", str(recipe)])
    assert result.exit_code == 2 and not (tmp_path / "runs").exists()


# ------------------------------------------------------------------ folders of ordinary photos

def make_photos(folder):
    """Photo-like images of different sizes, aspects and modes, one upright only through EXIF."""
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)

    def photo(w, h, colour):
        pixels = np.clip(244 + rng.integers(-4, 5, (h, w, 3)), 0, 255).astype(np.uint8)
        image = Image.fromarray(pixels)
        ImageDraw.Draw(image).ellipse((w // 5, h // 5, 4 * w // 5, 4 * h // 5), fill=colour)
        return image

    photo(480, 320, (170, 30, 30)).save(folder / "wide.jpg", quality=92)
    photo(200, 500, (30, 140, 60)).save(folder / "tall.png")
    photo(300, 200, (90, 90, 90)).convert("L").save(folder / "sub" / "grey.png")
    cut = Image.new("RGBA", (400, 300), (0, 0, 0, 0))
    ImageDraw.Draw(cut).rectangle((100, 50, 300, 250), fill=(20, 90, 200, 255))
    cut.save(folder / "cutout.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: shown turned 90 degrees clockwise
    photo(600, 200, (120, 40, 160)).save(folder / "sub" / "sideways.jpg", exif=exif)


def test_postprocess_makes_a_folder_of_photos_catalogue_ready(tmp_path):
    make_photos(tmp_path / "in")
    (tmp_path / "p.yaml").write_text(PIPELINE)
    result = runner.invoke(app, ["postprocess", str(tmp_path / "in"), str(tmp_path / "out"),
                                 "--pipeline", str(tmp_path / "p.yaml"), "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert "Wrote 5 images (5 jpg)" in result.stdout
    outputs = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.jpg"))
    assert outputs == ["cutout.jpg", "sub/grey.jpg", "sub/sideways.jpg", "tall.jpg", "wide.jpg"]
    for name in outputs:
        assert_catalogue_ready(tmp_path / "out" / name)
        assert read_provenance(tmp_path / "out" / name).record is None  # ordinary photos are not labelled AI
    with Image.open(tmp_path / "out" / "sub" / "sideways.jpg") as image:
        ys, xs = np.nonzero(np.asarray(image.convert("L")) < 200)
        xs, ys = xs[ys < 880], ys[ys < 880]  # leave out the watermark
        assert ys.max() - ys.min() > 2 * (xs.max() - xs.min())  # turned upright: the product is tall now
    with Image.open(tmp_path / "out" / "cutout.jpg") as image:
        assert image.getpixel((500, 100)) == (255, 255, 255)  # transparency flattened onto white


def test_postprocess_carries_provenance_of_generated_inputs(tmp_path):
    (tmp_path / "in").mkdir()
    meta = {"kind": "dcgan", "run_id": "run-7", "seed": 3, "index": 9, "format": "png"}
    save_image(Image.new("RGB", (64, 64), "white"), tmp_path / "in" / "a.png",
               {**meta, "provenance": provenance_record(meta)})
    (tmp_path / "p.yaml").write_text("- {kind: resize, longest_side: 32}\n- {kind: encode, format: webp}\n")
    assert runner.invoke(app, ["postprocess", str(tmp_path / "in"), str(tmp_path / "out"), "-p",
                               str(tmp_path / "p.yaml")]).exit_code == 0
    record = read_provenance(tmp_path / "out" / "a.webp").record
    assert record["run_id"] == "run-7" and record["index"] == 9
    assert runner.invoke(app, ["postprocess", str(tmp_path / "in"), str(tmp_path / "out2"), "-p",
                               str(tmp_path / "p.yaml"), "--no-provenance"]).exit_code == 0
    assert read_provenance(tmp_path / "out2" / "a.webp").record is None


BAD_PIPELINES = {
    "missing font": ("- {kind: watermark, text: x, font: no-such-font.ttf}", "steps.0.font (line 1): font file"),
    "missing logo": ("- {kind: watermark, logo: no-logo.png}", "logo file 'no-logo.png' does not exist"),
    "bad colour": ("- {kind: pad_square, background: blurple}", "'blurple' is not a colour"),
    "size 0": ("- {kind: resize, longest_side: 0}", "steps.0.longest_side (line 1): got 0"),
    "crop 0": ("- {kind: center_crop, size: [0, 10]}", "steps.0.size"),
    "jpeg with alpha": ("- {kind: encode, format: jpeg, alpha: keep}", "cannot hold transparency"),
    "transparent pad in jpeg": ("- {kind: pad_square, background: '#0000'}\n- {kind: encode, format: jpeg}",
                                "steps.1 (encode) cannot work on a 48x64 RGB test image"),
    "unknown kind": ("- {kind: watermarks, text: x}", "Did you mean 'watermark'?"),
    "unknown preset": ("- {kind: preset, name: amazon}", "unknown preset 'amazon'"),
    "not a list": ("resize: 10", "must be a list of steps"),
}


@pytest.mark.parametrize("case", list(BAD_PIPELINES))
def test_bad_pipelines_fail_before_writing_anything(tmp_path, case):
    text, message = BAD_PIPELINES[case]
    make_photos(tmp_path / "in")
    (tmp_path / "p.yaml").write_text(text + "\n")
    result = runner.invoke(app, ["postprocess", str(tmp_path / "in"), str(tmp_path / "out"), "-p",
                                 str(tmp_path / "p.yaml")])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.split()) and "p.yaml" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_bad_inputs_fail_before_writing_anything(tmp_path):
    make_photos(tmp_path / "in")
    (tmp_path / "p.yaml").write_text("- {kind: resize, longest_side: 10}\n")
    (tmp_path / "in" / "broken.jpg").write_bytes(b"not a jpeg")
    args = ["postprocess", str(tmp_path / "in"), str(tmp_path / "out"), "-p", str(tmp_path / "p.yaml")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "broken.jpg" in result.stderr and not (tmp_path / "out").exists()
    (tmp_path / "in" / "broken.jpg").unlink()
    Image.new("RGB", (4, 4)).save(tmp_path / "in" / "wide.png")  # wide.jpg and wide.png: same output name
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "rename one" in result.stderr and not (tmp_path / "out").exists()
    result = runner.invoke(app, [*args[:2], str(tmp_path / "in" / "out"), *args[3:]])
    assert result.exit_code == 1 and "inside the input folder" in result.stderr


# ------------------------------------------------------------------ the machinery underneath

PIPELINE_FILES = sorted((Path(__file__).resolve().parents[1] / "recipes" / "pipelines").glob("*.yaml"))


@pytest.mark.parametrize("path", PIPELINE_FILES, ids=lambda p: p.name)
def test_every_shipped_pipeline_loads_and_works(path):
    pipeline = load_pipeline(path, default_host())
    check_pipeline(pipeline, probe_images(["RGB", "RGBA", "L"]), {}, provenance=True, files=True)


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_provenance_round_trips_through_every_format(tmp_path, fmt):
    meta = {"kind": "dcgan", "run_id": "run-ü", "seed": 11, "index": 4, "class_name": "mug", "recipe_digest": "ab12",
            "format": fmt, "save_options": {"quality": 90} if fmt != "png" else {}}
    record = provenance_record(meta, shop="acme")
    path = tmp_path / f"x.{fmt}"
    save_image(probe_images(["RGB"])[0], path, {**meta, "provenance": record})
    found = read_provenance(path)
    assert found.record == record and found.ai_generated
    assert set(found.found_in) == ({"png-text", "xmp"} if fmt == "png" else {"xmp", "exif"})
    assert "AI-generated" in found.description and "mug" in found.description
    with Image.open(path) as image:
        assert image.format == fmt.upper()


def test_parallel_export_is_bounded_and_matches_one_worker(tmp_path):
    pulled, finished, most = [0], [0], [0]
    lock = threading.Lock()

    def tasks():
        for i in range(40):
            pulled[0] += 1
            most[0] = max(most[0], pulled[0] - finished[0])
            yield lambda i=i: (time.sleep(0.001), i)[1]

    results = []

    def done(i):
        with lock:
            finished[0] += 1
            results.append(i)

    run_parallel(tasks(), 3, done)
    assert sorted(results) == list(range(40)) and most[0] <= 2 * 3 + 1  # streamed: never all 40 in flight
