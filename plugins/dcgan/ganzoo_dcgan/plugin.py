"""Entry point module: hands DCGAN to the ganzoo host."""
from ganzoo.api import hookimpl

from ganzoo_dcgan.architecture import DCGAN


@hookimpl
def ganzoo_register_architectures(register):
    register(DCGAN)
