"""Files in and out, safely: writes that never leave a half-written file behind (temporary file, fsync,
rename), and YAML read from untrusted files with its size bounded and duplicate keys refused."""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

import yaml

__all__ = ["atomic_path", "write_bytes", "write_json", "read_safetensors", "YamlError", "parse_yaml", "YAML_LIMITS"]


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual permissions
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def read_safetensors(path: str | Path) -> tuple[dict[str, Any], dict[str, str]]:
    """The tensors and the metadata of a safetensors file (raises safetensors' SafetensorError, or OSError,
    for a file that is damaged or not safetensors: callers phrase what the file should have been)."""
    from safetensors import safe_open  # imported here: fileio is also used where no tensors are read

    # clone: own, aligned memory rather than the file mapping; math on the mapped tensor gave other roundings
    # (a latents file then no longer regenerated its images bit for bit)
    with safe_open(str(path), framework="pt") as handle:
        return {name: handle.get_tensor(name).clone() for name in handle.keys()}, dict(handle.metadata() or {})


def write_json(path: str | Path, data: Any) -> None:
    write_bytes(path, (json.dumps(data, indent=2, sort_keys=False) + "\n").encode())


# ------------------------------------------------------------------ reading YAML

# A recipe, pipeline, compare or preset file has a few hundred nodes. These bound what a hostile file
# (a "billion laughs" of nested aliases) can make any reader expand, counted on the parsed graph
# without expanding it.
YAML_LIMITS = {"nodes": 20_000, "depth": 64, "aliases": 1_000}


class YamlError(ValueError):
    """A YAML text that cannot be read safely; the message says where and why, in one sentence."""


class _CountingLoader(yaml.SafeLoader):
    """SafeLoader that counts aliases while composing, refuses duplicate keys, and constructs from nodes."""

    def __init__(self, text: str):
        super().__init__(text)
        self.aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > YAML_LIMITS["aliases"]:
                mark = self.peek_event().start_mark
                raise YamlError(f"more than {YAML_LIMITS['aliases']:,} aliases (*name), at line {mark.line + 1}")
        return super().compose_node(parent, index)

    def compose_mapping_node(self, anchor):
        node = super().compose_mapping_node(anchor)
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            line = key_node.start_mark.line + 1
            if key_node.value in seen:
                raise YamlError(f"the key '{key_node.value}' appears twice in one mapping, at lines "
                                f"{seen[key_node.value]} and {line} (YAML keeps only the last; remove one)")
            seen[key_node.value] = line
        return node


def _expanded_size(root: yaml.Node) -> tuple[int, int]:
    """(nodes, depth) the document would have with every alias expanded, computed once per shared node."""
    sizes: dict[int, tuple[int, int]] = {}
    entered: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes or (not children_done and id(node) in entered):
            continue
        entered.add(id(node))
        children = ([n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode)
                    else list(node.value) if isinstance(node, yaml.SequenceNode) else [])
        if children_done:
            known = [sizes.get(id(c), (0, 0)) for c in children]  # (0, 0): a cycle back to an ancestor
            sizes[id(node)] = (1 + sum(k[0] for k in known), 1 + max((k[1] for k in known), default=0))
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in entered)
    return sizes[id(root)]


def parse_yaml(text: str) -> tuple[Any, Optional[yaml.Node]]:
    """The data and the root node of one YAML document from an untrusted source.

    Refuses duplicate keys and documents that would expand past ``YAML_LIMITS`` (nodes, nesting
    depth, aliases) with a :class:`YamlError`; YAML syntax errors stay ``yaml.YAMLError``.
    """
    loader = _CountingLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, None
        nodes, depth = _expanded_size(root)
        if nodes > YAML_LIMITS["nodes"]:
            raise YamlError(f"it would expand to {nodes:,} values (aliases included), more than the "
                            f"{YAML_LIMITS['nodes']:,} a configuration file may hold")
        if depth > YAML_LIMITS["depth"]:
            raise YamlError(f"it nests {depth} levels deep, more than {YAML_LIMITS['depth']}")
        return loader.construct_document(root), root
    finally:
        loader.dispose()
