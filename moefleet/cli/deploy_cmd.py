"""``moefleet deploy`` and ``moefleet playbook``: changing hosts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.text import Text

from moefleet.cli.app import (
    EXIT_HOSTS_FAILED,
    EXIT_OK,
    FILE_PATH,
    _inventory,
    cli,
    file_option,
    inventory_option,
    limit_option,
    stderr,
    stdout,
)
from moefleet.inventory import select_hosts
from moefleet.state import StateStore


@cli.command()
@inventory_option
@limit_option
@file_option(
    "--plan-file",
    help="Apply a reviewed plan (`moefleet plan -o`); default: plan now from stored facts.",
)
@click.option(
    "--plan",
    "--check",
    "check",
    is_flag=True,
    help="Show the plan and what would change (diffs), change nothing.",
)
@click.option("--diff", is_flag=True, help="Show unified diffs of changed files.")
@click.option("-f", "--forks", type=click.IntRange(1), default=None, help="Hosts in parallel.")
@file_option(
    "--api-key-file", help="Controller file (mode 0600) with the API key the servers will require."
)
@click.option(
    "--health-timeout",
    type=click.IntRange(1),
    default=120,
    show_default=True,
    help="Seconds a server has to become healthy before it is rolled back.",
)
@click.option(
    "--quality-reference",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="Gate every server on `moefleet gate record` output: fail = rollback.",
)
@click.option(
    "--gate-fail-top1",
    type=click.FloatRange(0, 1),
    default=0.80,
    show_default=True,
    help="Quality gate: fail below this top-1 agreement.",
)
@click.option(
    "--gate-fail-kl",
    type=click.FloatRange(0),
    default=0.15,
    show_default=True,
    help="Quality gate: fail above this mean truncated KL (nats).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.pass_obj
def deploy(
    obj: dict[str, Path],
    inventory_path: Path | None,
    limit: str | None,
    plan_file: Path | None,
    check: bool,
    diff: bool,
    forks: int | None,
    api_key_file: Path | None,
    health_timeout: int,
    quality_reference: Path | None,
    gate_fail_top1: float,
    gate_fail_kl: float,
    as_json: bool,
) -> None:
    """Bring every host to its planned inference server: runtime, model, config, service,
    then a health gate (health + a real completion) with rollback on failure; Ray clusters
    first for multi-node vLLM, then each model's nginx front door (inventory `front_door`)."""
    from moefleet.bench.runner import read_api_key  # noqa: PLC0415
    from moefleet.deploy.run import DeployOptions, deploy_plan, run_deploy, summary  # noqa: PLC0415
    from moefleet.views.plan import plan_view  # noqa: PLC0415
    from moefleet.views.playbook import event_line, recap_text  # noqa: PLC0415

    inventory = _inventory(inventory_path)
    hosts = select_hosts(inventory, limit)
    api_key = read_api_key(api_key_file) if api_key_file else None
    with StateStore(obj["state_path"]) as state:
        probes = state.latest_probes(hosts)
        plan = deploy_plan(probes, hosts, plan_file)
        if check and not as_json:
            stdout.print(plan_view(plan.model_dump(mode="json", exclude_defaults=False)))

        def show(event: object) -> None:
            line = event_line(event, show_diff=diff or check)  # type: ignore[arg-type]
            if line and not as_json:
                stderr.print(Text(line), highlight=False, soft_wrap=True)

        outcome = run_deploy(
            [d for d in plan.deployment if d.host in hosts],
            inventory,
            {h: p.facts for h, p in probes.items()},
            DeployOptions(
                check=check,
                diff=diff,
                limit=limit,
                forks=forks,
                health_timeout=health_timeout,
                quality_reference=(
                    quality_reference.read_text(encoding="utf-8") if quality_reference else None
                ),
                gate_limits=(gate_fail_top1, gate_fail_kl),
            ),
            state,
            api_key=api_key,
            on_event=show,
        )
    if as_json:
        click.echo(json.dumps(summary(outcome), indent=2))
    else:
        if outcome.report is not None:
            stdout.print(Text(recap_text(outcome.report)), highlight=False, soft_wrap=True)
        for result in outcome.front_doors:
            door = result.door
            stdout.print(
                Text(f"front door {door.model}: {door.url} on {door.host} ({door.backend}) "
                     f"over {len(result.urls)} replica(s)"),
                highlight=False, soft_wrap=True,
            )  # fmt: skip
        for host, problem in outcome.problems.items():
            stderr.print(Text(f"not deployed {host}: {problem}", style="yellow"), highlight=False)
    ok = outcome.report is not None and outcome.report.ok and not outcome.problems
    sys.exit(EXIT_OK if ok else EXIT_HOSTS_FAILED)


@cli.command("playbook")
@click.argument("playbook_path", metavar="PLAYBOOK", type=FILE_PATH)
@inventory_option
@limit_option
@click.option("--check", is_flag=True, help="Change nothing; report what would change.")
@click.option("--diff", is_flag=True, help="Show unified diffs of changed files.")
@click.option("--tags", default=None, help="Only tasks with these tags (comma-separated).")
@click.option(
    "-e",
    "--extra-var",
    "extra",
    multiple=True,
    metavar="KEY=VALUE",
    help="Extra variable (highest precedence; repeatable).",
)
@click.option("-f", "--forks", type=click.IntRange(1), default=None, help="Hosts in parallel.")
@click.pass_obj
def playbook_command(
    obj: dict[str, Path],
    playbook_path: Path,
    inventory_path: Path | None,
    limit: str | None,
    check: bool,
    diff: bool,
    tags: str | None,
    extra: tuple[str, ...],
    forks: int | None,
) -> None:
    """Run a TOML playbook (Ansible semantics: check/diff, handlers, serial, rescue, recap)."""
    from moefleet.playbook import RunOptions, load_playbook, run_playbook  # noqa: PLC0415
    from moefleet.views.playbook import event_line, recap_text  # noqa: PLC0415

    variables = {}
    for item in extra:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="-e")
        variables[key] = value
    selected = frozenset(t.strip() for t in tags.split(",")) if tags else frozenset()
    options = RunOptions(check=check, diff=diff, limit=limit, forks=forks, tags=selected)

    def show(event: object) -> None:
        line = event_line(event, show_diff=diff)  # type: ignore[arg-type]
        if line:
            stderr.print(Text(line), highlight=False, soft_wrap=True)

    with StateStore(obj["state_path"]) as state:
        report = run_playbook(
            load_playbook(playbook_path),
            _inventory(inventory_path),
            options=options,
            extra_vars=variables,
            state=state,
            on_event=show,
        )
    stdout.print(Text(recap_text(report)), highlight=False, soft_wrap=True)
    sys.exit(EXIT_OK if report.ok else EXIT_HOSTS_FAILED)
