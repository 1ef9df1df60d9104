"""The ``moefleet`` command group, its shared consoles and exit codes, and the entry point.

Only the CLI prints and sets exit codes; each command lives in its own module of this package.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.text import Text

from moefleet import __version__
from moefleet.errors import MoefleetError
from moefleet.inventory import Inventory, default_inventory, load_inventory
from moefleet.state import default_state_path

EXIT_OK, EXIT_ERROR, EXIT_HOSTS_FAILED = 0, 1, 2
#: Options several commands share.
inventory_option = click.option(
    "-i",
    "--inventory",
    "inventory_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Inventory TOML (default: this machine).",
)
limit_option = click.option(
    "--limit", default=None, help="Host pattern (names, groups, globs, !x, &y)."
)
F = TypeVar("F", bound=Callable[..., Any])
FILE_PATH = click.Path(path_type=Path, dir_okay=False)
"""A file (not a directory) option or argument, as a Path."""


def file_option(*names: str, help: str) -> Callable[[F], F]:
    """An optional file-path option (default None)."""
    return click.option(*names, type=FILE_PATH, default=None, help=help)


stdout = Console()
stderr = Console(stderr=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="moefleet")
@click.option(
    "--state",
    "state_path",
    type=click.Path(path_type=Path),
    default=None,
    help="State store (SQLite). Default: $MOEFLEET_STATE or the user state dir.",
)
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
@click.pass_context
def cli(ctx: click.Context, state_path: Path | None, verbose: int) -> None:
    """moefleet: probe a GPU fleet, plan the right LLM per box, deploy it and prove it."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="moefleet: %(levelname)s: %(message)s")
    ctx.obj = {"state_path": state_path or default_state_path()}


def _inventory(path: Path | None) -> Inventory:
    return load_inventory(path) if path else default_inventory()


def main() -> None:
    """Console entry point: clear one-line errors (exit 1), never a traceback for bad input."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        stderr.print("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_ERROR)
    except MoefleetError as exc:
        stderr.print(Text.assemble(("error: ", "bold red"), exc.message), highlight=False)
        if exc.hint:
            stderr.print(Text(f"hint: {exc.hint}"), highlight=False)
        sys.exit(EXIT_ERROR)
