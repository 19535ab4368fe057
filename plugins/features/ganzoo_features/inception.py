"""``inception``: the FID Inception-v3, built and fed exactly as pytorch-fid does.

Network: ``pytorch_fid.inception.InceptionV3`` (torchvision's Inception-v3 with
the FID patches: TF-style average pooling that ignores padded zeros, max pooling
in the last block) returning the 2048-d pool3 features. Input: uint8 / 255 in
float32 (torchvision's ``ToTensor``), a bilinear resize to 299x299
(``align_corners=False``, no antialiasing) and ``2x - 1``, both done by
pytorch-fid's own ``forward``. Grey images are replicated to RGB, as PIL's
``convert('RGB')`` does when pytorch-fid reads them. On the same images and
weights the features are bit-identical to pytorch-fid's.

Weights: ``pt_inception-2015-12-05-6726825d.pth`` (the TF 2015-12-05 weights
ported by pytorch-fid), looked up in this order: the ``weights`` option, the
``GANZOO_INCEPTION_WEIGHTS`` environment variable, the torch hub cache
(``torch.hub.get_dir()/checkpoints``, where pytorch-fid keeps it too); when
absent it is downloaded there (unless ``download: false`` or
``GANZOO_OFFLINE=1``). A file whose name carries a hash (``name-<hex>.pth``, as
torch.hub names files) must have a SHA-256 starting with it. Only the official
file (SHA-256 ``6726825d...``) gives numbers comparable to published FIDs.

Classifier: the same file holds the network's 1008-class head (``fc``), so the
Inception Score's logits are ``pool3 @ fc.weight^T`` of the features already
extracted, without the bias, as in the original IS code (openai/improved-gan)
and torch-fidelity's ``logits_unbiased``, which published scores come from.
"""
from __future__ import annotations

import hashlib
import os
import re
import socket
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional
from unittest import mock

import torch
from pydantic import Field

from ganzoo.api import FeatureExtractor, GanzooWarning, ImageData, PluginConfig
from ganzoo.metrics import InputError

WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
OFFICIAL_SHA256_PREFIX = "6726825d"
WEIGHTS_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + WEIGHTS_FILE
ENV_VAR = "GANZOO_INCEPTION_WEIGHTS"
OFFLINE_ENV = "GANZOO_OFFLINE"
HASH_IN_NAME = re.compile(r"-([a-f0-9]+)\.")  # torch.hub's convention: name-<sha256 prefix>.ext
INPUT = ("uint8/255 as float32, bilinear resize to 299x299 (align_corners=False, no antialias), 2x-1; "
         "grey replicated to RGB (pytorch-fid's pipeline)")


class InceptionConfig(PluginConfig):
    weights: Optional[Path] = Field(None, description=f"The weights file ({WEIGHTS_FILE}); default: ${ENV_VAR}, "
                                                      f"then the torch hub cache.")
    download: bool = Field(True, description=f"Download the weights into the torch hub cache when they are not "
                                             f"found (needs internet; {OFFLINE_ENV}=1 forbids it).")


def hub_path() -> Path:
    """Where torch.hub (and pytorch-fid) keep the weights: ``torch.hub.get_dir()/checkpoints``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


def _how_to_get() -> str:
    return (f"To get it: on a machine with internet run `curl -L -o {WEIGHTS_FILE} {WEIGHTS_URL}` and copy the "
            f"file to '{hub_path()}', or anywhere and set {ENV_VAR} to its path (or the extractor's 'weights' "
            f"option, e.g. `--option weights=PATH`). Offline, the 'domain' extractor needs no download (its "
            f"numbers are not comparable to published FIDs).")


def _download(destination: Path) -> None:
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(30)  # torch.hub's urlopen has no timeout of its own
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(WEIGHTS_URL, str(destination), hash_prefix=OFFICIAL_SHA256_PREFIX)
    finally:
        socket.setdefaulttimeout(previous)


def locate_weights(config: InceptionConfig) -> Path:
    """The weights file, downloaded if allowed and needed; or an InputError naming the places looked."""
    if config.weights is not None:
        path = config.weights.expanduser()
        if path.is_file():
            return path
        raise InputError(f"The Inception weights file '{path}' given by the 'weights' option does not exist. "
                          + _how_to_get())
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        path = Path(env).expanduser()
        if path.is_file():
            return path
        raise InputError(f"{ENV_VAR} is set to '{path}', which does not exist. " + _how_to_get())
    hub = hub_path()
    if hub.is_file():
        return hub
    if os.environ.get(OFFLINE_ENV, "") == "1":
        why = f"{OFFLINE_ENV}=1 forbids downloading it"
    elif not config.download:
        why = "downloading is off ('download: false')"
    else:
        try:
            _download(hub)
            return hub
        except Exception as exc:  # no network, proxy, HTTP error, hash mismatch: all mean "not here"
            why = f"downloading it from {WEIGHTS_URL} failed ({type(exc).__name__}: {exc}); this machine looks offline"
    raise InputError(f"The Inception weights file {WEIGHTS_FILE} was not found. Looked in: the 'weights' option "
                      f"(not set), ${ENV_VAR} (not set) and the torch hub cache '{hub}'; {why}. " + _how_to_get())


@lru_cache(maxsize=8)
def _sha256(path: str, size: int, mtime: float) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path) -> str:
    """The file's SHA-256, after checking it against the hash prefix in its name (when it has one)."""
    stat = path.stat()
    sha = _sha256(str(path.resolve()), stat.st_size, stat.st_mtime)
    named = HASH_IN_NAME.search(path.name)
    if named and not sha.startswith(named.group(1)):
        raise InputError(f"'{path}' is damaged or not the file its name says: its SHA-256 starts with "
                          f"{sha[:len(named.group(1))]} but its name promises {named.group(1)}. Delete it and get "
                          f"a fresh copy. " + _how_to_get())
    return sha


def build_network(state_dict: dict[str, torch.Tensor], source: str = "weights") -> torch.nn.Module:
    """pytorch-fid's InceptionV3 (pool3 only) with these weights, without its download."""
    import pytorch_fid.inception as pfi  # imported late: `ganzoo plugins` should not pay for torchvision models

    # pytorch-fid's fid_inception_v3() fetches its weights with load_state_dict_from_url; hand it ours instead.
    with mock.patch.object(pfi, "load_state_dict_from_url", lambda *args, **kwargs: state_dict):
        try:
            network = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
        except RuntimeError as exc:  # missing or unexpected keys, wrong shapes
            first = str(exc).strip().splitlines()[0][:200]
            raise InputError(f"{source} does not hold FID Inception weights ({first}). " + _how_to_get()) from None
    return network.eval()


class InceptionExtractor(FeatureExtractor):
    __doc__ = __doc__
    kind = "inception"
    description = "Inception-v3 pool3 (TF 2015-12-05 weights), built and fed exactly as pytorch-fid does."
    space = "Inception-v3 pool3"
    classifier = "Inception-v3 2015-12-05, 1008 classes (fc without bias, as the original IS code)"
    Config = InceptionConfig
    dims = 2048

    def load(self, reference: Optional[ImageData] = None) -> None:
        path = locate_weights(self.config)
        self.sha256 = verify(path)
        self.official = self.sha256.startswith(OFFICIAL_SHA256_PREFIX)
        if not self.official:
            warnings.warn(f"'{path}' is not the official FID Inception weights file (its SHA-256 starts with "
                          f"{self.sha256[:8]}, not {OFFICIAL_SHA256_PREFIX}): numbers are marked as not comparable "
                          f"to published FIDs.", GanzooWarning, stacklevel=2)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise InputError(f"'{path}' cannot be read as PyTorch weights ({type(exc).__name__}: {exc}). "
                              + _how_to_get()) from None
        self.network = build_network(state, f"'{path}'").to(self.device)
        # pytorch-fid's InceptionV3 stops at pool3 and drops the classifier; build_network has checked that
        # the file holds it (a strict load of the whole torchvision network), so keep it for class_logits.
        self.class_weight = state["fc.weight"].to(torch.float64)

    def protocol(self) -> dict[str, Any]:
        from importlib.metadata import version
        protocol = {"weights_sha256": self.sha256, "weights_file": WEIGHTS_FILE if self.official else "non-standard",
                    "layer": "pool3", "input": INPUT, "pytorch_fid": version("pytorch-fid"),
                    "comparable_to_published": self.official}
        if not self.official:
            protocol["note"] = (f"non-standard Inception weights (SHA-256 {self.sha256[:8]}, "
                                f"not {OFFICIAL_SHA256_PREFIX})")
        return protocol

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        # As torchvision's ToTensor does for pytorch-fid; contiguous NCHW, because a channels-last input
        # (a permuted HWC stack) takes other convolution kernels and changes the last bits.
        x = images.to(self.device).float().div(255).contiguous()
        return self.network(x)[0].flatten(1).float().cpu()


    def class_logits(self, features: torch.Tensor) -> torch.Tensor:
        """The classifier's 1008 logits of pool3 features, in float64, a block of rows at a time."""
        return torch.cat([block.to(torch.float64) @ self.class_weight.T for block in features.split(4096)])


def make_random_weights(folder: str | Path, seed: int = 0, calibration_images: int = 4) -> Path:
    """Save randomly initialised FID Inception weights in the official file's format (for tests, benchmarks).

    The batch-norm running statistics are first measured on random images
    through the real input pipeline, so the features are not degenerate. The file
    is named ``random-inception-<sha256 prefix>.pth``, so it passes the name check
    and is never mistaken for the official weights.
    """
    import pytorch_fid.inception as pfi
    from torch.nn import functional as F

    torch.manual_seed(seed)
    # The skeleton pytorch_fid.inception.fid_inception_v3() builds before it loads its download.
    net = pfi._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b = pfi.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = pfi.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = pfi.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = pfi.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = pfi.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = pfi.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = pfi.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = pfi.FIDInceptionE_1(1280)
    net.Mixed_7c = pfi.FIDInceptionE_2(2048)
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # a plain average over the calibration batch
    net.train()
    images = torch.randint(0, 256, (calibration_images, 3, 32, 32), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        x = F.interpolate(images.float() / 255, size=(299, 299), mode="bilinear", align_corners=False)
        net(2 * x - 1)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".random-inception-{seed}.tmp"
    torch.save(net.eval().state_dict(), tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    path = folder / f"random-inception-{digest[:8]}.pth"
    os.replace(tmp, path)
    return path
