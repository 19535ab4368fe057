"""Entry point module: hands WGAN-GP to the ganzoo host."""
from ganzoo.api import hookimpl

from ganzoo_wgan_gp.architecture import WGANGP


@hookimpl
def ganzoo_register_architectures(register):
    register(WGANGP)
