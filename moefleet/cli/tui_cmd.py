"""``moefleet tui``: the fleet live."""

from __future__ import annotations

from pathlib import Path

import click

from moefleet.cli.app import cli
from moefleet.inventory import load_inventory


@cli.command()
@click.option(
    "-i",
    "--inventory",
    "inventory_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Inventory TOML (default: every host in the state store).",
)
@click.option(
    "--interval",
    type=click.FloatRange(0.2),
    default=2.0,
    show_default=True,
    help="Seconds between refreshes.",
)
@click.pass_obj
def tui(obj: dict[str, Path], inventory_path: Path | None, interval: float) -> None:
    """Watch the fleet live: hosts, GPUs, findings (read-only)."""
    from moefleet.tui.app import MoefleetApp  # noqa: PLC0415 (Textual loads only here)
    from moefleet.tui.source import StateSource  # noqa: PLC0415

    inventory = load_inventory(inventory_path) if inventory_path else None
    MoefleetApp(StateSource(obj["state_path"], inventory), interval).run()
