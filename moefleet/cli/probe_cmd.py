"""``moefleet probe``: facts and findings of every host, saved in the state store."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from moefleet.cli.app import (
    EXIT_HOSTS_FAILED,
    EXIT_OK,
    _inventory,
    cli,
    stderr,
    stdout,
)
from moefleet.inventory import Host, select_hosts
from moefleet.probe import HostProbe, ProbeOptions, gather_facts
from moefleet.state import StateStore
from moefleet.transport import ConnectOptions
from moefleet.views.probe import host_panel, summary_line


def _print_probes(probes: list[HostProbe], as_json: bool) -> None:
    if as_json:
        payload = {"hosts": [p.model_dump(mode="json") for p in probes]}
        click.echo(json.dumps(payload, indent=2))
        return
    for probe in probes:
        stdout.print(host_panel(probe))
    stdout.print(summary_line(probes))


@cli.command()
@click.option(
    "-i",
    "--inventory",
    "inventory_path",
    type=click.Path(path_type=Path),
    help="Inventory TOML. Default: this machine over a local connection.",
)
@click.option(
    "-l",
    "--limit",
    default=None,
    help="Host pattern: names, groups, globs, ~regex, !exclude, &intersection (comma-separated).",
)
@click.option(
    "-f",
    "--forks",
    type=click.IntRange(1, 1000),
    default=None,
    help="Hosts probed at once (default: [settings] forks, 20).",
)
@click.option("--json", "as_json", is_flag=True, help="Print facts and findings as JSON.")
@click.option(
    "--timeout",
    type=click.FloatRange(1, 3600),
    default=60.0,
    show_default=True,
    help="Seconds allowed per host, connect included.",
)
@click.option(
    "--accept-new-host-keys",
    is_flag=True,
    help="Trust and record unknown SSH host keys (trust on first use, logged). "
    "Changed keys are always refused.",
)
@click.option("--no-nvml", is_flag=True, help="Skip NVML on the hosts; use nvidia-smi.")
@click.option(
    "--import",
    "import_mode",
    is_flag=True,
    help="Parse captured outputs (FILES) instead of probing; a directory is one host.",
)
@click.option("--name", "import_name", default=None, help="Host name for --import files.")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.pass_obj
def probe(
    obj: dict[str, Path],
    inventory_path: Path | None,
    limit: str | None,
    forks: int | None,
    as_json: bool,
    timeout: float,
    accept_new_host_keys: bool,
    no_nvml: bool,
    import_mode: bool,
    import_name: str | None,
    files: tuple[Path, ...],
) -> None:
    """Probe hosts (GPUs, PCIe, RAM, CPU, disk, cooling, runtimes) in one SSH round trip each,
    print facts and findings, and save them in the state store."""
    if import_mode or files:
        if not import_mode or not files:
            raise click.UsageError("use --import with one or more FILES (or directories)")
        from moefleet.facts.importer import import_facts  # noqa: PLC0415 (only for --import)

        probes = import_facts(list(files), import_name)
        source = "import"
    else:
        inventory = _inventory(inventory_path)
        hosts = [inventory.hosts[name] for name in select_hosts(inventory, limit)]
        options = ProbeOptions(
            connect=ConnectOptions.from_settings(
                inventory.settings, accept_new_host_keys=accept_new_host_keys
            ),
            timeout=timeout,
            forks=forks or inventory.settings.forks,
            nvml=not no_nvml,
        )
        probes = _run_probe(hosts, options)
        source = inventory.source
    with StateStore(obj["state_path"]) as state:
        state.save_probes(probes, source)
    _print_probes(probes, as_json)
    sys.exit(EXIT_OK if all(p.reached for p in probes) else EXIT_HOSTS_FAILED)


def _run_probe(hosts: list[Host], options: ProbeOptions) -> list[HostProbe]:
    """gather_facts with a live progress bar on a terminal, silently otherwise."""
    if not stderr.is_terminal:
        return gather_facts(hosts, options)
    progress = Progress(
        TextColumn("probing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
    )
    task = progress.add_task("", total=len(hosts))

    def advance(probe: HostProbe) -> None:
        progress.update(task, advance=1, description=f"{probe.host}: {probe.status}")

    with progress:
        return gather_facts(hosts, options, advance)
