"""DCGAN for ganzoo: transposed-conv generator, strided-conv discriminator (Radford et al. 2015)."""
from ganzoo_dcgan.architecture import DCGAN, DCGANConfig

__all__ = ["DCGAN", "DCGANConfig"]
