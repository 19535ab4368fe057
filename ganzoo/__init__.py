"""ganzoo: a plugin-based GAN zoo for synthesising product images."""
__version__ = "0.1.0"
# The plugin interface's version, "major.minor" (docs/plugins/tutorial.md#versioning): a plugin declaring
# GANZOO_PLUGIN_API = "M.m" loads when M is this major and m is at most this minor.
PLUGIN_API_VERSION = "1.0"
