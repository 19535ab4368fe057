"""The `ganzoo` command: one Typer app, and the one place that registers every command module on it."""
from __future__ import annotations

import typer

from ganzoo.cli import compare, directions, images, inversion, metrics, nearest, plugins, train

COMMAND_MODULES = (train, images, inversion, directions, metrics, nearest, compare, plugins)

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="ganzoo: train, evaluate and export GANs for product images from one recipe.")
for module in COMMAND_MODULES:
    module.register(app)


def main() -> None:
    from ganzoo.cli.progress import decoding
    from ganzoo.datacache import decode_progress
    decode_progress.set(decoding)  # every command that decodes a dataset shows it
    app()
