"""The `ganzoo` command line: the only layer that draws (rich) or exits.

Each command module (``train``, ``images``, ``metrics``, ``compare``, ``plugins``) holds
its commands and a ``register(app)``; ``app`` registers them all. Modules share the
consoles, the error wrapper and options through ``common`` and the progress
displays through ``progress``, and never import ``wiring``, so each imports alone.
"""
from __future__ import annotations

from typing import Any


def main() -> None:
    from ganzoo.cli.wiring import main as run_app
    run_app()


def __getattr__(name: str) -> Any:
    if name == "app":  # built on first use, so `import ganzoo.cli.metrics` alone does not build the whole app
        from ganzoo.cli.wiring import app
        return app
    raise AttributeError(f"module 'ganzoo.cli' has no attribute '{name}'")
