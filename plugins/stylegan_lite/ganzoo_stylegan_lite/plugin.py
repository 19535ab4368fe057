"""Entry point module: hands StyleGAN-lite to the ganzoo host."""
from ganzoo.api import hookimpl

from ganzoo_stylegan_lite.architecture import StyleGANLite


@hookimpl
def ganzoo_register_architectures(register):
    register(StyleGANLite)
