"""Presets are data: bundled YAML files, user folders and files, overrides; and the plugin registers every kind."""
import numpy as np
import pytest
from PIL import Image, ImageDraw
from pydantic import ValidationError

import ganzoo_postprocess.plugin as plugin
from ganzoo.host import create_host
from ganzoo_postprocess.presets import STEPS, Preset, available_presets


def preset(**fields):
    return Preset(Preset.Config.model_validate(fields))


def meta(**extra):
    return {"run_id": "r", "kind": "dcgan", "seed": 0, "index": 0, "label": None, "class_name": None,
            "format": "png", "source": None, **extra}


def test_plugin_registers_every_kind_through_the_hook():
    host = create_host([plugin], entry_points=False)
    assert host.postprocessors.kinds() == sorted([*STEPS, "preset"])
    assert {"resize", "pad_square", "center_crop", "whiten_background", "watermark", "sharpen", "encode",
            "provenance"} <= set(STEPS)


def test_marketplace_white_1000_makes_a_pure_white_1000_square_jpeg():
    image = Image.new("RGB", (320, 200), (247, 246, 248))
    ImageDraw.Draw(image).ellipse((60, 20, 260, 180), fill=(30, 110, 60))
    m = meta()
    out = preset(name="marketplace-white-1000")(image, m)
    assert out.size == (1000, 1000) and out.mode == "RGB"
    assert m["format"] == "jpeg" and m["save_options"]["quality"] == 90
    pixels = np.asarray(out)
    assert (pixels[:40] == 255).all() and (pixels[-40:] == 255).all() and (pixels[:, :40] == 255).all()
    assert (pixels[:250] == 255).all()  # the off-white photo background became pure white too
    product = np.nonzero(np.any(pixels != 255, axis=2))
    assert product[1].max() - product[1].min() + 1 <= 920  # the product fills 92% of the frame at most


def test_every_bundled_preset_loads_and_runs():
    names = {n for n, f in available_presets().items() if "ganzoo_postprocess" in str(f)}
    assert {"marketplace-white-1000", "marketplace-white-2000", "web-webp-800", "thumbnail-square-300"} <= names
    for name in names:
        m = meta()
        out = preset(name=name)(Image.new("RGBA", (120, 80), (200, 10, 10, 255)), m)
        assert out.width > 0 and m["format"] in ("jpeg", "png", "webp"), name


def test_unknown_preset_lists_what_exists_and_suggests():
    with pytest.raises(ValidationError, match="did you mean 'marketplace-white-1000'.*available: .*web-webp-800"):
        Preset.Config.model_validate({"name": "marketplace-white-100"})
    with pytest.raises(ValidationError, match="exactly one of name"):
        Preset.Config.model_validate({})


def test_set_overrides_fields_of_a_preset_step():
    m = meta()
    out = preset(name="marketplace-white-1000", set={"encode.quality": 70, "center_crop.size": 500,
                                                      "resize.longest_side": 460})(Image.new("RGB", (40, 20)), m)
    assert out.size == (500, 500) and m["save_options"]["quality"] == 70
    with pytest.raises(ValidationError, match="step 3 \\(encode\\): quality"):
        Preset.Config.model_validate({"name": "marketplace-white-1000", "set": {"encode.quality": 0}})
    with pytest.raises(ValidationError, match="KIND.FIELD naming one of"):
        Preset.Config.model_validate({"name": "marketplace-white-1000", "set": {"watermark.text": "x"}})


USER_PRESET = """\
description: my shop
steps:
  - kind: resize
    longest_side: 64
    upscale: true
  - kind: encode
    format: webp
"""


def test_user_presets_from_a_folder_or_a_file_shadow_bundled_ones(tmp_path, monkeypatch):
    folder = tmp_path / "presets"
    folder.mkdir()
    (folder / "my-shop.yaml").write_text(USER_PRESET)
    (folder / "marketplace-white-1000.yaml").write_text(USER_PRESET)
    monkeypatch.setenv("GANZOO_PRESET_PATH", str(folder))
    for fields in ({"name": "my-shop"}, {"name": "marketplace-white-1000"}, {"path": str(folder / "my-shop.yaml")}):
        m = meta()
        assert preset(**fields)(Image.new("RGB", (32, 16)), m).size == (64, 32) and m["format"] == "webp"
    monkeypatch.setenv("GANZOO_PRESET_PATH", "")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "ganzoo").mkdir()
    folder.rename(tmp_path / "ganzoo" / "presets")
    assert "my-shop" in available_presets()


@pytest.mark.parametrize("text,message", [
    ("steps: [{kind: resize, longest_side: 0}]", "step 0 \\(resize\\): longest_side"),
    ("steps: [{kind: preset, name: x}]", "kind 'preset' is not one a preset can use"),
    ("steps: [{kind: resise}]", "did you mean 'resize'"),
    ("- kind: resize", "must be a mapping with a 'steps' list"),
    ("steps: [", "cannot be read"),
])
def test_bad_preset_files_are_explained(tmp_path, text, message):
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(ValidationError, match=message):
        Preset.Config.model_validate({"path": str(tmp_path / "bad.yaml")})


def test_every_step_and_field_is_documented():
    from pathlib import Path
    reference = Path(__file__).resolve().parents[3] / "docs" / "postprocess.md"
    if not reference.exists():
        pytest.skip("not in the ganzoo source tree")
    text = reference.read_text()
    for cls in [*STEPS.values(), Preset]:
        section = text.split(f"### {cls.kind}\n", 1)
        assert len(section) == 2, f"docs/postprocess.md has no '### {cls.kind}' section"
        body = section[1].split("\n### ", 1)[0]
        for name in cls.Config.model_fields:
            assert f"| `{name}` |" in body, f"docs/postprocess.md does not document {cls.kind}.{name}"
    for name, file in available_presets().items():
        if "ganzoo_postprocess" in str(file):
            assert f"| `{name}` |" in text, f"docs/postprocess.md does not list the preset {name}"
