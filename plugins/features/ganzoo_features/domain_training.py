"""How the ``domain`` network learns: contrastive views of each real image, plus its class when labelled.

Objective (SimCLR's NT-Xent, Chen et al. 2020, https://arxiv.org/abs/2002.05709):
two views of every image in a batch must be each other's nearest neighbour
among all views. The views differ only in position (a shift of up to an
eighth of the image, whole pixels, mirrored borders) and left-right mirroring;
SimCLR's colour jitter, grey conversion and blur are left out on purpose, since
they would teach the network to ignore exactly what a shopper looks at: to tell
thousands of products apart the network must use their colour, texture and
shape. When the data has labels, a classifier head on the same features adds
the categories (``label_weight``); unlabelled data trains on views alone.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import nn
from torch.nn import functional as F

from ganzoo.api import ImageData
from ganzoo_features.image_statistics import ImageStatistics, raw_statistics

SHIFT_FRACTION = 8  # views move by up to 1/8 of the image side


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class DomainNet(nn.Module):
    """Four 3x3 convolutions (the last three halve the size) and global average pooling: 8 x width learned
    features; ``embed`` adds the measured image statistics (colour, detail) to them.

    Training heads, not used for features: a projection for the contrastive loss and, when there are
    classes, a linear classifier.
    """

    def __init__(self, channels: int, classes: int, width: int, projection: int = 64):
        super().__init__()
        dims = 8 * width
        self.features = nn.Sequential(_block(channels, width, 1), _block(width, 2 * width, 2),
                                      _block(2 * width, 4 * width, 2), _block(4 * width, dims, 2),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.projection = nn.Sequential(nn.Linear(dims, dims), nn.ReLU(inplace=True), nn.Linear(dims, projection))
        self.classifier = nn.Linear(dims, classes) if classes > 1 else None
        self.statistics = ImageStatistics()

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The features FID sees: learned, then measured."""
        return torch.cat([self.features(x), self.statistics(x)], 1)


def to_input(images: torch.Tensor, channels: int) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float in [-1, 1] with the model's channel count (ITU-R 601 luma for RGB -> grey)."""
    return match_channels(images.float(), channels) / 127.5 - 1


def match_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Float images with the model's channel count (the luma weights sum to 1, so any value range is kept)."""
    if x.shape[1] == 3 and channels == 1:
        return (x * torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
    if x.shape[1] == 1 and channels == 3:
        return x.expand(-1, 3, -1, -1)
    return x


def view(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each image shifted by whole pixels (mirrored borders) and mirrored left-right at random; nothing resampled."""
    n, _, h, w = x.shape
    pad = max(1, min(h, w) // SHIFT_FRACTION)
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None]
    cols = dx[:, None] + torch.arange(w, device=x.device)
    flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    cols = torch.where(flip[:, None], cols.flip(1), cols)[:, None, :]
    shifted = padded[torch.arange(n, device=x.device)[:, None, None], :, rows, cols]  # (N, H, W, C)
    return shifted.permute(0, 3, 1, 2).contiguous()


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's loss: each view's partner is the positive, the other 2N - 2 views the negatives."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    similarity = z @ z.T / temperature
    similarity.fill_diagonal_(float("-inf"))
    n = len(z1)
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(similarity, partner)


@dataclass
class Settings:
    width: int
    epochs: int
    batch_size: int
    lr: float
    seed: int
    max_images: Optional[int]
    temperature: float
    label_weight: float


@dataclass
class Trained:
    net: DomainNet
    contrastive_accuracy: float     # held-out views whose partner is their nearest neighbour
    class_accuracy: Optional[float]  # held-out images classified right (labelled data only)
    images: int
    seconds: float


def train_network(data: ImageData, settings: Settings, device: torch.device,
                  log: Callable[[str], None]) -> Trained:
    """Train on a seeded 90% of the images (at most ``max_images``) and measure on the other 10%."""
    start = time.perf_counter()
    g = torch.Generator().manual_seed(settings.seed)
    order = torch.randperm(len(data), generator=g)
    if settings.max_images:
        order = order[:settings.max_images]
    held = max(2, len(order) // 10)
    test_idx, train_idx = order[:held], order[held:]
    labelled = data.labels is not None and len(data.class_names) > 1 and settings.label_weight > 0
    channels = data.images.shape[1]
    torch.manual_seed(settings.seed)
    net = DomainNet(channels, len(data.class_names) if labelled else 0, settings.width).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.lr)
    batch = min(settings.batch_size, len(train_idx))
    per_epoch = len(train_idx) // batch  # whole batches only: the loss needs enough negatives
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, settings.lr, total_steps=settings.epochs * per_epoch)
    for epoch in range(settings.epochs):
        net.train()
        perm = train_idx[torch.randperm(len(train_idx), generator=g)]
        total = 0.0
        for s in range(per_epoch):
            idx = perm[s * batch:(s + 1) * batch]
            x = to_input(data.images[idx].to(device), channels)
            v1, v2 = view(x, g), view(x, g)
            f1, f2 = net.features(v1), net.features(v2)
            loss = nt_xent(net.projection(f1), net.projection(f2), settings.temperature)
            if labelled:
                y = data.labels[idx].to(device)
                loss = loss + settings.label_weight * 0.5 * (F.cross_entropy(net.classifier(f1), y)
                                                             + F.cross_entropy(net.classifier(f2), y))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item()
        found, classified = held_out_accuracy(net, data, test_idx, channels, g, device, labelled)
        line = f"epoch {epoch + 1}/{settings.epochs}: loss {total / max(per_epoch, 1):.3f}, held-out views " \
               f"matched {found:.3f}"
        log(line + (f", classes {classified:.3f}" if classified is not None else ""))
    calibrate_statistics(net.eval(), data, train_idx, channels, device)
    return Trained(net, found, classified, len(train_idx), time.perf_counter() - start)


@torch.no_grad()
def calibrate_statistics(net: DomainNet, data: ImageData, idx: torch.Tensor, channels: int,
                         device: torch.device, count: int = 4096) -> None:
    """Fit the measured statistics' scale on training images, against the learned features' total variance."""
    learned, raw = [], []
    for s in range(0, min(count, len(idx)), 512):
        x = to_input(data.images[idx[s:min(s + 512, count)]].to(device), channels)
        learned.append(net.features(x).cpu())
        raw.append(raw_statistics(x).cpu())
    net.statistics.fit(torch.cat(raw), torch.cat(learned).var(0).sum().item())


@torch.no_grad()
def held_out_accuracy(net: DomainNet, data: ImageData, idx: torch.Tensor, channels: int, g: torch.Generator,
                      device: torch.device, labelled: bool) -> tuple[float, Optional[float]]:
    """How often a held-out view's nearest view (among up to 512) is its partner, and the class accuracy."""
    net.eval()
    idx = idx[:512]
    x = to_input(data.images[idx].to(device), channels)
    f1, f2 = F.normalize(net.features(view(x, g)), dim=1), F.normalize(net.features(view(x, g)), dim=1)
    found = (f1 @ f2.T).argmax(1).cpu().eq(torch.arange(len(idx))).float().mean().item()
    if not labelled:
        return found, None
    predicted = net.classifier(net.features(x)).argmax(1).cpu()
    return found, predicted.eq(data.labels[idx]).float().mean().item()
