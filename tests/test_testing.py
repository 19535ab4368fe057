"""ganzoo.testing's contract checks catch the mistakes they are for, and are pytest fixtures."""
import types

import pytest
import torch

import ganzoo.testing as testing
from ganzoo import losses
from ganzoo.api import DataCheck, Dataset, FeatureExtractor, ImageData, PluginConfig, PostProcessor, hookimpl
from ganzoo_dcgan import DCGAN


class Noisy(Dataset):
    kind = "noisy"

    def load(self):
        return ImageData(torch.randint(0, 256, (4, 3, self.resolution, self.resolution), dtype=torch.uint8))


class Fixed(Dataset):
    kind = "fixed"

    def load(self):
        return ImageData(torch.zeros(4, 3, 16, 16, dtype=torch.uint8))  # whatever the resolution


def test_check_dataset_catches_nondeterminism_and_wrong_size():
    with pytest.raises(AssertionError, match="two loads gave different images"):
        testing.check_dataset(Noisy)
    with pytest.raises(AssertionError, match="images are 16x16"):
        testing.check_dataset(Fixed, resolutions=(32,))


class Fibbing(Dataset):
    """Its cheap check promises classes that loading does not give."""
    kind = "fibbing"

    def load(self):
        return ImageData(torch.zeros(4, 3, self.resolution, self.resolution, dtype=torch.uint8))

    def check(self):
        return DataCheck(4, 3, ("a", "b"))


def test_check_dataset_holds_the_cheap_check_to_what_load_gives():
    with pytest.raises(AssertionError, match=r"check\(\) says 3 channel\(s\), classes \('a', 'b'\)"):
        testing.check_dataset(Fibbing)


class Counting(PostProcessor):
    """Keeps per-image state on self: fine on one thread, wrong on several."""

    kind = "counting"

    def __call__(self, image, meta):
        self.calls = getattr(self, "calls", 0) + 1
        return image.rotate(self.calls % 4 * 90)


class NotAnImage(PostProcessor):
    kind = "not-an-image"

    def __call__(self, image, meta):
        return image.tobytes()


def test_check_postprocessor_catches_state_on_self_and_wrong_return():
    with pytest.raises(AssertionError, match="several threads"):
        testing.check_postprocessor(Counting)
    with pytest.raises(AssertionError, match="returned bytes, not a PIL image"):
        testing.check_postprocessor(NotAnImage)


class BatchNormalised(FeatureExtractor):
    """Centres on the batch mean: an image's features depend on its neighbours."""

    kind = "batch-normalised"
    dims = 3

    def __call__(self, images):
        x = images.float().mean(dim=(2, 3)).expand(-1, 3)
        return x - x.mean(0)


def test_check_feature_extractor_catches_batch_dependence():
    with pytest.raises(AssertionError, match="depend on the rest of its batch"):
        testing.check_feature_extractor(BatchNormalised)


class OwnRNG(DCGAN):
    """Draws noise from a generator of its own, which a resume cannot restore."""

    kind = "own-rng"

    def __init__(self, config, image):
        super().__init__(config, image)
        self.rng = torch.Generator().manual_seed(0)

    def phases(self):
        def d_loss(x):
            out = self.discriminator_loss(x)
            out["loss"] = out["loss"] + 0.1 * torch.rand(1, generator=self.rng).squeeze()
            return out
        return [type(p)(p.name, p.trains, d_loss if p.trains == "discriminator" else p.loss) for p in super().phases()]


def test_check_resume_catches_state_outside_the_networks():
    testing.check_resume(DCGAN, {"width": 4, "z_dim": 8})
    with pytest.raises(AssertionError, match="differ"):
        testing.check_resume(OwnRNG, {"width": 4, "z_dim": 8})


class Backwards(DCGAN):
    """Its discriminator minimises the wrong loss: it learns to prefer fakes."""

    kind = "backwards"

    @staticmethod
    def discriminator_loss(x):
        fake = x.generator(x.z, x.fake_labels).detach()
        real_logits, fake_logits = x.discriminator(x.real, x.real_labels), x.discriminator(fake, x.fake_labels)
        return {"loss": losses.nonsaturating_d(fake_logits, real_logits),
                "real_score": real_logits.mean(), "fake_score": fake_logits.mean()}


def test_check_training_sanity_catches_a_discriminator_that_learns_backwards():
    with pytest.raises(AssertionError, match="discriminator"):
        testing.check_training_sanity(Backwards, {"width": 8, "z_dim": 16}, steps=20)


def test_check_architecture_holds_style_resolutions_to_num_ws():
    from ganzoo_stylegan_lite import StyleGANLite

    class OneShort(StyleGANLite):
        kind = "test-one-short"

        def style_resolutions(self, generator):
            return super().style_resolutions(generator)[:-1]

    testing.check_architecture(StyleGANLite, {"preset": "tiny"})
    with pytest.raises(AssertionError, match=r"style_resolutions gave 5 entries for 6 w\+ indices"):
        testing.check_architecture(OneShort, {"preset": "tiny"})


def test_check_plugin_needs_the_api_declaration_and_the_right_kinds():
    class Grey(PostProcessor):
        kind = "grey"

        def __call__(self, image, meta):
            return image.convert("L")

    plugin = types.ModuleType("grey_plugin")
    plugin.ganzoo_register_postprocessors = hookimpl(lambda register: register(Grey))
    with pytest.raises(AssertionError, match="does not declare the plugin API"):
        testing.check_plugin(plugin, {"postprocessor": ["grey"]})
    plugin.GANZOO_PLUGIN_API = "1.0"
    testing.check_plugin(plugin, {"postprocessor": ["grey"]})
    with pytest.raises(AssertionError, match="provides"):
        testing.check_plugin(plugin, {"postprocessor": ["gray"]})
    with pytest.raises(AssertionError, match="ganzoo-grey is not installed"):
        testing.check_plugin(plugin, {"postprocessor": ["grey"]}, distribution="ganzoo-grey")
    with pytest.raises(AssertionError, match="do not name grey_plugin"):
        testing.check_plugin(plugin, {"postprocessor": ["grey"]}, distribution="ganzoo-dcgan")


def test_every_check_refuses_a_config_that_accepts_unknown_fields():
    class Loose(PluginConfig):
        model_config = {"extra": "allow"}

    class LooseData(Fixed):
        kind = "loose"
        Config = Loose

    with pytest.raises(AssertionError, match="accepts unknown fields"):
        testing.check_dataset(LooseData)


def test_checks_are_fixtures(ganzoo_check_architecture, ganzoo_check_dataset, ganzoo_check_postprocessor,
                             ganzoo_check_feature_extractor):
    assert ganzoo_check_architecture is testing.check_architecture
    assert ganzoo_check_dataset is testing.check_dataset
    assert ganzoo_check_postprocessor is testing.check_postprocessor
    assert ganzoo_check_feature_extractor is testing.check_feature_extractor
