"""Entry point module: hands WGAN-GP to the ganzoo host."""
from ganzoo.api import hookimpl
from ganzoo_wgan_gp.architecture import WGANGP

GANZOO_PLUGIN_API = "1.3"  # the plugin API this plugin is written against (1.3: report_real_logits)


@hookimpl
def ganzoo_register_architectures(register):
    register(WGANGP)
