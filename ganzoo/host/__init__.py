"""The plugin host: the hook contract, the entry-point loader and one registry per plugin category.

- ``hookspecs``: every hook ganzoo calls (the plugin contract), typed, with "since" notes
- ``apiversion``: the plugin API version and whether a plugin fits it
- ``registry``: kind -> provider tables that refuse duplicates
- ``manager``: the pluggy manager that loads entry points one at a time

It may import the contract (``ganzoo.api``, ``ganzoo.errors``) and nothing above it.
"""
from ganzoo.host.manager import ENTRY_POINT_GROUP, Host, PluginRecord, create_host, default_host, installed_entry_points

__all__ = ["ENTRY_POINT_GROUP", "Host", "PluginRecord", "create_host", "default_host", "installed_entry_points"]
