"""`ganzoo new-plugin`: start a plugin package (registered on `app` by being imported from ganzoo.cli)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from ganzoo.cli import app, console, friendly
from ganzoo.scaffold import TYPES, create


@app.command("new-plugin")
@friendly
def new_plugin(name: str = typer.Argument(..., help="Short name: lowercase letters, digits and hyphens (e.g. sngan). "
                                          "Gives distribution ganzoo-NAME, module ganzoo_NAME and kind NAME."),
               type_: str = typer.Option(..., "--type", help=f"What the plugin provides: {', '.join(TYPES)}."),
               dir_: Optional[Path] = typer.Option(None, "--dir", help="Folder to create (new or empty); "
                                                   "default: ./ganzoo-NAME.")):
    """Create a pip-installable plugin package with a working example and the ganzoo contract tests."""
    target = dir_ if dir_ is not None else Path(f"ganzoo-{name}")
    files = create(name, type_, target)
    what = f"{'an' if type_[0] in 'aeiou' else 'a'} {type_} plugin providing kind '{name}'"
    console.print(f"Created [bold]ganzoo-{name}[/] in {escape(str(target))}: {what}.", highlight=False, soft_wrap=True)
    for path in files:
        console.print(f"  {escape(str(path))}", highlight=False, soft_wrap=True)
    console.print(f"Next: cd {escape(str(target))} && pip install -e . && pytest   (then `ganzoo plugins` lists it; "
                  f"see docs/plugins/tutorial.md)", highlight=False, soft_wrap=True)
