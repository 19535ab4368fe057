"""ganzoo: a plugin-based GAN zoo for synthesising product images."""
__version__ = "0.1.0"
PLUGIN_API_VERSION = 1
