"""The base of every plugin's own config."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class PluginConfig(BaseModel):
    """Base class of a plugin's own config: unknown keys are an error, not ignored."""

    model_config = ConfigDict(extra="forbid", validate_default=True)
