"""Property-based fuzzing of the files users hand to ganzoo (issue 13): recipes, pipeline files, compare files.

Each example starts from a shipped file, mutates it (drop, duplicate and retype keys; hostile values; aliases,
tags, binary bytes, truncation) and runs the CLI on it in this process. The property, for every example:

- the exit code is 0 or 2 (valid, or refused as bad input), never a crash;
- no traceback is printed;
- it finishes in seconds and resident memory stays within a bound of where it started;
- nothing is written outside the command's own output folder (checked with a Python audit hook, which sees
  every file opened for writing, every rename, mkdir and removal, whatever library does it).

The examples are derandomised (the same ones on every run, so CI is repeatable) and bounded in number.
To search longer and wider while developing: ``GANZOO_FUZZ_SCALE=20 GANZOO_FUZZ_RANDOM=1 pytest tests/test_fuzz.py``
(twenty times the examples, fresh random ones each run).
"""
from __future__ import annotations

import getpass
import math
import os
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from ganzoo.cli import app
from ganzoo.datacache import cache_root
from tests.conftest import REPO

hypothesis = pytest.importorskip("hypothesis")  # in requirements-test.txt; the message says what is missing
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

runner = CliRunner()
SECONDS_PER_EXAMPLE = 15.0   # generous for a loaded 2-core CI machine; a typical example takes well under 1 s
MEMORY_BOUND = 600 * 2**20   # resident bytes above the level before the example (a bomb would take gigabytes)
SCALE = float(os.environ.get("GANZOO_FUZZ_SCALE", "1"))
FUZZ = settings(derandomize=not os.environ.get("GANZOO_FUZZ_RANDOM"), database=None, deadline=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

FASHION_MNIST = REPO.parent / "shared" / "data" / "fashion-mnist"
RECIPES = sorted(p for p in (REPO / "recipes").glob("*.yaml") if not p.name.startswith("compare-"))
COMPARES = sorted((REPO / "recipes").glob("compare-*.yaml"))
PIPELINES = sorted((REPO / "recipes" / "pipelines").glob("*.yaml"))

# torch makes its compiler's cache folder (nothing inside) the first time torch._dynamo is imported, which building
# networks on the meta device does (a recipe with `init`): torch's own folder, not a file ganzoo writes.
TORCH_CACHE_FOLDER = os.path.join(tempfile.gettempdir(), f"torchinductor_{getpass.getuser()}")
HOSTILE_VALUES = [
    10**30, -10**30, 2**63, -1, 0, math.nan, math.inf, -math.inf, 1e308, "", [], {}, None, True, False,
    "名前 \u202eevil\u202c 🙂", "x" * 5000, "../../../../tmp/escape", "/etc/passwd", "\x00\x01",
    {"a": {"b": {"c": [1, [2, [3, {"d": None}]]]}}}, [[[[[[[[[[[]]]]]]]]]]], "1e999", "0x1F", "nan",
]
TEXT_ATTACKS = [
    "x: &a [1, 2]\ny: *a\n", "z: *undefined\n", "t: !!python/object/apply:os.system ['touch /tmp/ganzoo-pwned']\n",
    "u: !!binary aGVsbG8=\n", "v: !custom-tag {a: 1}\n",
    "b: &b [[&c [x, x, x, x], *c, *c, *c], *b]\n",  # a recursive alias
    "w: " + "[" * 80 + "]" * 80 + "\n", "? [complex, key]\n: value\n", "%YAML 1.1\n---\n", "---\n...\n---\n",
]


# ------------------------------------------------------------------ watching what a command does

class Watch:
    """What happens while a command runs: paths written (via an audit hook) and the peak resident memory."""

    active: "Watch | None" = None
    installed = False
    WRITE_EVENTS = {"os.rename": (0, 1), "os.mkdir": (0,), "os.remove": (0,), "os.rmdir": (0,),
                    "os.symlink": (1,), "os.link": (1,), "os.truncate": (0,), "shutil.rmtree": (0,),
                    "shutil.copyfile": (1,), "shutil.move": (1,)}

    def __init__(self) -> None:
        self.writes: list[str] = []
        self.peak = self.start = _rss()
        self._stop = threading.Event()

    @classmethod
    def install(cls) -> None:
        if not cls.installed:  # audit hooks cannot be removed: one for the session, idle unless a Watch is active
            import sys
            sys.addaudithook(cls._hook)
            cls.installed = True

    @classmethod
    def _hook(cls, event: str, args: tuple) -> None:
        watch = cls.active
        if watch is None:
            return
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None))[:3]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                mode is None and isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
            if writing and isinstance(path, (str, bytes, os.PathLike)):
                watch.writes.append(os.path.abspath(os.fsdecode(path)))
        elif event in cls.WRITE_EVENTS:
            for i in cls.WRITE_EVENTS[event]:
                if i < len(args) and isinstance(args[i], (str, bytes, os.PathLike)):
                    watch.writes.append(os.path.abspath(os.fsdecode(args[i])))

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss())

    @contextmanager
    def running(self) -> Iterator["Watch"]:
        sampler = threading.Thread(target=self._sample, daemon=True)
        Watch.active = self
        sampler.start()
        try:
            yield self
        finally:
            Watch.active = None
            self._stop.set()
            sampler.join()
            self.peak = max(self.peak, _rss())


def _rss() -> int:
    with open("/proc/self/statm", "rb") as f:  # noqa: PTH123 - read-only, and not watched
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# ------------------------------------------------------------------ mutations

def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path in a parsed YAML tree (mapping keys and list indices), the root included."""
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, prefix + (i,))
    return found


def _parent(tree: Any, path: tuple) -> Any:
    for part in path[:-1]:
        tree = tree[part]
    return tree


@st.composite
def mutated(draw: st.DrawFn, seed: dict) -> bytes:
    """A shipped file's content after one to three tree mutations and, sometimes, a text-level attack."""
    import copy
    tree = copy.deepcopy(seed)
    for _ in range(draw(st.integers(0, 3))):  # none: the command runs for real on a valid file
        paths = [p for p in _paths(tree) if p]
        if not paths or not isinstance(tree, dict):
            break
        path = draw(st.sampled_from(paths))
        parent, key = _parent(tree, path), path[-1]
        op = draw(st.sampled_from(["drop", "hostile", "retype", "unknown", "random", "nudge", "nudge", "nudge"]))
        if op == "drop":
            del parent[key]
        elif op == "hostile":
            parent[key] = copy.deepcopy(draw(st.sampled_from(HOSTILE_VALUES)))  # never share: later ops mutate
        elif op == "retype":
            value = parent[key]
            parent[key] = draw(st.sampled_from([str(value), [value], {"value": value}, None]))
        elif op == "unknown" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=12))] = copy.deepcopy(draw(st.sampled_from(HOSTILE_VALUES)))
        elif op == "nudge":  # a plausible edit that often stays valid, so the valid paths run too
            value = parent[key]
            if isinstance(value, bool):
                parent[key] = not value
            elif isinstance(value, (int, float)):
                parent[key] = draw(st.sampled_from([value * 2, value // 2 if isinstance(value, int) else value / 2,
                                                    value + 1, max(value - 1, 0)]))
            elif isinstance(value, str):
                parent[key] = draw(st.sampled_from([value.upper(), value[:-1], value + "x", value.strip("#")]))
        else:
            parent[key] = draw(st.one_of(st.integers(), st.floats(), st.text(max_size=30), st.booleans()))
    text = yaml.safe_dump(tree, allow_unicode=True, sort_keys=False).encode("utf-8", "surrogatepass")
    attack = draw(st.sampled_from(["none"] * 6 + ["duplicate-line", "text", "binary", "truncate"]))
    lines = text.splitlines(keepends=True) or [b"\n"]
    if attack == "duplicate-line":  # a duplicated top-level or nested key
        i = draw(st.integers(0, len(lines) - 1))
        lines.insert(i, lines[i])
    elif attack == "text":
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(TEXT_ATTACKS)).encode())
    elif attack == "binary":
        lines.insert(draw(st.integers(0, len(lines))), draw(st.binary(min_size=1, max_size=40)))
    text = b"".join(lines)
    if attack == "truncate":
        text = text[: draw(st.integers(0, len(text)))]
    return text


# ------------------------------------------------------------------ the property

def run_guarded(args: list[str], allowed: Path, label: str, content: bytes) -> None:
    """Run the CLI; assert exit 0 or 2, no traceback, bounded time and memory, writes only under ``allowed``."""
    Watch.install()
    watch = Watch()
    started = time.perf_counter()
    with watch.running():
        result = runner.invoke(app, args)
    elapsed = time.perf_counter() - started
    shown = content[:600].decode("utf-8", "replace")
    context = f"{label} (first bytes of the file:\n{shown}\n)\noutput:\n{result.output[-3000:]}"
    assert result.exit_code in (0, 2), f"exit {result.exit_code} ({result.exception!r}) for {context}"
    assert "Traceback" not in result.output, f"a traceback for {context}"
    assert elapsed < SECONDS_PER_EXAMPLE, f"{elapsed:.1f} s for {context}"
    grown = watch.peak - watch.start
    assert grown < MEMORY_BOUND, f"resident memory grew {grown / 2**20:.0f} MB for {context}"
    data_cache = cache_root()  # decoded datasets are kept there on purpose (compare --dry-run draws the data)
    outside = [p for p in watch.writes if not Path(p).is_relative_to(allowed) and p != TORCH_CACHE_FOLDER
               and not Path(p).is_relative_to(data_cache)]
    assert not outside, f"wrote outside {allowed}: {outside[:5]} for {context}"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A working folder with two small product photos to post-process (the pipeline examples' input)."""
    root = tmp_path_factory.mktemp("fuzz")
    (root / "photos").mkdir()
    Image.new("RGB", (40, 30), "red").save(root / "photos" / "a.png")
    Image.new("RGBA", (30, 40), (0, 0, 255, 128)).save(root / "photos" / "b.png")
    return root


def _seed(path: Path, output: tuple[str, str]) -> dict:
    """A shipped file with small data (64 images) and its output folder under the test's own folder."""
    tree = yaml.safe_load(path.read_text())
    data = tree.get("data", {})
    data["limit" if data.get("kind") == "fashion-mnist" else "size"] = 64
    section, value = output
    if section:
        tree.setdefault(section, {})["output_dir"] = value
    else:
        tree["output"] = value
    return tree


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    """A home of its own (nothing may be written there either), and Fashion-MNIST where this machine has it,
    so the Fashion-MNIST recipes run their valid paths too (they are refused as 'not found' without it)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GANZOO_OFFLINE", "1")  # the one write a real run may make elsewhere: Inception weights
    monkeypatch.chdir(tmp_path)                # downloaded into the torch hub cache (docs/evaluation.md)
    if (FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file():
        monkeypatch.setenv("GANZOO_FASHION_MNIST", str(FASHION_MNIST))


def fuzz(sources: list[Path], seeds: list[dict], examples: int, folder: Path, command, allowed: Path) -> None:
    """Mutate ``seeds`` (parsed from ``sources``) ``examples`` times (scaled); each mutated file, written into
    ``folder`` as FILE, runs ``command(FILE, n)`` under run_guarded, which may write only under ``allowed``."""
    counter = iter(range(10**6))

    @settings(FUZZ, max_examples=round(examples * SCALE))
    @given(st.data())
    def check(data):
        index = data.draw(st.integers(0, len(seeds) - 1))
        content = data.draw(mutated(seeds[index]))
        n = next(counter)
        path = folder / f"{sources[index].stem}-{n}.yaml"
        path.write_bytes(content)
        run_guarded(command(path, n), allowed, f"{sources[index].name} mutated", content)

    check()


def test_recipes_survive_mutation(tmp_path):
    # Small data so each example checks quickly; the output folder lies inside what the command may write.
    seeds = [_seed(p, ("run", str(tmp_path / "runs"))) for p in RECIPES]
    fuzz(RECIPES, seeds, 80, tmp_path, lambda recipe, n: ["validate", str(recipe)], tmp_path / "runs")


def test_pipeline_files_survive_mutation(tmp_path, workspace):
    seeds = [yaml.safe_load(p.read_text()) for p in PIPELINES]
    fuzz(PIPELINES, seeds, 40, tmp_path, lambda pipeline, n: [
        "postprocess", str(workspace / "photos"), str(tmp_path / "out" / str(n)), "--pipeline", str(pipeline)],
        tmp_path / "out")


def test_compare_files_survive_mutation(tmp_path):
    seeds = [_seed(p, ("", str(tmp_path / "compares"))) for p in COMPARES]
    fuzz(COMPARES, seeds, 30, tmp_path, lambda compare, n: ["compare", str(compare), "--dry-run"],
         tmp_path / "compares")
