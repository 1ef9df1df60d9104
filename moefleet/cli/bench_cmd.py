"""``moefleet bench``, ``calibrate``, ``report`` and ``audit``: measuring deployments."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.progress import Progress

from moefleet.cli.app import EXIT_HOSTS_FAILED, EXIT_OK, FILE_PATH, cli, file_option, stderr, stdout
from moefleet.errors import MoefleetError
from moefleet.inventory import load_inventory, select_hosts
from moefleet.state import StateStore
from moefleet.transport import ConnectOptions


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
@file_option("--api-key-file", help="File holding the API key (the key is never printed).")
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
@file_option("--raw", help="Write every request's timestamps as JSONL.")
@file_option("--html", "html_path", help="Write an HTML report with charts.")
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


@cli.group()
def gate() -> None:
    """The quality gate: record a reference, judge candidates against it."""


@gate.command("record")
@click.option("--url", required=True, help="The reference server (a higher-precision deployment).")
@file_option("--api-key-file", help="File holding the API key (the key is never printed).")
@click.option("--prompts", type=click.IntRange(1), default=8, show_default=True)
@click.option("--prompt-tokens", type=click.IntRange(1), default=16, show_default=True)
@click.option("--n-predict", type=click.IntRange(1), default=16, show_default=True)
@click.option("--n-probs", type=click.IntRange(1), default=10, show_default=True)
@click.option("-o", "--output", type=FILE_PATH, required=True)
def gate_record(
    url: str,
    api_key_file: Path | None,
    prompts: int,
    prompt_tokens: int,
    n_predict: int,
    n_probs: int,
    output: Path,
) -> None:
    """Greedy-decode a fixed prompt set on the reference, keeping its top-N log-probabilities
    at every step (for `moefleet deploy --quality-reference`)."""
    import random  # noqa: PLC0415

    from moefleet.bench.quality import reference_steps, steps_document  # noqa: PLC0415
    from moefleet.bench.runner import read_api_key  # noqa: PLC0415

    key = read_api_key(api_key_file) if api_key_file else None
    rng = random.Random(0)  # noqa: S311 - a fixed prompt set, not a secret
    prompt_set = [[rng.randint(10, 200) for _ in range(prompt_tokens)] for _ in range(prompts)]
    steps = reference_steps(url, prompt_set, n_predict, n_probs, key)
    output.write_text(json.dumps(steps_document(steps, n_probs)), encoding="utf-8")
    stdout.print(f"{len(steps)} reference steps from {len(prompt_set)} prompts written to {output}")
