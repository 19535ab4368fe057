"""manifest.json: what a command wrote into its output folder and from what, in one format for every command
(``generate`` with latents, ``project``, ``directions --out``, ``nearest``).

Keys: ``format``, ``command``, ``created``, ``ganzoo``, ``run`` (the same keys for every command: ``id``,
``dir``, ``step``, ``generator``, ``architecture``, ``recipe_digest``; None where unknown), the command's own
facts, and last ``files``: each written file's ``path`` (relative to the folder), ``bytes`` and ``sha256``.
Written last and atomically, so a folder with a manifest is a finished one; a file changed afterwards no longer
matches it.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any, Optional

import ganzoo
from ganzoo.fileio import write_json

FILE_NAME = "manifest.json"
FORMAT = "ganzoo-manifest-1"
RUN_KEYS = ("id", "dir", "step", "generator", "architecture", "recipe_digest")


def run_section(run_id: Optional[str], run_dir: Optional[Path | str], step: Optional[int], generator: Optional[str],
                architecture: Optional[str], recipe_digest: Optional[str] = None) -> dict[str, Any]:
    """The ``run`` key: which run and which of its generators (``generator_ema`` or ``generator``) made the files."""
    values = (run_id, None if run_dir is None else str(run_dir), step, generator, architecture, recipe_digest)
    return dict(zip(RUN_KEYS, values))


def file_entry(out_dir: Path, name: str) -> dict[str, Any]:
    data = (Path(out_dir) / name).read_bytes()
    return {"path": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def write_manifest(out_dir: Path, command: str, names: list[str], run: dict[str, Any],
                   facts: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """Write ``out_dir/manifest.json`` listing ``names`` (paths relative to ``out_dir``); returns what was written."""
    if set(run) != set(RUN_KEYS):
        raise ValueError(f"the manifest's run section needs exactly {RUN_KEYS}; make it with run_section()")
    reserved = {"format", "command", "created", "ganzoo", "run", "files"} & set(facts or {})
    if reserved:
        raise ValueError(f"facts may not replace the manifest's own keys {sorted(reserved)}")
    manifest = {"format": FORMAT, "command": command, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "ganzoo": ganzoo.__version__, "run": run, **(facts or {}),
                "files": [file_entry(out_dir, name) for name in names]}
    write_json(Path(out_dir) / FILE_NAME, manifest)
    return manifest


def loaded_run_section(loaded: Any) -> dict[str, Any]:
    """``run_section`` of a ``ganzoo.rundir.LoadedRun`` (taken as it comes: export sits below rundir)."""
    info = loaded.run_dir.read_info()
    return run_section(info.get("run_id"), loaded.run_dir.path, loaded.step, loaded.which, loaded.architecture.kind,
                       info.get("recipe_digest") or loaded.resolved.digest())
