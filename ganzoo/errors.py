"""Errors that reach the user as one clear paragraph, never a traceback."""
from __future__ import annotations

__all__ = ["GanzooError", "GanzooWarning", "PluginError", "RecipeError", "UsageError"]


class GanzooError(Exception):
    """A problem the user can fix: bad input, a missing file, a refused action.

    The CLI prints the message as one paragraph and exits with ``exit_code``.
    """

    exit_code = 1


class RecipeError(GanzooError):
    """A recipe (or an override, or a plugin config) that does not validate."""

    exit_code = 2


class PluginError(GanzooError):
    """A plugin that cannot be found, loaded or used as asked."""

    exit_code = 2


class UsageError(GanzooError):
    """A command-line option with a value the run cannot use (a class it lacks, a knob it does not offer)."""

    exit_code = 2


class GanzooWarning(UserWarning):
    """Something the user should know about that does not stop the run."""
