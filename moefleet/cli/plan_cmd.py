"""``moefleet plan``: model, quantization, engine and flags per host, with reasons."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.text import Text

from moefleet.cli.app import (
    EXIT_HOSTS_FAILED,
    EXIT_OK,
    _inventory,
    cli,
    inventory_option,
    limit_option,
    stderr,
    stdout,
)
from moefleet.errors import MoefleetError
from moefleet.inventory import select_hosts
from moefleet.plan.demand import OBJECTIVES
from moefleet.state import StateStore


@cli.command()
@inventory_option
@limit_option
@click.option(
    "--objective",
    type=click.Choice(OBJECTIVES),
    default="balanced",
    show_default=True,
    help="What to optimise.",
)
@click.option(
    "--context",
    type=click.IntRange(256),
    default=8192,
    show_default=True,
    help="Context length per sequence (tokens).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Concurrent sequences per deployment (llama.cpp -np, vLLM max-num-seqs).",
)
@click.option(
    "--model", "model_ids", multiple=True, help="Only consider this catalog model (repeatable)."
)
@click.option(
    "--want",
    multiple=True,
    metavar="MODEL=N",
    help="Serve N replicas of MODEL across the fleet (repeatable).",
)
@click.option("--no-fill", is_flag=True, help="With --want: leave spare capacity idle.")
@click.option(
    "--min-tps", type=float, default=None, help="Reject options slower than this (decode tok/s)."
)
@click.option(
    "--engine",
    "engines",
    multiple=True,
    type=click.Choice(["llama.cpp", "vllm"]),
    help="Only these engines (default both).",
)
@click.option(
    "--kv-type",
    type=click.Choice(["f16", "q8_0", "q4_0"]),
    default="f16",
    show_default=True,
    help="llama.cpp KV cache type (quantized needs flash attention).",
)
@click.option(
    "--allow-risky-quants",
    is_flag=True,
    help="Consider Q2/Q3 mixes on MoE (routing-collapse risk).",
)
@click.option(
    "--trust-remote-code", is_flag=True, help="Allow models that need vLLM --trust-remote-code."
)
@click.option(
    "--catalog",
    "catalog_files",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Extra model catalog TOML (repeatable).",
)
@click.option(
    "--what-if",
    "what_if",
    multiple=True,
    metavar="HARDWARE",
    help='Plan for hardware not bought yet, e.g. "2x RTX 3090, 64GB" (repeatable).',
)
@click.option(
    "--explain",
    "explain_host",
    default=None,
    metavar="HOST",
    help="Show every candidate for HOST and why each lost.",
)
@click.option(
    "--alternatives",
    type=click.IntRange(0),
    default=3,
    show_default=True,
    help="Runners-up shown per deployment.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the plan as TOML (for review and `deploy --plan-file`).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.pass_obj
def plan(
    obj: dict[str, Path],
    inventory_path: Path | None,
    limit: str | None,
    objective: str,
    context: int,
    concurrency: int,
    model_ids: tuple[str, ...],
    want: tuple[str, ...],
    no_fill: bool,
    min_tps: float | None,
    engines: tuple[str, ...],
    kv_type: str,
    allow_risky_quants: bool,
    trust_remote_code: bool,
    catalog_files: tuple[Path, ...],
    what_if: tuple[str, ...],
    explain_host: str | None,
    alternatives: int,
    output: Path | None,
    as_json: bool,
) -> None:
    """Pick model, quantization, engine and flags for every host from its probed facts, with
    predicted VRAM, RAM and tokens/s and the reasons for every choice."""
    from moefleet import planning  # noqa: PLC0415 (keeps `moefleet probe` start-up lean)
    from moefleet.bench.fleet import calibration_from_record  # noqa: PLC0415
    from moefleet.catalog.load import load_catalog  # noqa: PLC0415
    from moefleet.plan.demand import Demand  # noqa: PLC0415
    from moefleet.plan.report import explain_data, plan_data  # noqa: PLC0415
    from moefleet.views.plan import explain_view, plan_view  # noqa: PLC0415

    catalog = load_catalog(catalog_files)
    demand = Demand(
        objective=objective,  # type: ignore[arg-type]
        context=context,
        concurrency=concurrency,
        models=model_ids,
        replicas=planning.parse_replicas(want, catalog),
        min_decode_tps=min_tps,
        engines=engines or ("llama.cpp", "vllm"),  # type: ignore[arg-type]
        allow_risky_quants=allow_risky_quants,
        trust_remote_code=trust_remote_code,
        kv_type=kv_type,
        alternatives=alternatives,
        fill_spare=not no_fill,
    )
    calibration = None
    if what_if:
        plan_input = planning.nodes_from_what_if(what_if, catalog)
    else:
        inventory = _inventory(inventory_path)
        hosts = select_hosts(inventory, limit)
        with StateStore(obj["state_path"]) as state:
            probes = state.latest_probes(hosts)
            calibration = calibration_from_record(state.calibration())
        plan_input = planning.nodes_from_probes(hosts, probes, catalog)
    result = planning.make_plan(plan_input, catalog, demand, calibration)
    data = plan_data(result)
    if plan_input.skipped:
        data["skipped"] = {host: reason for host, reason in plan_input.skipped}
    if explain_host is not None:
        node_result = result.results.get(explain_host)
        if node_result is None:
            known = ", ".join(result.results) or "none"
            raise MoefleetError(
                f"--explain: no planned host {explain_host!r}", f"planned hosts: {known}"
            )
        explained = explain_data(node_result, demand)
        if as_json:
            click.echo(json.dumps(explained, indent=2))
        else:
            stdout.print(explain_view(explained))
        return
    if output is not None:
        planning.write_plan(output, data)
        stderr.print(f"plan written to {output}")
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        stdout.print(plan_view(data))
        for host, reason in plan_input.skipped:
            stderr.print(Text(f"skipped {host}: {reason}", style="yellow"))
    unmet = bool(plan_input.skipped or result.shortfalls or not result.deployments)
    sys.exit(EXIT_HOSTS_FAILED if unmet else EXIT_OK)
