"""The error evaluation raises for input the user can fix (exit code 2)."""
from __future__ import annotations

from ganzoo.errors import GanzooError


class InputError(GanzooError):
    """Bad input to an evaluation: a missing folder, mixed image sizes, a statistics file without mu/sigma."""

    exit_code = 2
