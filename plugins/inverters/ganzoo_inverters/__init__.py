"""ganzoo's first-party inverters (image -> latent), shipped as an ordinary plugin distribution.

``optimize`` fits a latent by gradient descent (StyleGAN2's projector); ``encoder`` runs a pSp-style encoder
trained by ``ganzoo encoder train``. They use only the public API. Reference: docs/projection.md.
"""

__version__ = "0.1.0"
