"""What every command module shares: the consoles, the error-to-exit-code wrapper, the plugin host, options.

Command modules import from here (never from ``ganzoo.cli.wiring``), so each can be imported alone.
"""
from __future__ import annotations

import functools
import warnings
from typing import Callable, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from ganzoo.errors import GanzooError, GanzooWarning

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable)

SetOption = typer.Option(None, "--set", help="Override a recipe field, e.g. --set train.steps=200 (repeatable).")
DeviceOption = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps.")
JsonOption = typer.Option(False, "--json", help="Print JSON instead of a table.")
WorkersOption = typer.Option(None, "--workers", min=1, help="Images processed at once (default: CPU cores).")


def _show_warning(message, category, filename, lineno, file=None, line=None):
    if issubclass(category, GanzooWarning):
        err_console.print(f"[yellow]warning:[/] {escape(str(message))}", highlight=False)
    else:
        err_console.print(f"[dim]{category.__name__}: {message} ({filename}:{lineno})[/]", highlight=False)


def exit_on_user_error(command: F) -> F:
    """Wrap a command: a GanzooError becomes one printed paragraph and its exit code (2 for bad input),
    and warnings print as one line each."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            try:
                return command(*args, **kwargs)
            except GanzooError as exc:
                err_console.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
                raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def plugin_host():
    """The host of the installed plugins, built once per process (tests replace this function)."""
    from ganzoo.host import default_host
    return default_host()


def say(line: str) -> None:
    """Print a line as it is: no markup, no highlighting, no wrapping."""
    console.print(line, highlight=False, soft_wrap=True, markup=False)
