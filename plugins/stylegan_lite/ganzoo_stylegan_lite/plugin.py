"""Entry point module: hands StyleGAN-lite to the ganzoo host."""
from ganzoo.api import hookimpl
from ganzoo_stylegan_lite.architecture import StyleGANLite

GANZOO_PLUGIN_API = "1.0"  # the plugin API this plugin is written against


@hookimpl
def ganzoo_register_architectures(register):
    register(StyleGANLite)
