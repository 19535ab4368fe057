"""Export: images from the EMA generator go through the post-processing hook point."""
from PIL import Image

from ganzoo.api import PluginConfig, PostProcessor, hookimpl
from ganzoo.host import create_host
from ganzoo.recipe import resolve
from ganzoo.runner import run_recipe
from tests.conftest import SquaresPlugin, tiny_recipe


class BorderConfig(PluginConfig):
    pixels: int = 1


class Border(PostProcessor):
    kind = "test-border"
    Config = BorderConfig
    seen: list = []

    def __call__(self, image, meta):
        Border.seen.append(dict(meta))
        out = Image.new("RGB", (image.width + 2 * self.config.pixels,) * 2, "black")
        out.paste(image, (self.config.pixels, self.config.pixels))
        meta["format"] = "jpeg"
        meta["save_options"] = {"quality": 90}
        return out


class BorderPlugin:
    @hookimpl
    def ganzoo_register_postprocessors(self, register):
        register(Border)


def test_postprocess_chain_runs_in_order_and_picks_format(tmp_path):
    host = create_host([SquaresPlugin(), BorderPlugin()])
    recipe = tiny_recipe(tmp_path, steps=2)
    recipe["export"] = {"count": 3, "postprocess": [{"kind": "test-border", "pixels": 2}, {"kind": "test-border"}]}
    result = run_recipe(resolve(recipe, host), host)
    assert [p.name for p in result.exported] == ["000000.jpg", "000001.jpg", "000002.jpg"]
    with Image.open(result.exported[0]) as image:
        assert image.size == (16 + 4 + 2, 16 + 4 + 2) and image.format == "JPEG"
    # The pipeline was tried on a test image first; images may be processed in parallel, in any order.
    first = next(meta for meta in Border.seen if not meta.get("check") and meta["index"] == 0)
    assert first["kind"] == "dcgan" and first["seed"] == 3 and first["run_id"]


def test_export_is_reproducible_from_seed(tmp_path, host):
    recipe = tiny_recipe(tmp_path, steps=2)
    a = run_recipe(resolve(recipe, host), host).exported
    recipe["run"]["name"] = "again"
    b = run_recipe(resolve(recipe, host), host).exported
    # Same pixels; the files differ only in their provenance record (another run id).
    assert [Image.open(p).tobytes() for p in a] == [Image.open(p).tobytes() for p in b]
    recipe["export"]["provenance"] = False
    recipe["run"]["name"] = "unlabelled"
    c = run_recipe(resolve(recipe, host), host).exported
    recipe["run"]["name"] = "unlabelled-again"
    assert [p.read_bytes() for p in c] == [p.read_bytes() for p in run_recipe(resolve(recipe, host), host).exported]
