"""Reading YAML with positions, so errors can point at a line and column."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ganzoo.errors import RecipeError
from ganzoo.fileio import YamlError, parse_yaml

Loc = tuple  # path of keys/indices into the document


def read_yaml(path: Path, what: str = "Recipe") -> tuple[Any, dict[Loc, int]]:
    """Parse ``path``; return the data and a map from key paths to 1-based line numbers."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError(f"{what} file {path} does not exist. Check the path (relative paths are taken from "
                          f"{Path.cwd()}).") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{what} file {path} cannot be read: {exc}.") from None
    try:
        data, node = parse_yaml(text)
    except YamlError as exc:
        raise RecipeError(f"{what} file {path} cannot be used: {exc}.") from None
    except RecursionError:
        raise RecipeError(f"{what} file {path} cannot be used: it nests too deeply to parse.") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise RecipeError(f"{what} file {path} is not valid YAML{where}: {problem}.") from None
    except yaml.YAMLError as exc:
        raise RecipeError(f"{what} file {path} is not valid YAML: {exc}.") from None
    lines: dict[Loc, int] = {}
    if node is not None:
        _collect_lines(node, (), lines)
    return data, lines


def _collect_lines(node: yaml.Node, loc: Loc, lines: dict[Loc, int], seen: set[int] | None = None) -> None:
    """The line of every key path. A node reached again through an alias (shared, or recursive as in
    ``a: &a [*a]``) is not walked again: its first place has its lines."""
    seen = set() if seen is None else seen
    lines[loc] = node.start_mark.line + 1
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = (loc + (key_node.value,))
            _collect_lines(value_node, key, lines, seen)
            lines[key] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, child in enumerate(node.value):
            _collect_lines(child, loc + (index,), lines, seen)


def line_of(lines: dict[Loc, int], loc: Loc) -> int | None:
    """The line of ``loc`` or of its nearest ancestor present in the file."""
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return None
