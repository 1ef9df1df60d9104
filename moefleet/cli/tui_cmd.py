"""``moefleet tui``: the fleet live."""

from __future__ import annotations

from pathlib import Path

import click

from moefleet.cli.app import cli, file_option
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
    help="Seconds between refreshes (and pulses).",
)
@click.option(
    "--pulse/--no-pulse",
    default=True,
    show_default=True,
    help="With -i: look at every host each interval over SSH (live GPUs, server health).",
)
@file_option(
    "--api-key-file", help="For deploys started from the UI: the servers' API key file (0600)."
)
@file_option(
    "--plan-file", help="For deploys started from the UI: a reviewed plan (default: plan now)."
)
@click.pass_obj
def tui(
    obj: dict[str, Path],
    inventory_path: Path | None,
    interval: float,
    pulse: bool,
    api_key_file: Path | None,
    plan_file: Path | None,
) -> None:
    """Watch the fleet live: hosts, plan, rollouts, benchmarks. With -i, a light pulse over SSH
    each interval brings live GPU values, per-GPU history and server health. Read-only unless
    you start a deploy from the rollouts screen (with -i), which asks first."""
    from moefleet.bench.runner import read_api_key  # noqa: PLC0415
    from moefleet.pulse_stream import stream_hosts  # noqa: PLC0415
    from moefleet.transport import ConnectOptions  # noqa: PLC0415
    from moefleet.tui.actions import DeployRequest  # noqa: PLC0415
    from moefleet.tui.app import MoefleetApp  # noqa: PLC0415 (Textual loads only here)
    from moefleet.tui.source import StateSource  # noqa: PLC0415

    inventory = load_inventory(inventory_path) if inventory_path else None
    request = beat = None
    if inventory is not None:
        key = read_api_key(api_key_file) if api_key_file else None
        request = DeployRequest(inventory, key, plan_file)
        if pulse:
            options = ConnectOptions.from_settings(inventory.settings)
            hosts = list(inventory.hosts.values())
            beat = stream_hosts(hosts, options, interval, forks=inventory.settings.forks)
    MoefleetApp(StateSource(obj["state_path"], inventory), interval, request, beat).run()
