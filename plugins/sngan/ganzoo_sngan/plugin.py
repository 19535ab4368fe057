"""The module the `ganzoo` entry point names: hands ganzoo what this distribution provides."""
from ganzoo.api import hookimpl
from ganzoo_sngan.architecture import SNGAN

# The ganzoo plugin API this code is written against ("major.minor"). ganzoo loads the
# plugin when it provides the same major and at least this minor, and skips it otherwise.
GANZOO_PLUGIN_API = "1.0"


@hookimpl
def ganzoo_register_architectures(register):
    register(SNGAN)
