"""The command line: one function per command. The only module that prints or exits."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from moefleet import __version__
from moefleet.errors import MoefleetError
from moefleet.inventory import Host, Inventory, default_inventory, load_inventory, select_hosts
from moefleet.plan.demand import OBJECTIVES
from moefleet.probe import HostProbe, ProbeOptions, gather_facts
from moefleet.state import StateStore, default_state_path
from moefleet.transport import ConnectOptions
from moefleet.views.probe import host_panel, summary_line

EXIT_OK, EXIT_ERROR, EXIT_HOSTS_FAILED = 0, 1, 2
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


@cli.command()
@click.option(
    "-i",
    "--inventory",
    "inventory_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Inventory TOML (default: this machine).",
)
@click.option("--limit", default=None, help="Host pattern (names, groups, globs, !x, &y).")
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


def _int_list(text: str | None, option: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()] if text else []
    except ValueError:
        raise click.BadParameter(
            f"expected numbers separated by commas, got {text!r}", param_hint=option
        ) from None


def _float_list(text: str | None, option: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()] if text else []
    except ValueError:
        raise click.BadParameter(
            f"expected numbers separated by commas, got {text!r}", param_hint=option
        ) from None


@cli.command()
@click.option("--url", default=None, help="Base URL of an OpenAI-compatible server.")
@click.option(
    "-i",
    "--inventory",
    "inventory_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Bench every deployment `moefleet deploy` made on these hosts (and store it).",
)
@click.option("--limit", default=None, help="With -i: host pattern.")
@click.option(
    "--model", "model_name", default=None, help="Model name to send (default: the server's first)."
)
@click.option(
    "--api-key-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="File holding the API key (the key is never printed).",
)
@click.option("--concurrency", default=None, help="Concurrent streams per level, e.g. 1,4,16.")
@click.option("--rate", default=None, help="Poisson request rates per level (req/s), e.g. 2,8.")
@click.option(
    "--requests", type=click.IntRange(1), default=32, show_default=True, help="Requests per level."
)
@click.option(
    "--warmup",
    type=click.IntRange(0),
    default=2,
    show_default=True,
    help="Warm-up requests per level.",
)
@click.option("--deadline", type=float, default=None, help="Seconds per level before stopping.")
@click.option("--input-tokens", type=click.IntRange(1), default=128, show_default=True)
@click.option("--output-tokens", type=click.IntRange(1), default=128, show_default=True)
@click.option(
    "--real-prompts",
    is_flag=True,
    help="Use the built-in real prompts (chat) instead of synthetic ones.",
)
@click.option("--slo", default=None, help="Goodput SLOs, e.g. ttft=500ms,tpot=50ms.")
@click.option(
    "--raw",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write every request's timestamps as JSONL.",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write an HTML report with charts.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.pass_obj
def bench(
    obj: dict[str, Path],
    url: str | None,
    inventory_path: Path | None,
    limit: str | None,
    model_name: str | None,
    api_key_file: Path | None,
    concurrency: str | None,
    rate: str | None,
    requests: int,
    warmup: int,
    deadline: float | None,
    input_tokens: int,
    output_tokens: int,
    real_prompts: bool,
    slo: str | None,
    raw: Path | None,
    html_path: Path | None,
    as_json: bool,
) -> None:
    """Load-test a server: concurrency levels and/or Poisson rates, standard latency metrics
    (TTFT, TPOT, ITL, E2E), throughput and goodput, as a table, JSON, JSONL and HTML."""
    from moefleet.bench import runner  # noqa: PLC0415 (keeps `moefleet probe` start-up lean)
    from moefleet.bench.metrics import parse_slo  # noqa: PLC0415
    from moefleet.views.bench import bench_view  # noqa: PLC0415

    levels = runner.load_levels(
        _int_list(concurrency, "--concurrency"),
        _float_list(rate, "--rate"),
        requests,
        warmup,
        deadline,
    )
    api_key = runner.read_api_key(api_key_file) if api_key_file else None
    goals = parse_slo(slo) if slo else None
    if url is None:
        if inventory_path is None:
            raise click.UsageError("give --url URL, or -i INVENTORY to bench the deployments")
        runs = _bench_deployments(obj, inventory_path, limit, levels, api_key, goals,
                                  input_tokens, output_tokens, real_prompts, as_json)  # fmt: skip
    else:
        model = model_name or runner.first_model(url, api_key)
        workload = runner.Workload(model=model, input_tokens=input_tokens,
                                   output_tokens=output_tokens, real=real_prompts)  # fmt: skip
        runs = [runner.bench_url(url, workload, levels, api_key, goals,
                                 progress=None if as_json else stderr)]  # fmt: skip
    for run in runs:
        if raw is not None:
            runner.write_jsonl(
                run, raw if len(runs) == 1 else raw.with_suffix(f".{len(runs)}.jsonl")
            )
        if html_path is not None:
            runner.write_html(run, html_path)
    if as_json:
        click.echo(json.dumps([run.summary() for run in runs] if url is None else runs[0].summary(),
                              indent=2))  # fmt: skip
    else:
        for run in runs:
            stdout.print(bench_view(run))
    failed = sum(level.metrics.failed for run in runs for level in run.levels)
    sys.exit(EXIT_HOSTS_FAILED if failed or not runs else EXIT_OK)


def _bench_deployments(
    obj: dict[str, Path],
    inventory_path: Path,
    limit: str | None,
    levels: list[Any],
    api_key: str | None,
    goals: dict[str, float] | None,
    input_tokens: int,
    output_tokens: int,
    real: bool,
    quiet: bool,
) -> list[Any]:
    """Bench every stored deployment on the selected hosts and store each result."""
    from moefleet.bench.fleet import bench_deployment  # noqa: PLC0415
    from moefleet.bench.workload import Workload  # noqa: PLC0415

    inventory = load_inventory(inventory_path)
    hosts = set(select_hosts(inventory, limit))
    options = ConnectOptions.from_settings(inventory.settings)
    runs = []
    with StateStore(obj["state_path"]) as state:
        targets = [d for d in state.deployments() if d["host"] in hosts]
        if not targets:
            raise MoefleetError(
                "no deployment to bench on these hosts", "run `moefleet deploy` first"
            )
        for deployment in targets:
            if not quiet:
                stderr.print(
                    f"bench {deployment['host']} {deployment['service']} ({deployment['url']})"
                )
            workload = Workload(model=deployment["model"], input_tokens=input_tokens,
                                output_tokens=output_tokens, real=real)  # fmt: skip
            run, record = bench_deployment(deployment, inventory.hosts.get(deployment["host"]),
                                           workload, levels, api_key, goals, options)  # fmt: skip
            state.save_benchmark(deployment["host"], deployment["service"], record)
            runs.append(run)
    return runs


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the corrections as JSON.")
@click.option("--dry-run", is_flag=True, help="Show the fit, keep the current calibration.")
@click.pass_obj
def calibrate(obj: dict[str, Path], as_json: bool, dry_run: bool) -> None:
    """Fit the planner's speed corrections per (engine, GPU, dense/MoE, offload) from every
    stored benchmark; show the error before and after; the planner uses them from then on."""
    from moefleet.bench.fleet import calibration_record, evaluate, fit, observation  # noqa: PLC0415
    from moefleet.catalog.load import load_catalog  # noqa: PLC0415

    catalog = load_catalog()
    with StateStore(obj["state_path"]) as state:
        probes = state.latest_probes()
        records = state.benchmarks()
        facts = {host: probe.facts for host, probe in probes.items()}
        found = (observation(r, facts.get(r["host"]), catalog) for r in records)
        observations = [o for o in found if o is not None]
        if not observations:
            raise MoefleetError(
                "no benchmark with a prediction to calibrate from",
                "deploy from a plan, then run `moefleet bench -i INVENTORY`",
            )
        calibration = fit(observations)
        error = evaluate(observations)
        record = calibration_record(calibration)
        if not dry_run:
            state.save_calibration(record)
    summary = {**record, "runs": error.runs, "error_before": error.before,
               "error_after": error.after, "method": error.method}  # fmt: skip
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    for entry in record["corrections"]:
        stdout.print(f"{entry['engine']} on {entry['device']} ({'MoE' if entry['moe'] else 'dense'}"
                     f"{', offload' if entry['offload'] else ''}): decode x{entry['decode']:.3f}, "
                     f"prefill x{entry['prefill']:.3f} from {entry['runs']} run(s)")  # fmt: skip
    stdout.print(f"decode error over {error.runs} run(s): {error.before:.1%} before, "
                 f"{error.after:.1%} after ({error.method})"
                 + ("" if not dry_run else " — dry run, not saved"))  # fmt: skip


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def report(obj: dict[str, Path], as_json: bool) -> None:
    """Predicted vs measured tokens/s per deployment, from the stored benchmarks."""
    with StateStore(obj["state_path"]) as state:
        records = state.benchmarks()
    rows = []
    for r in records:
        predicted = (r.get("predicted") or {}).get("decode_tps")
        measured = (r.get("measured") or {}).get("decode_tps")
        error = (predicted - measured) / measured if predicted and measured else None
        rows.append({"host": r["host"], "service": r["service"], "model": r.get("model"),
                     "format": r.get("format"), "measured_at": r["measured_at"],
                     "predicted_decode_tps": predicted, "measured_decode_tps": measured,
                     "error": error, "throttled": r.get("throttled")})  # fmt: skip
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table  # noqa: PLC0415

    table = Table(title="predicted vs measured decode tokens/s (batch 1)")
    for column in (
        "host",
        "service",
        "model",
        "predicted",
        "measured",
        "error",
        "throttled",
        "when",
    ):
        table.add_column(column)
    for row in rows:

        def fmt(v: float | None) -> str:
            return "—" if v is None else f"{v:.1f}"

        table.add_row(row["host"], row["service"], f"{row['model']} {row['format']}",
                      fmt(row["predicted_decode_tps"]), fmt(row["measured_decode_tps"]),
                      "—" if row["error"] is None else f"{row['error']:+.0%}",
                      "yes" if row["throttled"] else "", row["measured_at"])  # fmt: skip
    stdout.print(table)


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


@cli.command()
@click.option(
    "-i",
    "--inventory",
    "inventory_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Inventory TOML (default: this machine).",
)
@click.option("--limit", default=None, help="Host pattern (names, groups, globs, !x, &y).")
@click.option(
    "--plan-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
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
@click.option(
    "--api-key-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Controller file (mode 0600) with the API key the servers will require.",
)
@click.option(
    "--health-timeout",
    type=click.IntRange(1),
    default=120,
    show_default=True,
    help="Seconds a server has to become healthy before it is rolled back.",
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
    as_json: bool,
) -> None:
    """Bring every host to its planned inference server: runtime, model, config, service,
    then a health gate (health + a real completion) with rollback on failure."""
    from moefleet import planning  # noqa: PLC0415 (keeps `moefleet probe` start-up lean)
    from moefleet.bench.runner import read_api_key  # noqa: PLC0415
    from moefleet.catalog.load import load_catalog  # noqa: PLC0415
    from moefleet.deploy.planfile import parse_plan, read_plan  # noqa: PLC0415
    from moefleet.deploy.run import DeployOptions, run_deploy, summary  # noqa: PLC0415
    from moefleet.plan.demand import Demand  # noqa: PLC0415
    from moefleet.plan.report import plan_data  # noqa: PLC0415
    from moefleet.views.plan import plan_view  # noqa: PLC0415
    from moefleet.views.playbook import event_line, recap_text  # noqa: PLC0415

    inventory = _inventory(inventory_path)
    hosts = select_hosts(inventory, limit)
    api_key = read_api_key(api_key_file) if api_key_file else None
    with StateStore(obj["state_path"]) as state:
        probes = state.latest_probes(hosts)
        if plan_file is not None:
            plan = read_plan(plan_file)
        else:
            catalog = load_catalog()
            made = planning.make_plan(
                planning.nodes_from_probes(hosts, probes, catalog), catalog, Demand()
            )
            plan = parse_plan(plan_data(made), "the plan made now")
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
                check=check, diff=diff, limit=limit, forks=forks, health_timeout=health_timeout
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
        for host, problem in outcome.problems.items():
            stderr.print(Text(f"not deployed {host}: {problem}", style="yellow"), highlight=False)
    ok = outcome.report is not None and outcome.report.ok and not outcome.problems
    sys.exit(EXIT_OK if ok else EXIT_HOSTS_FAILED)


@cli.command("playbook")
@click.argument(
    "playbook_path", metavar="PLAYBOOK", type=click.Path(path_type=Path, dir_okay=False)
)
@click.option(
    "-i",
    "--inventory",
    "inventory_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Inventory TOML (default: this machine).",
)
@click.option("--limit", default=None, help="Host pattern (names, groups, globs, !x, &y).")
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


@cli.command()
@click.argument("candidate", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.argument("reference", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option(
    "--threshold",
    type=click.FloatRange(0.0, 1.0),
    default=0.98,
    show_default=True,
    help="Flag tensors / experts whose cosine similarity is below this.",
)
@click.option("--top", type=click.IntRange(1), default=25, show_default=True, help="Rows shown.")
@click.option("--json", "as_json", is_flag=True, help="Print every score as JSON.")
def audit(candidate: Path, reference: Path, threshold: float, top: int, as_json: bool) -> None:
    """Compare a quantized GGUF with its reference tensor by tensor (per expert for MoE
    experts, per router), worst first; exit 2 when anything falls below the threshold."""
    from dataclasses import asdict  # noqa: PLC0415

    from rich.progress import Progress  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    from moefleet.bench.audit import audit_gguf  # noqa: PLC0415 (numpy/gguf load only here)

    if stderr.is_terminal and not as_json:
        with Progress(console=stderr, transient=True) as progress:
            task = progress.add_task("dequantizing", total=None)

            def advance(done: int, total: int, name: str) -> None:
                progress.update(task, completed=done, total=total, description=name)

            scores = audit_gguf(candidate, reference, advance)
    else:
        scores = audit_gguf(candidate, reference)
    flagged = [s for s in scores if s.flagged(threshold)]
    if as_json:
        click.echo(json.dumps({"threshold": threshold, "flagged": len(flagged),
                               "scores": [asdict(s) for s in scores]}, indent=2))  # fmt: skip
    else:
        table = Table(title=f"{candidate.name} vs {reference.name}: worst first")
        for column in ("tensor", "layer", "part", "expert", "cosine", "types"):
            table.add_column(column)
        for score in scores[:top]:
            style = "red" if score.flagged(threshold) else ""
            table.add_row(score.tensor, "—" if score.layer is None else str(score.layer),
                          score.part, "—" if score.expert is None else str(score.expert),
                          f"{score.cosine:.4f}", f"{score.candidate_type}/{score.reference_type}",
                          style=style)  # fmt: skip
        stdout.print(table)
        stdout.print(f"{len(scores)} scored, {len(flagged)} below {threshold}")
    sys.exit(EXIT_HOSTS_FAILED if flagged else EXIT_OK)


def _register_subcommands() -> None:
    from moefleet.catalog.commands import models  # noqa: PLC0415

    cli.add_command(models)


_register_subcommands()


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
