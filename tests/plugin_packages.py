"""Helpers for tests that build plugin packages: run a package's own test suite in this process."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest


def run_package_tests(folder: Path, module: str) -> int:
    """Run the tests of the package in ``folder`` (not installed: its folder goes on sys.path); return pytest's code."""
    sys.path.insert(0, str(folder))
    importlib.invalidate_caches()
    before = set(sys.modules)
    try:
        return int(pytest.main([str(folder), "-q", "-p", "no:cacheprovider"]))
    finally:
        sys.path.remove(str(folder))
        for name in set(sys.modules) - before:  # the package and its test modules: the next build gets fresh ones
            if name == module or name.startswith((module + ".", "test_")):
                del sys.modules[name]
