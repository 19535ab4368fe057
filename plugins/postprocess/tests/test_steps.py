"""Pixel-level tests of each post-processor, called as the pipeline calls them: step(image, meta)."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from pydantic import ValidationError

from ganzoo.api import GanzooError
from ganzoo_postprocess.encode import Encode, Provenance
from ganzoo_postprocess.geometry import CenterCrop, PadSquare, Resize
from ganzoo_postprocess.pixels import Sharpen, WhitenBackground
from ganzoo_postprocess.watermark import Watermark

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


def make(cls, **fields):
    return cls(cls.Config.model_validate(fields))


def meta(**extra):
    return {"run_id": "run-1", "kind": "dcgan", "seed": 0, "index": 3, "label": None, "class_name": None,
            "format": "png", "source": None, **extra}


def photo(width, height, mode="RGB", background=(246, 247, 245)):
    """Off-white noisy background with a dark product in the middle."""
    rng = np.random.default_rng(width * 7 + height)
    pixels = np.clip(np.array(background) + rng.integers(-3, 4, (height, width, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    ImageDraw.Draw(image).rectangle((width // 4, height // 4, 3 * width // 4, 3 * height // 4), fill=(150, 30, 40))
    return image.convert(mode)


def changed(a, b):
    """Mask of pixels that differ between two same-size images."""
    x, y = np.asarray(a.convert("RGBA")).astype(int), np.asarray(b.convert("RGBA")).astype(int)
    return np.any(x != y, axis=2)


# --------------------------------------------------------------------- resize

@pytest.mark.parametrize("size", [(1600, 1200), (600, 1400), (333, 997), (1001, 3), (17, 5), (1000, 1000), (999, 1000)])
def test_resize_longest_side_is_exact_and_keeps_aspect_within_one_pixel(size):
    w, h = size
    out = make(Resize, longest_side=1000, upscale=True)(Image.new("RGB", size), meta())
    assert max(out.size) == 1000
    scale = 1000 / max(w, h)
    assert abs(out.width - w * scale) <= 1 and abs(out.height - h * scale) <= 1


def test_resize_into_a_box_keeps_aspect():
    step = make(Resize, size=[800, 600])
    assert step(Image.new("RGB", (1600, 1600)), meta()).size == (600, 600)
    assert step(Image.new("RGB", (2000, 600)), meta()).size == (800, 240)


def test_resize_never_enlarges_unless_asked():
    small = photo(300, 200)
    assert make(Resize, longest_side=1000)(small, meta()) is small
    assert make(Resize, longest_side=1000, upscale=True)(small, meta()).size == (1000, 667)


def test_resize_filters_differ_and_alpha_survives():
    image = photo(300, 200, "RGBA")
    lanczos = make(Resize, longest_side=150)(image, meta())
    bicubic = make(Resize, longest_side=150, filter="bicubic")(image, meta())
    assert lanczos.size == bicubic.size == (150, 100) and lanczos.mode == "RGBA"
    assert changed(lanczos, bicubic).any()


def test_resize_needs_exactly_one_target():
    for fields in ({}, {"longest_side": 10, "size": [10, 10]}, {"longest_side": 0}, {"size": [10, 0]}):
        with pytest.raises(ValidationError):
            Resize.Config.model_validate(fields)


# ------------------------------------------------------------ pad and crop

@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA"])
def test_pad_square_corners_are_exactly_the_background_and_the_image_is_untouched(mode):
    image = photo(300, 120, mode)
    out = make(PadSquare, background="#f0e0d0")(image, meta())
    assert out.size == (300, 300)
    expected = {"RGB": (240, 224, 208), "L": (240, 224, 208), "RGBA": (240, 224, 208, 255)}[mode]
    for corner in [(0, 0), (299, 0), (0, 299), (299, 299)]:
        assert out.getpixel(corner) == expected
    pixels = np.asarray(out)
    assert (pixels[:90] == expected).all() and (pixels[210:] == expected).all()  # the whole band, not just corners
    middle = out.crop((0, 90, 300, 210))
    assert not changed(middle, image.convert(out.mode)).any()


def test_pad_square_on_grey_keeps_grey_images_grey_and_can_be_transparent():
    assert make(PadSquare, background="white")(photo(50, 20, "L"), meta()).mode == "L"
    out = make(PadSquare, background="#ffffff00")(photo(50, 20), meta())
    assert out.mode == "RGBA" and out.getpixel((0, 0))[3] == 0 and out.getpixel((25, 25))[3] == 255


def test_center_crop_to_a_size_pads_with_background_and_crops_the_centre():
    image = photo(300, 120)
    out = make(CenterCrop, size=200, background="black")(image, meta())
    assert out.size == (200, 200)
    assert (np.asarray(out)[:40] == 0).all() and (np.asarray(out)[160:] == 0).all()
    assert not changed(out.crop((0, 40, 200, 160)), image.crop((50, 0, 250, 120))).any()


def test_center_crop_to_an_aspect_ratio():
    image = photo(400, 300)
    out = make(CenterCrop, aspect="1:1")(image, meta())
    assert out.size == (300, 300) and not changed(out, image.crop((50, 0, 350, 300))).any()
    assert make(CenterCrop, aspect=2)(image, meta()).size == (400, 200)
    with pytest.raises(ValidationError, match="not a ratio"):
        CenterCrop.Config.model_validate({"aspect": "square"})


# ------------------------------------------------------------ pixels

def test_whiten_background_makes_near_white_border_regions_pure_white_only():
    image = photo(120, 100)
    draw = ImageDraw.Draw(image)
    draw.rectangle((40, 30, 80, 70), fill=(246, 246, 246))  # a white label *inside* the product stays as it is
    out = make(WhitenBackground)(image, meta())
    pixels, before = np.asarray(out), np.asarray(image)
    assert (pixels[:25] == 255).all() and (pixels[:, :30] == 255).all()
    assert (pixels[40:60, 50:70] == before[40:60, 50:70]).all()  # enclosed near-white: untouched
    assert (pixels[26:29, 31:89] == before[26:29, 31:89]).all()  # the product: untouched
    darker = make(WhitenBackground)(photo(60, 60, background=(230, 230, 230)), meta())
    assert darker.getpixel((0, 0)) != (255, 255, 255)  # below the threshold: not background
    assert make(WhitenBackground, threshold=220)(photo(60, 60, background=(230, 230, 230)), meta()).getpixel((0, 0)) \
        == (255, 255, 255)


def test_whiten_background_keeps_mode_and_alpha():
    grey = make(WhitenBackground)(photo(40, 40, "L"), meta())
    assert grey.mode == "L" and grey.getpixel((0, 0)) == 255
    rgba = photo(40, 40, "RGBA")
    rgba.putalpha(100)
    out = make(WhitenBackground)(rgba, meta())
    assert out.mode == "RGBA" and out.getpixel((0, 0)) == (255, 255, 255, 100)


def test_sharpen_raises_edge_contrast_and_leaves_flat_areas_and_alpha():
    image = Image.new("RGBA", (40, 40), (200, 200, 200, 180))
    ImageDraw.Draw(image).rectangle((20, 0, 39, 39), fill=(80, 80, 80, 180))
    out = make(Sharpen, radius=2, percent=150)(image, meta())
    assert out.getpixel((19, 20))[0] > 200 and out.getpixel((20, 20))[0] < 80  # overshoot on both sides of the edge
    assert out.getpixel((5, 20)) == (200, 200, 200, 180) and out.getpixel((35, 5)) == (80, 80, 80, 180)


# ------------------------------------------------------------ watermark

def bbox(mask):
    ys, xs = np.nonzero(mask)
    return xs.min(), ys.min(), xs.max(), ys.max()


def test_text_watermark_changes_only_its_region():
    image = photo(400, 300)
    step = make(Watermark, text="ACME", size=0.1, position="bottom-right", margin=0.05, color="black", opacity=1)
    out = step(image, meta())
    diff = changed(out, image)
    left, top, right, bottom = bbox(diff)
    assert out.size == image.size and out.mode == "RGB"
    assert right <= 400 - 15 and bottom <= 300 - 15  # margin: 5% of the shorter side
    assert left > 250 and top > 240 and bottom - top <= 0.1 * 300  # small, in the corner, 10% of the shorter side tall
    mark = step.mark(image.size)
    (x, y), = step.places(image.size, mark.size)
    assert x <= left and y <= top and right < x + mark.width and bottom < y + mark.height


@pytest.mark.parametrize("position,quadrant", [("top-left", (0, 0)), ("top-right", (1, 0)), ("bottom-left", (0, 1)),
                                               ("center", None)])
def test_watermark_positions(position, quadrant):
    image = photo(200, 200)
    diff = changed(make(Watermark, text="AB", position=position, size=0.15)(image, meta()), image)
    left, top, right, bottom = bbox(diff)
    if quadrant is None:
        assert left < 100 < right and top < 100 < bottom
    else:
        qx, qy = quadrant
        assert (right < 100 if qx == 0 else left > 100) and (bottom < 100 if qy == 0 else top > 100)


def test_logo_watermark_uses_its_alpha_and_opacity(tmp_path):
    logo = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    ImageDraw.Draw(logo).rectangle((10, 10, 29, 29), fill=(255, 0, 0, 255))
    logo.save(tmp_path / "logo.png")
    image = Image.new("RGB", (200, 100), "white")
    step = make(Watermark, logo=str(tmp_path / "logo.png"), size=0.4, opacity=0.5, position="center", margin=0)
    out = step(image, meta())
    assert out.getpixel((100, 50)) in [(255, 127, 127), (255, 128, 128)]  # half-opaque red on white
    diff = changed(out, image)
    left, top, right, bottom = bbox(diff)
    assert (right - left + 1, bottom - top + 1) == (20, 20)  # only the opaque square; the transparent border is no-op


def test_tiled_watermark_covers_the_image_with_a_custom_font():
    if not DEJAVU.exists():
        pytest.skip("DejaVu font not installed")
    image = photo(300, 300)
    out = make(Watermark, text="ganzoo", font=str(DEJAVU), tile=True, angle=30, size=0.05, spacing=0.5)(image, meta())
    diff = changed(out, image)
    for qx in (0, 150):
        for qy in (0, 150):
            assert diff[qy:qy + 150, qx:qx + 150].any()


def test_watermark_on_grey_and_transparent_images_keeps_their_mode():
    assert make(Watermark, text="x")(photo(100, 100, "L"), meta()).mode == "L"
    cut = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    out = make(Watermark, text="x", color="black", opacity=1, size=0.3)(cut, meta())
    assert out.mode == "RGBA" and out.getchannel("A").getextrema() == (0, 255)


def test_watermark_config_errors_name_the_problem(tmp_path):
    with pytest.raises(ValidationError, match="font file 'nope.ttf' does not exist"):
        Watermark.Config.model_validate({"text": "x", "font": "nope.ttf"})
    (tmp_path / "fake.ttf").write_text("not a font")
    with pytest.raises(ValidationError, match="cannot be loaded"):
        Watermark.Config.model_validate({"text": "x", "font": str(tmp_path / "fake.ttf")})
    with pytest.raises(ValidationError, match="logo file 'logo.png' does not exist"):
        Watermark.Config.model_validate({"logo": "logo.png"})
    with pytest.raises(ValidationError, match="'blurple' is not a colour"):
        Watermark.Config.model_validate({"text": "x", "color": "blurple"})
    with pytest.raises(ValidationError, match="exactly one of text"):
        Watermark.Config.model_validate({})
    with pytest.raises(ValidationError):
        Watermark.Config.model_validate({"text": "x", "size": 0})


# ------------------------------------------------------------ encode and provenance

def test_encode_jpeg_flattens_transparent_inputs_onto_the_background():
    cut = Image.new("RGBA", (20, 20), (0, 0, 255, 0))
    cut.paste((0, 0, 255, 255), (5, 5, 15, 15))
    m = meta(source={"transparent": True})
    out = make(Encode, format="jpg", quality=80, progressive=True)(cut, m)
    assert out.mode == "RGB" and out.getpixel((0, 0)) == (255, 255, 255) and out.getpixel((10, 10)) == (0, 0, 255)
    assert m["format"] == "jpeg" and m["save_options"]["quality"] == 80 and m["save_options"]["progressive"] is True


def test_encode_jpeg_refuses_transparency_an_earlier_step_made():
    padded = make(PadSquare, background="#ffffff00")(photo(30, 10), meta())
    with pytest.raises(GanzooError, match="jpeg cannot hold"):
        make(Encode, format="jpeg")(padded, meta())
    assert make(Encode, format="jpeg", alpha="flatten")(padded, meta()).mode == "RGB"
    assert make(Encode, format="webp")(padded, meta()).mode == "RGBA"


def test_encode_config_refuses_what_the_format_cannot_do():
    for fields, message in [({"format": "jpeg", "alpha": "keep"}, "cannot hold transparency"),
                            ({"format": "png", "quality": 80}, "quality applies to jpeg and webp only"),
                            ({"format": "webp", "progressive": True}, "progressive applies to jpeg only"),
                            ({"format": "gif"}, "format"),
                            ({"background": "#ffffff80"}, "opaque")]:
        with pytest.raises(ValidationError, match=message):
            Encode.Config.model_validate(fields)


def test_encode_keeps_or_strips_input_metadata():
    exif = Image.Exif()
    exif[0x0112], exif[0x010F] = 6, "CameraMaker"
    source = {"exif": exif.tobytes(), "xmp": b"<x:xmpmeta/>", "transparent": False}
    kept = meta(source=source)
    make(Encode, format="jpeg", metadata="keep", icc_profile=True)(photo(8, 8), kept)
    options = kept["save_options"]
    assert options["exif"][0x010F] == "CameraMaker" and options["exif"][0x0112] == 1  # pixels were turned upright
    assert options["xmp"] == b"<x:xmpmeta/>" and options["icc_profile"].startswith(b"\0")
    stripped = meta(source=source)
    make(Encode, format="jpeg")(photo(8, 8), stripped)
    assert "exif" not in stripped["save_options"] and "xmp" not in stripped["save_options"]


def test_provenance_step_builds_or_adjusts_the_record():
    m = meta(class_name="mug")
    make(Provenance, fields={"shop": "acme", "batch": 7})(photo(8, 8), m)
    record = m["provenance"]
    assert record["ai_generated"] is True and record["generator_kind"] == "dcgan" and record["run_id"] == "run-1"
    assert record["class_name"] == "mug" and record["shop"] == "acme" and record["batch"] == 7
    assert record["digital_source_type"].endswith("/trainedAlgorithmicMedia")
    make(Provenance, digital_source_type="compositeWithTrainedAlgorithmicMedia", generator="stylegan2")(photo(8, 8), m)
    assert m["provenance"]["digital_source_type"].endswith("/compositeWithTrainedAlgorithmicMedia")
    assert m["provenance"]["generator_kind"] == "stylegan2" and m["provenance"]["shop"] == "acme"  # kept
    with pytest.raises(ValidationError, match="part of the record"):
        Provenance.Config.model_validate({"fields": {"run_id": "forged"}})
