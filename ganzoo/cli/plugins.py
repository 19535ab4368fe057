"""`ganzoo plugins`, `ganzoo new-plugin`, `ganzoo version`: what is installed, and starting a plugin of your own."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from ganzoo import PLUGIN_API_VERSION, __version__
from ganzoo.cli.common import JsonOption, console, exit_on_user_error, plugin_host
from ganzoo.scaffold import TYPES, create


@exit_on_user_error
def plugins(as_json: bool = JsonOption):
    """List installed plugins: distribution, version, plugin API, what each provides, and whether it loaded."""
    records = [r.as_dict() for r in plugin_host().records]
    if as_json:
        typer.echo(json.dumps(records, indent=2))
        return
    table = Table(title=f"ganzoo {__version__} plugins (plugin API {PLUGIN_API_VERSION})")
    for column in ("plugin", "distribution", "version", "API", "provides", "status"):
        table.add_column(column, overflow="fold")
    for r in records:
        provides = "\n".join(f"{cat.replace('_', ' ')}: {', '.join(kinds)}" for cat, kinds in r["provides"].items())
        status = "[green]loaded[/]" if r["status"] == "loaded" else f"[red]{r['status']}[/]: {escape(r['error'])}"
        table.add_row(escape(r["name"]), r["distribution"], r["version"], escape(r["api"]) or "-", provides, status)
    console.print(table)


@exit_on_user_error
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
    console.print(f"Next: cd {escape(str(target))} && pip install -e '.[test]' && pytest   (then `ganzoo plugins` "
                  f"lists it; see docs/plugins/tutorial.md)", highlight=False, soft_wrap=True)


@exit_on_user_error
def version():
    """Print ganzoo's version."""
    typer.echo(__version__)


def register(app: typer.Typer) -> None:
    app.command()(plugins)
    app.command("new-plugin")(new_plugin)
    app.command()(version)
