"""Quality gate: does a candidate deployment predict the same tokens as a reference?

The reference (a higher-precision deployment of the same model) greedily decodes a fixed
prompt set, recording its top-N token log-probabilities at every step. The candidate is then
fed the same prefixes (prompt + the reference's tokens so far, "teacher forcing") and asked for
its own top-N at each step. Reported:

- top-1 agreement: the share of steps where the candidate's most likely token is the
  reference's token;
- truncated KL(reference || candidate), in nats, averaged over steps: over the reference's
  top-N tokens plus one "rest" bucket holding the remaining probability. A token missing from
  the candidate's top-N gets the candidate's N-th probability (an upper bound of its true
  probability), so truncation can only make the KL smaller, never flag a good candidate.
- JSON validity: the share of answers to structured-output prompts that parse as JSON.

Uses llama-server's native ``/completion`` (``n_probs``); thresholds live in ``GateLimits``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from moefleet.bench.client import auth_headers
from moefleet.bench.gate_host import truncated_kl
from moefleet.errors import MoefleetError

#: Prompts whose answer should be JSON (the gate's structured-output check).
JSON_PROMPTS: tuple[str, ...] = (
    'Reply with only a JSON object {"ok": true}.',
    "Reply with only a JSON list of three integers, like [1, 2, 3].",
    'Reply with only JSON: {"host": "gpu01", "gpus": 2}.',
)


class QualityError(MoefleetError):
    """A server that did not answer the gate's requests."""


@dataclass(frozen=True)
class GateLimits:
    """Warn / fail thresholds. The noise floor of two identical llama.cpp deployments is
    agreement 1.0 and KL 0 (measured in the tests), so any drift is the quantization's. The
    defaults are moefleet's judgement for real models: 4-5 bit mixes typically keep 90-95%
    top-token agreement and a KL of a few hundredths against 16-bit, while 2-bit mixes and
    damaged experts fall far below; tune them per model with ``--gate-*``."""

    warn_top1: float = 0.90
    fail_top1: float = 0.80
    warn_kl: float = 0.05
    fail_kl: float = 0.15


@dataclass(frozen=True)
class Step:
    """The reference's choice at one position, and its top-N log-probabilities."""

    prefix: tuple[int, ...]
    token: int
    top: dict[int, float]


@dataclass(frozen=True)
class GateResult:
    """What the gate measured and its verdict."""

    steps: int
    top1_agreement: float
    mean_kl: float
    json_valid: float | None
    verdict: str
    reasons: tuple[str, ...] = field(default=())

    @property
    def passed(self) -> bool:
        return self.verdict != "fail"


def _complete(client: httpx.Client, url: str, body: dict[str, Any]) -> dict[str, Any]:
    try:
        response = client.post(f"{url}/completion", json=body)
    except httpx.HTTPError as exc:
        raise QualityError(f"{url}: {type(exc).__name__}: {exc}") from exc
    if response.status_code != 200:
        raise QualityError(f"{url}: HTTP {response.status_code} from /completion")
    data: dict[str, Any] = response.json()
    return data


def _greedy(n_probs: int, prompt: Sequence[int], n_predict: int) -> dict[str, Any]:
    return {
        "prompt": list(prompt),
        "n_predict": n_predict,
        "n_probs": n_probs,
        "temperature": 0.0,
        "top_k": 1,
        "samplers": ["top_k"],
        "return_tokens": True,
        "cache_prompt": True,
    }


def _top(entry: dict[str, Any]) -> dict[int, float]:
    return {int(t["id"]): float(t["logprob"]) for t in entry.get("top_logprobs", ())}


def steps_document(steps: list[Step], n_probs: int) -> dict[str, Any]:
    """The recorded reference, as the host-side gate (``gate_host.py``) reads it."""
    return {
        "n_probs": n_probs,
        "steps": [
            {
                "prefix": list(s.prefix),
                "token": s.token,
                "top": {str(t): lp for t, lp in s.top.items()},
            }
            for s in steps
        ],
    }


def reference_steps(
    url: str, prompts: Sequence[Sequence[int]], n_predict: int, n_probs: int, api_key: str | None
) -> list[Step]:
    """Greedy-decode every prompt on the reference, keeping its top-N at each step."""
    steps: list[Step] = []
    with httpx.Client(headers=auth_headers(api_key), timeout=120.0) as client:
        for prompt in prompts:
            data = _complete(client, url, _greedy(n_probs, prompt, n_predict))
            prefix = list(prompt)
            for entry in data.get("completion_probabilities", ()):
                steps.append(Step(tuple(prefix), int(entry["id"]), _top(entry)))
                prefix.append(int(entry["id"]))
    return steps


def _json_valid(url: str, api_key: str | None, n_predict: int) -> float:
    valid = 0
    with httpx.Client(headers=auth_headers(api_key), timeout=120.0) as client:
        for prompt in JSON_PROMPTS:
            body = {"messages": [{"role": "user", "content": prompt}], "max_tokens": n_predict,
                    "temperature": 0.0}  # fmt: skip
            try:
                answer = client.post(f"{url}/v1/chat/completions", json=body).json()
                text = answer["choices"][0]["message"]["content"]
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                raise QualityError(f"{url}: structured-output prompt failed: {exc}") from exc
            try:
                json.loads(text.strip().removeprefix("```json").removesuffix("```"))
                valid += 1
            except ValueError:
                pass
    return valid / len(JSON_PROMPTS)


def run_gate(
    reference_url: str,
    candidate_url: str,
    prompts: Sequence[Sequence[int]],
    n_predict: int = 16,
    n_probs: int = 10,
    api_key: str | None = None,
    limits: GateLimits | None = None,
    check_json: bool = True,
) -> GateResult:
    """Compare ``candidate_url`` with ``reference_url`` on ``prompts`` (token ids)."""
    limits = limits or GateLimits()
    steps = reference_steps(reference_url, prompts, n_predict, n_probs, api_key)
    if not steps:
        raise QualityError(f"{reference_url}: the reference produced no tokens")
    agree, kls = 0, []
    with httpx.Client(headers=auth_headers(api_key), timeout=120.0) as client:
        for step in steps:
            data = _complete(client, candidate_url, _greedy(n_probs, step.prefix, 1))
            probs = data.get("completion_probabilities") or [{}]
            candidate = _top(probs[0])
            best = max(candidate, key=lambda t: candidate[t]) if candidate else None
            agree += int(best == step.token)
            if candidate:  # no top-N at all (the candidate stopped): a disagreement, no KL
                kls.append(truncated_kl(step.top, candidate))
    top1, kl = agree / len(steps), (sum(kls) / len(kls) if kls else math.inf)
    json_rate = _json_valid(candidate_url, api_key, 48) if check_json else None
    return _verdict(len(steps), top1, kl, json_rate, limits)


def _verdict(
    steps: int, top1: float, kl: float, json_rate: float | None, limits: GateLimits
) -> GateResult:
    reasons = []
    verdict = "pass"
    if top1 < limits.fail_top1 or kl > limits.fail_kl:
        verdict = "fail"
    elif top1 < limits.warn_top1 or kl > limits.warn_kl:
        verdict = "warn"
    if verdict != "pass":
        reasons.append(
            f"top-1 agreement {top1:.1%} (warn < {limits.warn_top1:.0%}, fail < "
            f"{limits.fail_top1:.0%}), KL {kl:.3f} nats (warn > {limits.warn_kl}, fail > "
            f"{limits.fail_kl})"
        )
    return GateResult(steps, top1, kl, json_rate, verdict, tuple(reasons))
