"""Tests of the first-party datasets. Fast: small sizes, tiny temp folders, the test split only."""
from __future__ import annotations

import gzip
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganzoo.api import Dataset, GanzooError, GanzooWarning, PluginConfig
from ganzoo_datasets import plugin
from ganzoo_datasets.catalogue import CATEGORIES, CatalogueDataset
from ganzoo_datasets.fashion_mnist import FashionMNISTDataset
from ganzoo_datasets.folder import FolderDataset

# This file is <repo>/plugins/datasets/tests/; the shared data folder sits beside the repo.
REPO = next(p for p in Path(__file__).resolve().parents if (p / "plugins").is_dir())
FASHION = REPO.parent / "shared" / "data" / "fashion-mnist"
needs_fashion = pytest.mark.skipif(not (FASHION / "t10k-images-idx3-ubyte.gz").is_file(),
                                   reason=f"no Fashion-MNIST copy at {FASHION}")


def load(cls: type[Dataset], resolution: int, **config):
    return cls(cls.Config(**config), resolution).load()


# ------------------------------------------------------------------ plugin


def test_plugin_registers_three_datasets():
    registered = []
    plugin.ganzoo_register_datasets(register=registered.append)
    assert [c.kind for c in registered] == ["catalogue", "folder", "fashion-mnist"]
    for cls in registered:
        assert issubclass(cls, Dataset) and issubclass(cls.Config, PluginConfig)
        assert cls.description and "\n" not in cls.description
        assert all(f.description for f in cls.Config.model_fields.values())


# --------------------------------------------------------------- catalogue


def test_catalogue_is_deterministic_and_prefix_stable():
    a = load(CatalogueDataset, 32, size=12, seed=0)
    assert torch.equal(a.images, load(CatalogueDataset, 32, size=12, seed=0).images)
    assert not torch.equal(a.images, load(CatalogueDataset, 32, size=12, seed=1).images)
    assert not torch.equal(load(CatalogueDataset, 32, size=6, seed=-1).images,
                           load(CatalogueDataset, 32, size=6, seed=1).images)
    assert torch.equal(a.images[:6], load(CatalogueDataset, 32, size=6, seed=0).images)


@pytest.mark.parametrize("resolution", [16, 32, 64, 256, 512])
def test_catalogue_shapes_range_and_white_background(resolution):
    data = load(CatalogueDataset, resolution, size=24)
    assert data.images.shape == (24, 3, resolution, resolution) and data.images.dtype == torch.uint8
    assert data.labels.dtype == torch.int64 and data.class_names == CATEGORIES
    assert int(data.images.min()) < 100 and int(data.images.max()) == 255
    corners = data.images[:, :, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert (corners == 255).all(dim=(1, 2)).float().mean() >= 0.9
    # Every image has a product in it: a good share of non-white pixels.
    drawn = (data.images < 250).any(dim=1).float().mean(dim=(1, 2))
    assert (drawn > 0.1).all()


def test_catalogue_labels_are_balanced_and_subsets_work():
    data = load(CatalogueDataset, 16, size=60)
    assert len(CATEGORIES) >= 6
    assert torch.bincount(data.labels).tolist() == [60 // len(CATEGORIES)] * len(CATEGORIES)
    subset = load(CatalogueDataset, 16, size=5, categories=["Mug", "dress"])
    assert subset.class_names == ("mug", "dress") and subset.labels.tolist() == [0, 1, 0, 1, 0]


@pytest.mark.parametrize("categories", [["mug", "teapot"], [], ["mug", "mug"]])
def test_catalogue_bad_categories_name_the_valid_ones(categories):
    with pytest.raises(ValueError, match="t-shirt, trousers, dress, sneaker, handbag, mug"):
        CatalogueDataset.Config(categories=categories)


@pytest.mark.parametrize("resolution", [8, 15, 513, 1024])
def test_catalogue_refuses_unsupported_resolutions(resolution):
    with pytest.raises(GanzooError, match="16 to 512"):
        load(CatalogueDataset, resolution, size=1)


@pytest.mark.parametrize("resolution, size, digest", [
    (16, 12, "504ede377a15b407803c7f419bfde6deb476485648f2ac057efcae97521b7136"),
    (32, 12, "1fa48aa36e0cc5dd46b77007ab72341788fb76692e65a47f0ba5d569bfca0c19"),
    (128, 6, "c374269c2a1ca7b9966809e5afaeba190ff5d0faf854c0438e48662040a3f012")])
def test_catalogue_images_up_to_128_px_stay_as_they_were(resolution, size, digest):
    """Recorded runs and their data hashes rely on these pixels (a Pillow upgrade may move them too)."""
    assert load(CatalogueDataset, resolution, size=size).content_hash() == digest


def test_catalogue_at_512_px_is_the_same_product_with_detail_of_its_own():
    """Not an upscaled small image: the same silhouette as at 128 px, but far more fine structure inside."""
    import torch.nn.functional as F
    big, small = load(CatalogueDataset, 512, size=6).images.float(), load(CatalogueDataset, 128, size=6).images.float()
    shrunk = F.avg_pool2d(big, 4)
    a, b = (shrunk < 250).any(1), (small < 250).any(1)
    assert (a & b).sum() / (a | b).sum() > 0.9
    upscaled = F.interpolate(small, scale_factor=4, mode="bicubic")

    def fine_structure(images):  # mean absolute Laplacian over the product's pixels
        lap = (4 * images[..., 1:-1, 1:-1] - images[..., :-2, 1:-1] - images[..., 2:, 1:-1]
               - images[..., 1:-1, :-2] - images[..., 1:-1, 2:]).abs().mean(1)
        return lap[(big[..., 1:-1, 1:-1] < 250).any(1)].mean()

    assert fine_structure(big) > 2 * fine_structure(upscaled)


def test_catalogue_config_is_strict():
    with pytest.raises(ValueError):
        CatalogueDataset.Config(size=0)
    with pytest.raises(ValueError):
        CatalogueDataset.Config(sise=10)


# ------------------------------------------------------------------ folder


def save(path: Path, image: Image.Image) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


@pytest.fixture
def classes(tmp_path: Path) -> Path:
    """Two class folders: a wide red PNG, an RGBA PNG, a JPEG, a nested grey PNG and a corrupt file."""
    save(tmp_path / "cats" / "wide.png", Image.new("RGB", (40, 20), (255, 0, 0)))
    save(tmp_path / "cats" / "clear.png", Image.new("RGBA", (20, 20), (0, 0, 255, 0)))
    save(tmp_path / "dogs" / "green.jpg", Image.new("RGB", (30, 30), (0, 200, 0)))
    save(tmp_path / "dogs" / "deep" / "grey.png", Image.new("L", (25, 25), 100))
    (tmp_path / "dogs" / "broken.jpg").write_bytes(b"not really a jpeg")
    (tmp_path / "dogs" / ".hidden.png").write_bytes(b"skipped: hidden")
    (tmp_path / "notes.txt").write_text("not an image, ignored")
    return tmp_path


def test_folder_classes_and_one_warning_for_unreadable_files(classes):
    with pytest.warns(GanzooWarning, match=r"Skipped 1 of 5 .*broken\.jpg") as caught:
        data = load(FolderDataset, 16, path=classes)
    assert len([w for w in caught if issubclass(w.category, GanzooWarning)]) == 1
    assert data.images.shape == (4, 3, 16, 16) and data.images.dtype == torch.uint8
    assert data.class_names == ("cats", "dogs")
    assert data.labels.tolist() == [0, 0, 1, 1]  # cats/clear, cats/wide, dogs/deep/grey, dogs/green
    clear, wide, grey, green = data.images
    assert (clear == 255).all()                                   # transparent -> white background
    assert (grey == 100).all()                                    # grey -> equal RGB channels
    assert green[1].float().mean() > 180 and green[0].float().mean() < 30
    assert (wide[:, 0] == 255).all() and tuple(wide[:, 8, 8]) == (255, 0, 0)  # padded top, red middle


def test_folder_pad_or_crop_and_background(tmp_path):
    save(tmp_path / "wide.png", Image.new("RGB", (40, 20), (255, 0, 0)))
    crop = load(FolderDataset, 16, path=tmp_path, fit="crop").images[0]
    assert (crop[0] > 240).all() and (crop[1:] < 15).all()        # red all over
    pad = load(FolderDataset, 16, path=tmp_path, background="#000000").images[0]
    assert (pad[:, :3] == 0).all() and (pad[0, 6:10] > 240).all()  # black bars above, red band in the middle
    assert load(FolderDataset, 16, path=tmp_path).labels is None


def test_folder_label_rules(tmp_path):
    save(tmp_path / "only" / "a.png", Image.new("RGB", (8, 8)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a single sub-folder is a container: no labels, no warning
        assert load(FolderDataset, 16, path=tmp_path).labels is None
    save(tmp_path / "other" / "b.png", Image.new("RGB", (8, 8)))
    assert load(FolderDataset, 16, path=tmp_path).class_names == ("only", "other")
    assert load(FolderDataset, 16, path=tmp_path, labels="none").labels is None
    save(tmp_path / "loose.png", Image.new("RGB", (8, 8)))
    with pytest.warns(GanzooWarning, match="1 image.* lie directly"):
        assert load(FolderDataset, 16, path=tmp_path).labels is None


def test_folder_fatal_problems_name_the_path(tmp_path):
    with pytest.raises(GanzooError, match="does not exist"):
        load(FolderDataset, 16, path=tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GanzooError, match=r"No images under .*empty.* It is empty"):
        load(FolderDataset, 16, path=tmp_path / "empty")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.heic").write_bytes(b"x")
    with pytest.raises(GanzooError, match=r"\.heic \(1\).*extensions"):
        load(FolderDataset, 16, path=tmp_path / "docs")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.png").write_bytes(b"garbage")
    with pytest.raises(GanzooError, match=r"None of the 1 image.*bad.*a\.png"):
        load(FolderDataset, 16, path=tmp_path / "bad")


def test_folder_config_validation(tmp_path):
    with pytest.raises(ValueError, match="not a colour"):
        FolderDataset.Config(path=tmp_path, background="blurple")
    assert FolderDataset.Config(path=tmp_path, extensions=["PNG", ".Jpg"]).extensions == (".png", ".jpg")
    with pytest.raises(ValueError):
        FolderDataset.Config()  # path is required


# ----------------------------------------------------------- fashion-mnist

FIRST_TEST_LABELS = [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]


@needs_fashion
@pytest.mark.parametrize("resolution", [28, 32])
def test_fashion_mnist_test_split(resolution):
    data = load(FashionMNISTDataset, resolution, root=FASHION, split="test", limit=10)
    assert data.images.shape == (10, 1, resolution, resolution) and data.images.dtype == torch.uint8
    assert data.labels.tolist() == FIRST_TEST_LABELS
    assert data.class_names[0] == "t-shirt/top" and data.class_names[9] == "ankle-boot"


@needs_fashion
def test_fashion_mnist_uncompressed_torchvision_layout(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(gzip.decompress((FASHION / f"{name}.gz").read_bytes()))
    data = load(FashionMNISTDataset, 16, root=tmp_path, split="test", limit=10)
    assert data.labels.tolist() == FIRST_TEST_LABELS and data.images.shape == (10, 1, 16, 16)


def test_fashion_mnist_missing_lists_every_place(tmp_path, monkeypatch):
    if Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("the Debian package is installed here, so the search would succeed")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GANZOO_FASHION_MNIST", str(tmp_path / "env"))
    with pytest.raises(GanzooError) as error:
        load(FashionMNISTDataset, 28, split="test")
    message = str(error.value)
    for place in (tmp_path / "env", tmp_path / "home" / ".cache" / "ganzoo" / "fashion-mnist",
                  "/usr/share/datasets/fashion-mnist"):
        assert str(place) in message
    assert "apt-get install dataset-fashion-mnist" in message and "download: true" in message
    with pytest.raises(GanzooError, match="nowhere"):
        load(FashionMNISTDataset, 28, root=tmp_path / "nowhere")


def idx(magic: int, dims: tuple[int, ...]) -> bytes:
    return struct.pack(f">I{len(dims)}I", magic, *dims) + bytes(int(np.prod(dims)))


@pytest.mark.parametrize("content, error", [
    (b"hello, not IDX", "magic number 2051"),
    (idx(2051, (2, 28, 28))[:-5], "truncated"),
    (gzip.compress(idx(2051, (2, 28, 28))), "SHA-256"),
    (b"\x1f\x8b broken gzip", "Could not read"),
])
def test_fashion_mnist_damaged_copy_is_refused(tmp_path, content, error):
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(content)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx(2049, (2,)))
    with pytest.raises(GanzooError, match=error):
        load(FashionMNISTDataset, 28, root=tmp_path, split="test")


def test_fashion_mnist_failed_download_is_explained(tmp_path, monkeypatch):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", offline)
    with pytest.raises(GanzooError, match=r"Downloading Fashion-MNIST into .*dl.* failed"):
        load(FashionMNISTDataset, 28, root=tmp_path / "dl", download=True)


# ------------------------------------------------------------- cheap checks (what `ganzoo validate` uses)

def check(cls: type[Dataset], resolution: int, **config):
    return cls(cls.Config(**config), resolution).check()


def test_catalogue_and_folder_keep_the_dataset_contract(classes):
    from ganzoo.testing import check_dataset
    check_dataset(CatalogueDataset, {"size": 12, "categories": ["mug", "dress", "sneaker"]})
    with pytest.warns(GanzooWarning):  # the fixture's broken.jpg
        check_dataset(FolderDataset, {"path": str(classes)})


def test_catalogue_check_says_what_load_gives_without_drawing(monkeypatch):
    monkeypatch.setattr("ganzoo_datasets._render.render", lambda *a: pytest.fail("check() drew an image"))
    found = check(CatalogueDataset, 32, size=50, categories=["mug", "dress"])
    assert (found.size, found.channels, found.class_names) == (50, 3, ("mug", "dress"))
    with pytest.raises(GanzooError, match="resolution 8"):
        check(CatalogueDataset, 8)


def test_folder_check_lists_and_reads_headers_only(classes, monkeypatch):
    monkeypatch.setattr("ganzoo_datasets._pixels.read_image", lambda *a: pytest.fail("check() decoded an image"))
    with pytest.warns(GanzooWarning, match=r"1 of 5 .*sampled.*broken\.jpg.*validate --data"):
        found = check(FolderDataset, 16, path=classes)
    assert (found.size, found.channels, found.class_names) == (5, 3, ("cats", "dogs"))  # 5 listed, 4 readable
    assert "none decoded" in found.notes[0]


def test_folder_check_refuses_what_load_refuses(tmp_path):
    with pytest.raises(GanzooError, match="does not exist"):
        check(FolderDataset, 16, path=tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GanzooError, match="It is empty"):
        check(FolderDataset, 16, path=tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.png").write_bytes(b"garbage")
    with pytest.raises(GanzooError, match=r"None of the 1 image.*sampled.*a\.png"):
        check(FolderDataset, 16, path=tmp_path / "bad")


def test_folder_check_opens_an_even_sample_of_a_big_folder(tmp_path, monkeypatch):
    tiny = Image.new("RGB", (4, 4))
    for i in range(300):
        tiny.save(tmp_path / f"{i:03d}.png")
    opened = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda path, *a, **k: opened.append(Path(path).name) or real_open(path))
    assert check(FolderDataset, 16, path=tmp_path).size == 300
    from ganzoo_datasets.folder import HEADER_SAMPLE
    assert len(opened) == HEADER_SAMPLE and opened[0] == "000.png" and opened[-1] == "299.png"



@needs_fashion
def test_fashion_mnist_check_reads_headers_only(tmp_path):
    found = check(FashionMNISTDataset, 28, root=FASHION, split="test", limit=20)
    assert (found.size, found.channels, found.class_names[8]) == (20, 1, "bag")
    assert check(FashionMNISTDataset, 28, root=FASHION, split="test").size == 10_000


def test_fashion_mnist_check_refuses_a_wrong_header_and_missing_files(tmp_path):
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"hello, not IDX"))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx(2049, (2,)))
    with pytest.raises(GanzooError, match="magic number 2051"):
        check(FashionMNISTDataset, 28, root=tmp_path, split="test")
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx(2051, (3, 28, 28))))
    with pytest.raises(GanzooError, match="different counts"):
        check(FashionMNISTDataset, 28, root=tmp_path, split="test")
    with pytest.raises(GanzooError, match="not found"):
        check(FashionMNISTDataset, 28, root=tmp_path / "nowhere", split="test")
