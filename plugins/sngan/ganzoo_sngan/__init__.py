"""ganzoo-sngan: SNGAN (Miyato et al. 2018) for ganzoo."""
from ganzoo_sngan.architecture import SNGAN, SNGANConfig

__all__ = ["SNGAN", "SNGANConfig"]
