"""How long planning a big fleet takes: 1,000 hosts x 40 models (target: well under a second).

Hosts are drawn (fixed seed) from common configurations — 1-8 GPUs of a dozen kinds, several
RAM sizes, CPU-only boxes — as a lab or a small cloud would have them; the 40 models are the
packaged catalog plus variants of it (other depths and widths, so nothing is shared between
them). Prints cold time (empty caches: tensor inventories, quant mixes, placements all
computed), warm time (a second plan of the same fleet in the same process, as `moefleet tui`
re-plans) and the number of distinct hardware signatures. Pure CPU; no lab needed.

    python perf/plan_scale.py [--hosts 1000] [--models 40] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from moefleet.catalog.load import load_catalog  # noqa: E402
from moefleet.plan.demand import Demand  # noqa: E402
from moefleet.plan.fleet import plan_fleet  # noqa: E402
from moefleet.plan.whatif import parse_what_if  # noqa: E402

CONFIGS = [
    "RTX 4090, 64GB", "RTX 4090, 128GB", "2x RTX 3090, 64GB", "2x RTX 3090, 128GB",
    "RTX 4080 SUPER, 32GB", "RTX 3060, 32GB", "2x RTX A6000, 256GB", "4x RTX A6000, 512GB",
    "8x H100 SXM, 2TB, cpu: AMD EPYC 9654", "8x A100 SXM4 80GB, 1TB", "4x L40S, 512GB",
    "RTX 5090, 96GB", "H100 PCIe, 256GB", "64GB, 32 threads", "256GB, cpu: AMD EPYC 9654",
]  # fmt: skip


def build(n_hosts: int, n_models: int, seed: int = 7):
    catalog = load_catalog(user=False)
    base = list(catalog.models.values())
    models = list(base)
    rng = random.Random(seed)
    while len(models) < n_models:
        spec = rng.choice(base)
        variant = len(models)
        layers = max(2, spec.layers + rng.choice((-4, -2, 2, 4)))
        update = {
            "id": f"{spec.id}-v{variant}",
            "name": f"{spec.name} v{variant}",
            "layers": layers,
        }
        if spec.linear_attention is not None:
            update["layers"] = spec.layers  # keep the hybrid layer pattern valid
            update["max_context"] = spec.max_context * 2
        if spec.sliding_window is not None:
            update["layers"] = spec.layers
            update["vocab"] = spec.vocab + 64 * variant
        models.append(spec.model_copy(update=update))
    nodes = [
        parse_what_if(rng.choice(CONFIGS), catalog.find_gpu, name=f"host{i:04d}")
        for i in range(n_hosts)
    ]
    return catalog, models, nodes


def run_once(n_hosts: int, n_models: int) -> tuple[float, float, int, int]:
    """Cold and warm plan times in a fresh interpreter state (caches cleared)."""
    catalog, models, nodes = build(n_hosts, n_models)
    started = time.perf_counter()
    plan = plan_fleet(nodes, models, catalog.vllm_formats, Demand())
    cold = time.perf_counter() - started
    started = time.perf_counter()
    plan_fleet(nodes, models, catalog.vllm_formats, Demand())
    warm = time.perf_counter() - started
    signatures = len({n.signature for n in nodes})
    return cold, warm, signatures, len(plan.deployments)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--models", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        cold, warm, signatures, deployments = run_once(args.hosts, args.models)
        print(f"{cold:.4f} {warm:.4f} {signatures} {deployments}")
        return
    colds, warms = [], []
    for _ in range(args.repeat):  # a fresh process each time: no cache survives
        out = subprocess.run(
            [sys.executable, __file__, "--child", "--hosts", str(args.hosts),
             "--models", str(args.models)],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        colds.append(float(out[0]))
        warms.append(float(out[1]))
        signatures, deployments = int(out[2]), int(out[3])
    print(
        f"{args.hosts} hosts ({signatures} distinct configurations) x {args.models} models "
        f"-> {deployments} deployments"
    )
    print(
        f"plan_fleet cold: median {statistics.median(colds):.3f} s  (runs: "
        + ", ".join(f"{c:.3f}" for c in colds)
        + ")"
    )
    print(f"plan_fleet warm: median {statistics.median(warms):.3f} s")


if __name__ == "__main__":
    main()
