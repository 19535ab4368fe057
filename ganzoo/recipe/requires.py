"""A recipe's ``requires``: the distributions it needs, checked before any of its plugins is looked up.

Each entry is a PEP 508 requirement (``ganzoo-sngan>=0.1``), parsed by
``packaging`` as pip does. What is missing or too old is reported with the one
pip command that fixes it; a distribution that is installed but whose plugin
did not load is reported with the reason (pip would not help there).
"""
from __future__ import annotations

import importlib.metadata as metadata
import shlex
from typing import Optional

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ganzoo.errors import RecipeError


def parse_requirement(text: str) -> str:
    """Pydantic validator for one ``requires`` entry: a PEP 508 string, returned as written."""
    try:
        Requirement(text)
    except InvalidRequirement as exc:
        raise ValueError(f"{text!r} is not a requirement pip understands ({str(exc).splitlines()[0]}); write e.g. "
                         f"'ganzoo-sngan>=0.1'") from None
    return text


def pip_command(requirements: list[str]) -> str:
    """``pip install 'a>=1' 'b'``, quoted for a POSIX shell."""
    quoted = [f"'{r}'" if "'" not in r else shlex.quote(r) for r in requirements]
    return "pip install " + " ".join(quoted)


def _unsatisfied(req: Requirement) -> Optional[str]:
    try:
        installed = metadata.version(req.name)
    except metadata.PackageNotFoundError:
        return f"{req.name} is not installed"
    if req.specifier and not req.specifier.contains(installed, prereleases=True):
        return f"{req.name} {installed} is installed, {req.specifier} is needed"
    return None


def check_requirements(requires: list[str], host, source: str, where) -> None:
    """Raise RecipeError (exit 2) naming every unmet entry of ``requires``; ``where(i)`` locates entry i."""
    to_install: list[str] = []
    problems: list[str] = []
    records = {canonicalize_name(r.distribution): r for r in host.records}
    for i, text in enumerate(requires):
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate():
            continue  # not for this platform or Python
        why = _unsatisfied(req)
        if why:
            to_install.append(text)
            problems.append(f"{where(i)}: {why}")
            continue
        record = records.get(canonicalize_name(req.name))
        if record is not None and record.status != "loaded":
            problems.append(f"{where(i)}: {req.name} is installed but its plugin '{record.name}' is {record.status} "
                            f"({record.error}); see `ganzoo plugins`")
    if not problems:
        return
    fix = f" Install with: {pip_command(to_install)}" if to_install else ""
    raise RecipeError(f"Recipe {source} requires what this environment lacks: {'; '.join(problems)}.{fix}")
