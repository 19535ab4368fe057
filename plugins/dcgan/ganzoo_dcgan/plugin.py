"""Entry point module: hands DCGAN to the ganzoo host."""
from ganzoo.api import hookimpl
from ganzoo_dcgan.architecture import DCGAN

GANZOO_PLUGIN_API = "1.0"  # the plugin API this plugin is written against


@hookimpl
def ganzoo_register_architectures(register):
    register(DCGAN)
