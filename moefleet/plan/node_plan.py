"""Plan one node: try every (model, format, engine), reject what cannot run, rank the rest.

Rules applied here, each leaving a reason the plan prints:

- quantization floor on MoE: mixes below Q4_K_S risk routing collapse (seed 000) and are only
  considered with ``allow_risky_quants``;
- engine opt-ins: models that need ``--trust-remote-code`` only with explicit consent;
- hardware: memory (see ``placement`` and ``memory_vllm``), compute capability per format,
  flash attention only on 8.0+ (``llama_option``);
- the user's minimum decode speed;
- ranking by the objective (``score``), ties broken by a fixed order so plans are stable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from moefleet.catalog.model import ModelSpec, VllmFormat
from moefleet.plan.calibration import Calibration, key_for
from moefleet.plan.demand import Demand, EngineName
from moefleet.plan.efficiency import Efficiency, for_engine
from moefleet.plan.hardware import GIB, Node
from moefleet.plan.llama_option import llama_option
from moefleet.plan.options import FULL_GPU_MODES, NodeResult, Option, Rejection
from moefleet.plan.quality import FORMAT_QUALITY, RISKY_ON_MOE, format_quality
from moefleet.plan.quant_mix import DEFAULT_TYPE
from moefleet.plan.vllm_option import vllm_option

#: Decode speed at which the "balanced" objective stops rewarding speed (tokens/s: a few times
#: reading speed; below it, the score falls in proportion).
BALANCED_SPEED_TARGET = 30.0
#: Formats at least this good (Q4_K_M's multiplier) are preferred; lower ones are a fallback
#: used only when no preferred format runs the model without offload.
PREFERRED_FLOOR = FORMAT_QUALITY["Q4_K_M"]
_SIXTEEN_BIT = {"BF16", "F16"}


def score(option: Option, demand: Demand) -> float:
    """The objective's value for an option (higher is better)."""
    if demand.objective == "quality":
        return option.quality
    if demand.objective == "throughput":
        return option.aggregate_tps
    if demand.objective == "quality-per-gb":
        return option.quality / max(0.1, option.memory_bytes / GIB)
    speed = min(option.speed.decode_tps, BALANCED_SPEED_TARGET) / BALANCED_SPEED_TARGET
    return option.quality * speed


def _tiebreak(option: Option) -> tuple[float, float, str]:
    return (option.aggregate_tps, -option.memory_bytes, option.label)


def format_order(
    model: ModelSpec, formats: Sequence[str], demand: Demand
) -> tuple[list[str], list[str]]:
    """(preferred, fallback) formats in the order they are tried for ``demand.objective``.

    Preferred: Q4_K_M or better — best first for quality and balanced ("prefer Q4_K_M, go up to
    Q6_K/Q8_0 when room allows"; 16-bit only for the quality objective), smallest first for
    throughput and quality-per-GB. Fallback: the rest, best first.
    """
    keyed = sorted(formats, key=lambda f: (-format_quality(model, f), f))
    preferred = [f for f in keyed if format_quality(model, f) >= PREFERRED_FLOOR]
    fallback = [f for f in keyed if format_quality(model, f) < PREFERRED_FLOOR]
    if demand.objective == "balanced" and any(f not in _SIXTEEN_BIT for f in preferred):
        preferred = [f for f in preferred if f not in _SIXTEEN_BIT]
    elif demand.objective in ("throughput", "quality-per-gb"):
        preferred.reverse()
    return preferred, fallback


def _policy_rejection(model: ModelSpec, fmt: str, engine: EngineName, demand: Demand) -> str | None:
    if engine == "llama.cpp" and fmt not in DEFAULT_TYPE:
        return f"unknown GGUF mix {fmt}"
    if model.is_moe and fmt in RISKY_ON_MOE and not demand.allow_risky_quants:
        return (
            "below the MoE floor Q4_K_S: routing-collapse risk "
            "(use --allow-risky-quants to consider it)"
        )
    return None


def _size(
    model: ModelSpec,
    fmt: str,
    engine: EngineName,
    node: Node,
    vllm_formats: Mapping[str, VllmFormat],
    demand: Demand,
    eff: Efficiency,
    calibration: Calibration | None = None,
) -> Option | Rejection:
    if engine == "vllm":
        if fmt not in vllm_formats:
            return Rejection(model.id, fmt, engine, f"unknown vLLM format {fmt}")
        result = vllm_option(model, vllm_formats[fmt], node, demand, eff)
    else:
        result = llama_option(model, fmt, node, demand, eff)
    if isinstance(result, Option) and calibration is not None:
        device = node.gpus[result.gpus[0]].name if result.gpus else "cpu"
        result = calibration.apply(result, key_for(result, device))
    if (
        isinstance(result, Option)
        and demand.min_decode_tps
        and result.speed.decode_tps < demand.min_decode_tps
    ):
        return Rejection(
            model.id,
            fmt,
            engine,
            f"predicted {result.speed.decode_tps:.0f} tok/s, below the "
            f"{demand.min_decode_tps:g} tok/s asked for",
        )
    return result


def _best_format(
    model: ModelSpec,
    engine: EngineName,
    node: Node,
    vllm_formats: Mapping[str, VllmFormat],
    demand: Demand,
    eff: Efficiency,
    calibration: Calibration | None = None,
) -> tuple[Option | None, list[Rejection]]:
    """The format to serve ``model`` with on ``engine`` (see ``format_order``)."""
    formats = model.gguf_formats if engine == "llama.cpp" else model.vllm_formats
    rejections: list[Rejection] = []
    allowed = []
    for fmt in formats:
        reason = _policy_rejection(model, fmt, engine, demand)
        if reason:
            rejections.append(Rejection(model.id, fmt, engine, reason))
        else:
            allowed.append(fmt)
    preferred, fallback = format_order(model, allowed, demand)
    sized: list[Option] = []
    for fmt in preferred + fallback:
        result = _size(model, fmt, engine, node, vllm_formats, demand, eff, calibration)
        if isinstance(result, Rejection):
            rejections.append(result)
            continue
        sized.append(result)
        if result.mode in FULL_GPU_MODES:
            break
    if not sized:
        return None, rejections
    # "Go up when room allows": a preferred format that fits without offload wins outright
    # (except for the quality objective, where the best format with offload competes too);
    # otherwise the best preferred format with offload competes with fallbacks that fit.
    full = [o for o in sized if o.mode in FULL_GPU_MODES]
    offload = [o for o in sized if o.mode not in FULL_GPU_MODES][:1]
    preferred_full = [o for o in full if o.fmt in preferred]
    if demand.objective == "quality":
        preferred_full = []
    finalists = [_with_score(o, demand) for o in (preferred_full or full + offload)]
    best = max(finalists, key=lambda o: (o.score, *_tiebreak(o)))
    for option in sized:
        if option.fmt != best.fmt:
            rejections.append(
                Rejection(
                    model.id,
                    option.fmt,
                    engine,
                    f"{best.fmt} preferred for this model ({_why_format(best, option)})",
                )
            )
    return best, rejections


def _why_format(best: Option, other: Option) -> str:
    if best.mode in FULL_GPU_MODES and other.mode not in FULL_GPU_MODES:
        return f"{best.fmt} fits without offload"
    if best.quality > other.quality:
        return "higher quality that fits"
    return "scores higher for the objective"


def plan_node(
    node: Node,
    models: Sequence[ModelSpec],
    vllm_formats: Mapping[str, VllmFormat],
    demand: Demand,
    efficiency: Mapping[str, Efficiency] | None = None,
    calibration: Calibration | None = None,
) -> NodeResult:
    """Every candidate for ``node`` sized, filtered and ranked by ``demand.objective``;
    speeds corrected by ``calibration`` where the fleet's benchmarks measured the group."""
    rejections: list[Rejection] = []
    options: list[Option] = []
    for model in models:
        if demand.models and model.id not in demand.models:
            continue
        for engine in demand.engines:
            eff = (efficiency or {}).get(engine) or for_engine(engine)
            best, rejected = _best_format(
                model, engine, node, vllm_formats, demand, eff, calibration
            )
            rejections.extend(rejected)
            if best is not None:
                options.append(best)
    ranked = sorted(options, key=lambda o: (o.score, *_tiebreak(o)), reverse=True)
    return NodeResult(
        node=node,
        chosen=ranked[0] if ranked else None,
        ranked=tuple(ranked),
        rejections=tuple(rejections),
        notes=node.notes,
    )


def _with_score(option: Option, demand: Demand) -> Option:
    return replace(option, score=score(option, demand))
