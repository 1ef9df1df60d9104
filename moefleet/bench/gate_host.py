"""The quality gate's candidate side, run ON the host (stdlib only, Python >= 3.8).

Shipped by ``moefleet deploy --quality-reference`` next to the server it judges: the server
listens on the host's loopback, which the controller may not reach. It replays the reference's
recorded steps (prompt prefix, reference token, reference top-N log-probabilities) against the
local llama-server's ``/completion`` and prints one JSON line; exit status 0 passes, 4 fails.
``truncated_kl`` is also the controller's definition (``moefleet.bench.quality`` imports it).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import urllib.request

FAIL = 4


def truncated_kl(reference: dict[int, float], candidate: dict[int, float]) -> float:
    """KL(P || Q) over P's top tokens plus a rest bucket; a token missing from the candidate's
    top-N gets the candidate's N-th probability (an upper bound: the KL can only shrink)."""
    if not candidate:
        return math.inf
    floor = min(candidate.values())
    p = {t: math.exp(lp) for t, lp in reference.items()}
    q = {t: math.exp(candidate.get(t, floor)) for t in reference}
    kl = sum(p[t] * math.log(p[t] / q[t]) for t in p if p[t] > 0)
    p_rest = max(0.0, 1.0 - sum(p.values()))
    q_rest = max(1e-12, 1.0 - sum(q.values()))
    if p_rest > 1e-12:
        kl += p_rest * math.log(p_rest / q_rest)
    return max(0.0, kl)


def _top(url: str, key: str | None, prefix: list[int], n_probs: int) -> dict[int, float]:
    body = {"prompt": prefix, "n_predict": 1, "n_probs": n_probs, "temperature": 0.0,
            "top_k": 1, "samplers": ["top_k"], "cache_prompt": True}  # fmt: skip
    request = urllib.request.Request(  # noqa: S310 - an http:// URL on the host's loopback
        url + "/completion",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    if key:
        request.add_header("Authorization", "Bearer " + key)
    with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - loopback URL
        data = json.loads(response.read())
    probs = data.get("completion_probabilities") or [{}]
    return {int(t["id"]): float(t["logprob"]) for t in probs[0].get("top_logprobs", ())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--steps", required=True)
    parser.add_argument("--key-file")
    parser.add_argument("--fail-top1", type=float, default=0.80)
    parser.add_argument("--fail-kl", type=float, default=0.15)
    args = parser.parse_args()
    key = None
    if args.key_file:
        with open(args.key_file) as handle:
            key = handle.read().strip()
    with open(args.steps) as handle:
        reference = json.load(handle)
    agree, kls = 0, []
    for step in reference["steps"]:
        candidate = _top(args.url, key, step["prefix"], reference["n_probs"])
        top = {int(t): lp for t, lp in step["top"].items()}
        best = max(candidate, key=lambda t: candidate[t]) if candidate else None
        agree += int(best == step["token"])
        if candidate:
            kls.append(truncated_kl(top, candidate))
    steps = len(reference["steps"]) or 1
    top1, kl = agree / steps, (sum(kls) / len(kls) if kls else math.inf)
    passed = top1 >= args.fail_top1 and kl <= args.fail_kl
    print(json.dumps({"steps": steps, "top1_agreement": top1, "mean_kl": kl, "passed": passed}))
    sys.exit(0 if passed else FAIL)


if __name__ == "__main__":
    main()
