"""Writing a benchmark's table into its marked section of docs/performance.md."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

DOC = Path(__file__).resolve().parents[1] / "docs" / "performance.md"


def write_section(name: str, table: str, doc: Path = DOC) -> None:
    """Replace the text between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->`` with ``table``."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = doc.read_text()
    start, stop = text.index(begin) + len(begin), text.index(end)
    doc.write_text(text[:start] + "\n" + table + "\n" + text[stop:])
    print(f"\nwrote {doc}")


def report(section: str, caption: str, header: str, rows: Sequence[str], write: bool, doc: Path = DOC) -> str:
    """Print a benchmark's table (``caption``, a blank line, ``header`` such as ``"| a | b |"``, its separator,
    then ``rows``) and, with ``write``, put it into its section of docs/performance.md. Returns the table."""
    separator = "|" + " --- |" * (header.count("|") - 1)
    table = "\n".join([caption, "", header, separator, *rows])
    print(table)
    if write:
        write_section(section, table, doc)
    return table
