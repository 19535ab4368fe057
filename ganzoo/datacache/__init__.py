"""The decoded-data cache: a dataset's files decoded once, on every core, reused until one changes.

Public since plugin API 1.4: a dataset plugin that decodes files uses ``Dataset.cache``
(a :class:`DataCache`) in its ``load``; see docs/plugins/hooks.md. The host fills it from
the recipe's ``data.cache``, ``data.memory_share`` and ``data.decode_workers``.
"""
from ganzoo.datacache.cache import CachedLoad, DataCache, cache_root, decode_progress, memory_limit

__all__ = ["DataCache", "CachedLoad", "cache_root", "decode_progress", "memory_limit"]
