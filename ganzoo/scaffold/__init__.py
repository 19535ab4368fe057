"""`ganzoo new-plugin`: a pip-installable plugin package whose own tests pass straight away.

The files are ``string.Template`` templates kept as package data under
``templates/common`` (every plugin) and ``templates/<type>``; ``__name__`` in a
path becomes the short Python name and ``.tmpl`` is dropped. The package is
rendered into a temporary folder beside the target and renamed into place, so
a failure never leaves half a package behind.
"""
from __future__ import annotations

import keyword
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from ganzoo import PLUGIN_API_VERSION, __version__
from ganzoo.errors import UsageError
from ganzoo.host.registry import did_you_mean


@dataclass(frozen=True)
class PluginType:
    hook: str          # the hook the plugin implements
    category: str      # the registry it fills (as in `ganzoo plugins` and check_plugin)
    impl: str          # the module holding the class
    dependencies: str  # besides ganzoo
    summary: str       # README: what the example does
    usage: str         # README: how to use it


TYPES = {
    "architecture": PluginType(
        "ganzoo_register_architectures", "architecture", "architecture", '"torch>=2.2,<3"',
        "a small DCGAN-style GAN built from `ganzoo.nn`, to replace with your own networks and losses",
        'requires: ["$dist>=0.1"]\ndata: {kind: catalogue, resolution: 32}\narchitecture: {kind: $kind, width: 32}\n'
        "train: {steps: 2000, batch_size: 64}"),
    "dataset": PluginType(
        "ganzoo_register_datasets", "dataset", "dataset", '"torch>=2.2,<3"',
        "coloured discs on white in two classes, drawn from a seed; replace `load()` with your images",
        'requires: ["$dist>=0.1"]\ndata: {kind: $kind, resolution: 32, size: 512}\narchitecture: {kind: dcgan}\n'
        "train: {steps: 2000, batch_size: 64}"),
    "postprocessor": PluginType(
        "ganzoo_register_postprocessors", "postprocessor", "postprocessor", '"pillow>=9"',
        "a solid border around every image; replace `__call__` with your step",
        'requires: ["$dist>=0.1"]\nexport:\n  postprocess:\n    - {kind: $kind, width: 4, colour: "#ffffff"}'),
    "feature-extractor": PluginType(
        "ganzoo_register_feature_extractors", "feature_extractor", "extractor", '"torch>=2.2,<3"',
        "the mean colour of each cell of a grid, a toy feature space; replace `__call__` with your network",
        'requires: ["$dist>=0.1"]\neval: {extractor: {kind: $kind, grid: 4}}\n\n'
        "# or: ganzoo eval RUN_DIR --extractor $kind"),
    "inverter": PluginType(
        "ganzoo_register_inverters", "inverter", "inverter", '"torch>=2.2,<3"',
        "gradient descent on z from the zero latent, the simplest projector; replace `invert` with your method",
        "# not a recipe field: use it from the command line\n"
        "# ganzoo project RUN_DIR photos/ --out projected --inverter $kind -o steps=200"),
}
NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
TEMPLATES = resources.files(__name__) / "templates"


def check_name(name: str) -> None:
    """Raise UsageError (exit 2) unless ``name`` makes a good distribution, module and kind name."""
    rule = ("use lowercase letters, digits and single hyphens, starting with a letter (e.g. 'sngan' or "
            "'product-shots'): the distribution becomes ganzoo-NAME, the module ganzoo_NAME and the kind NAME")
    bare = re.sub(r"^ganzoo[-_]", "", name)
    if bare != name and NAME.match(bare):
        raise UsageError(f"Plugin name '{name}' is not accepted: give the short name '{bare}'; ganzoo- is added "
                         f"to the distribution name for you.")
    if not NAME.match(name) or len(name) > 40:
        raise UsageError(f"Plugin name '{name}' is not accepted: {rule} (at most 40 characters).")


def names(name: str, type_name: str) -> dict[str, str]:
    """The values the templates are filled with."""
    kind = TYPES[type_name]
    short = name.replace("-", "_")
    cls = "".join(part.capitalize() for part in name.split("-"))
    if keyword.iskeyword(cls):  # 'true' -> True
        cls += "Plugin"
    major, minor = (int(p) for p in __version__.split(".")[:2])
    values = {
        "name": name, "kind": name, "short": short, "dist": f"ganzoo-{name}", "module": f"ganzoo_{short}",
        "cls": cls, "type": type_name, "category": kind.category, "hook": kind.hook, "impl": kind.impl,
        "dependencies": kind.dependencies, "summary": kind.summary, "api": PLUGIN_API_VERSION,
        "ganzoo_range": f">={major}.{minor},<{major}.{minor + 1}" if major == 0 else f">={major}.{minor},<{major + 1}",
        "category_text": kind.category.replace("_", " "),
    }
    values["usage"] = Template(kind.usage).substitute(values)
    return values


def _files(folder) -> list[tuple[str, str]]:
    """(relative path, text) of every template under ``folder``, recursively."""
    found = []
    for entry in folder.iterdir():
        if entry.is_dir():
            found += [(f"{entry.name}/{rel}", text) for rel, text in _files(entry)]
        elif entry.name.endswith(".tmpl"):
            found.append((entry.name, entry.read_text(encoding="utf-8")))
    return found


def _target_path(template_path: str, values: dict[str, str]) -> str:
    path = template_path.removesuffix(".tmpl").replace("__module__", values["module"])
    path = path.replace("__short__", values["short"])
    return re.sub(r"(^|/)_gitignore$", r"\1.gitignore", path)


def _check_target(target: Path, ignore: Path | None = None) -> None:
    if target.exists() and (not target.is_dir() or any(p != ignore for p in target.iterdir())):
        what = "a file" if not target.is_dir() else "a folder that is not empty"
        raise UsageError(f"{target} is {what}; new-plugin only writes into a new or empty folder. "
                         f"Choose another with --dir PATH, or remove it.")


def create(name: str, type_name: str, target: Path) -> list[Path]:
    """Write the package for plugin ``name`` of ``type_name`` into ``target``; return its files, relative to it.

    A new folder appears whole (renamed from a staging folder beside it); an
    existing empty one (the working directory, say) is filled entry by entry.
    """
    check_name(name)
    if type_name not in TYPES:
        raise UsageError(f"--type '{type_name}' is not a plugin type.{did_you_mean(type_name, list(TYPES))} "
                         f"Choose one of: {', '.join(TYPES)}.")
    target = Path(os.path.abspath(target))
    _check_target(target)
    values = names(name, type_name)
    rendered = {}
    for folder in (TEMPLATES / "common", TEMPLATES / type_name):
        for rel, text in _files(folder):
            rendered[_target_path(rel, values)] = Template(text).substitute(values)
    fill = target.is_dir()
    try:
        if not fill:
            target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target if fill else target.parent))
    except OSError as exc:
        raise UsageError(f"Cannot create {target}: {exc.strerror or exc}. Choose another folder with "
                         f"--dir PATH.") from None
    try:
        for rel, text in sorted(rendered.items()):
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        _check_target(target, ignore=staging)  # again, right before moving into place
        if fill:
            for entry in staging.iterdir():
                os.replace(entry, target / entry.name)
            staging.rmdir()
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes it private; the package folder should not be
            os.replace(staging, target)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise UsageError(f"Cannot write {target}: {exc.strerror or exc}.") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [Path(rel) for rel in sorted(rendered)]
