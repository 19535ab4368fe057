"""WGAN-GP for ganzoo (Gulrajani et al. 2017)."""
from ganzoo_wgan_gp.architecture import WGANGP, WGANGPConfig

__all__ = ["WGANGP", "WGANGPConfig"]
