"""manifest.json: what a command wrote into its output folder (each file's size and SHA-256) and from what.

Written last, so a folder with a manifest is a finished one; a file changed afterwards no longer matches it.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import ganzoo
from ganzoo.fileio import write_json

FILE_NAME = "manifest.json"


def write_manifest(out_dir: Path, command: str, names: list[str], facts: dict[str, Any]) -> Path:
    """``out_dir/manifest.json`` listing ``names`` (paths relative to ``out_dir``) with ``facts`` about the run."""
    entries = []
    for name in names:
        data = (Path(out_dir) / name).read_bytes()
        entries.append({"path": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    path = Path(out_dir) / FILE_NAME
    write_json(path, {"command": command, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                      "ganzoo": ganzoo.__version__, **facts, "files": entries})
    return path
