"""StyleGAN-lite for ganzoo: a compact, pure-PyTorch StyleGAN2 (Karras et al. 2020)."""
from ganzoo_stylegan_lite.architecture import StyleGANLite, StyleGANLiteConfig

__all__ = ["StyleGANLite", "StyleGANLiteConfig"]
