"""Network building blocks that several architectures share; public for third-party plugins."""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

__all__ = [
    "ConvDiscriminator", "ConvGenerator", "ProjectionHead", "conv_stages", "conv_widths", "dcgan_init",
    "spectral_norm"
]


def spectral_norm(module: nn.Module) -> nn.Module:
    """Miyato et al. 2018: divide the weight by its largest singular value (one power iteration per call).

    Uses PyTorch's parametrization, so the module's state dict stays a plain
    tensor dict that safetensors can store.
    """
    return nn.utils.parametrizations.spectral_norm(module)


class ProjectionHead(nn.Module):
    """The projection discriminator's output (Miyato & Koyama 2018, https://arxiv.org/abs/1802.05637).

    ``logit = linear(h) + <embed(y), h>`` for pooled features ``h``; without labels it is ``linear(h)``.
    """

    def __init__(self, features: int, num_classes: int = 0, sn: bool = False):
        super().__init__()
        wrap = spectral_norm if sn else (lambda m: m)
        self.linear = wrap(nn.Linear(features, 1))
        self.embed = wrap(nn.Embedding(num_classes, features)) if num_classes else None

    def forward(self, h: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        out = self.linear(h).flatten()
        if self.embed is not None:
            if labels is None:
                raise ValueError("this discriminator is conditional: pass class labels")
            out = out + (self.embed(labels) * h).sum(dim=1)
        return out


# ------------------------------------------------------------ DCGAN-style stacks
# Radford et al. 2015 (https://arxiv.org/abs/1511.06434). Shared by DCGAN and
# WGAN-GP (Gulrajani et al. 2017 used the same generator, and a critic without
# batch norm), and free for third-party plugins.

def conv_stages(resolution: int) -> tuple[int, int]:
    """(size of the coarsest feature map, number of 2x stages): 4x4 for powers of two, 7x7 for 28 px."""
    base = 7 if resolution == 28 else 4
    stages = int(math.log2(resolution // base)) if resolution >= base * 2 else 0
    if base * 2 ** stages != resolution:
        raise ValueError(f"resolution {resolution} is not 4 x 2^k or 28")
    return base, stages


def conv_widths(width: int, max_width: int, stages: int) -> list[int]:
    """Channels of the feature maps below full resolution, coarsest first: ..., 4w, 2w, w (capped)."""
    return [min(width * 2 ** (stages - 1 - i), max_width) for i in range(stages)]


def dcgan_init(module: nn.Module) -> None:
    """The DCGAN paper's init: N(0, 0.02) for weights, N(1, 0.02) for normalisation scales."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class ConvGenerator(nn.Module):
    """z -> (transposed conv, BatchNorm, ReLU) x stages -> tanh image.

    With ``num_classes``, a learned label embedding is concatenated to z.
    """

    def __init__(self, z_dim: int, resolution: int, channels: int, width: int = 64, max_width: int = 512,
                 num_classes: int = 0, embed_dim: int = 32):
        super().__init__()
        base, stages = conv_stages(resolution)
        ch = conv_widths(width, max_width, stages)
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        z_in = z_dim + (embed_dim if num_classes else 0)
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_in, ch[0], base, 1, 0, bias=False),
                                   nn.BatchNorm2d(ch[0]), nn.ReLU(True)]
        for c_in, c_out in zip(ch[:-1], ch[1:]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(ch[-1], channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)], dim=1)
        return self.net(z[:, :, None, None])

    def latent_weights(self) -> torch.Tensor:
        """The first layer's weights acting on z as a matrix (outputs, z_dim): what SeFa factorises for a
        generator without styles (``Architecture.style_weights``, since plugin API 1.3)."""
        weight = self.net[0].weight  # (z_in, channels, base, base); z comes first, then the label embedding
        z_dim = weight.shape[0] - (self.embed.embedding_dim if self.embed is not None else 0)
        return weight[:z_dim].reshape(z_dim, -1).t().detach()


def _norm(kind: str, channels: int) -> list[nn.Module]:
    if kind == "batch":
        return [nn.BatchNorm2d(channels)]
    if kind == "layer":  # over (C, H, W) per sample, as WGAN-GP's critic needs
        return [nn.GroupNorm(1, channels)]
    return []


class ConvDiscriminator(nn.Module):
    """image -> (stride-2 conv, norm, LeakyReLU 0.2) x stages -> one logit.

    ``norm`` is ``batch`` (DCGAN), ``layer`` or ``none`` (WGAN-GP critics must not
    use batch norm); the first layer never has one. With ``num_classes`` a
    projection term <embed(y), summed features> is added (Miyato & Koyama 2018).
    """

    def __init__(self, resolution: int, channels: int, width: int = 64, max_width: int = 512,
                 norm: str = "batch", num_classes: int = 0, sn: bool = False):
        super().__init__()
        base, stages = conv_stages(resolution)
        wrap = spectral_norm if sn else (lambda m: m)
        ch = list(reversed(conv_widths(width, max_width, stages)))  # finest first
        layers: list[nn.Module] = [wrap(nn.Conv2d(channels, ch[0], 4, 2, 1)), nn.LeakyReLU(0.2, True)]
        self._block_ends = [len(layers)]
        for c_in, c_out in zip(ch[:-1], ch[1:]):
            layers += [wrap(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=norm == "none")), *_norm(norm, c_out),
                       nn.LeakyReLU(0.2, True)]
            self._block_ends.append(len(layers))
        self.features = nn.Sequential(*layers)
        self.head = wrap(nn.Conv2d(ch[-1], 1, base, 1, 0))
        self.embed = wrap(nn.Embedding(num_classes, ch[-1])) if num_classes else None
        self.apply(dcgan_init)

    def blocks(self) -> list[nn.Module]:
        """The stride-2 stages, input to output, each a conv with its norm and activation; the head and the
        projection are not blocks. For ``Architecture.discriminator_blocks`` (FreezeD, since plugin API 1.3)."""
        starts = [0] + self._block_ends[:-1]
        return [self.features[start:end] for start, end in zip(starts, self._block_ends)]

    def forward(self, images: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        h = self.features(images)
        logit = self.head(h).flatten()
        if self.embed is not None:
            logit = logit + (self.embed(labels) * h.sum(dim=(2, 3))).sum(dim=1)
        return logit
