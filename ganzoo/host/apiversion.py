"""Plugin API versions: what this ganzoo provides, what a plugin declares, and whether they fit.

A plugin declares the interface it was written against with a module (or object)
attribute ``GANZOO_PLUGIN_API = "1.0"``. Same major and a minor no newer than
ours loads; anything else is skipped with a message saying both versions.
"""
from __future__ import annotations

import re
from typing import Any, Optional

from ganzoo import PLUGIN_API_VERSION, __version__

ATTRIBUTE = "GANZOO_PLUGIN_API"
UNDECLARED = "1.0"  # plugins written before declarations existed targeted the first API
_PATTERN = re.compile(r"^(\d+)(?:\.(\d+))?$")


def parse(value: Any) -> tuple[int, int]:
    """``"1.2"``, ``"1"`` or ``1`` -> (major, minor); anything else is a ValueError."""
    well_typed = isinstance(value, (int, str)) and not isinstance(value, bool)  # 1.10 as a float would read 1.1
    match = _PATTERN.match(str(value).strip()) if well_typed else None
    if not match:
        raise ValueError(f"{ATTRIBUTE} = {value!r} is not a plugin API version; write a string such as "
                         f"{PLUGIN_API_VERSION!r}")
    return int(match.group(1)), int(match.group(2) or 0)


PROVIDED = parse(PLUGIN_API_VERSION)


def declared(plugin: object) -> Any:
    """What ``plugin`` declares as written (None when it declares nothing)."""
    return getattr(plugin, ATTRIBUTE, None)


def incompatibility(plugin: object) -> Optional[str]:
    """None when ``plugin`` fits this ganzoo, else why not (raises ValueError for a malformed declaration)."""
    value = declared(plugin)
    major, minor = parse(UNDECLARED if value is None else value)
    if major == PROVIDED[0] and minor <= PROVIDED[1]:
        return None
    need = f"{major}.{minor}"
    if major == PROVIDED[0]:
        fix = f"upgrade ganzoo to a release with plugin API {need} or newer {major}.x"
    elif major > PROVIDED[0]:
        fix = f"upgrade ganzoo to a release with plugin API {major}.x"
    else:
        fix = f"install a release of the plugin made for plugin API {PROVIDED[0]}.x"
    return f"it targets plugin API {need}, but ganzoo {__version__} provides plugin API {PLUGIN_API_VERSION}; {fix}"
