"""Quality proxies the planner ranks candidates by (documented heuristics, replaceable).

- Model: the catalog's ``quality`` score when one is given, else ``sqrt(total x active)``
  parameters in billions — seed 001's rule of thumb for a MoE's dense-equivalent size (a
  30B-A3B behaves roughly like a 10B dense model). Only the ordering matters.
- Quantization: a multiplier per format, ordered like the perplexity increases llama.cpp's
  quantize README reports for each mix (Q8_0 ≈ lossless, Q4_K_M the usual sweet spot, Q3 and
  below visibly worse); a model's native format (gpt-oss ships MXFP4 experts) counts as 1.0.
"""

from __future__ import annotations

from math import sqrt

from moefleet.catalog.model import ModelSpec

FORMAT_QUALITY: dict[str, float] = {
    "BF16": 1.0,
    "F16": 1.0,
    "FP8": 0.995,
    "Q8_0": 0.995,
    "Q6_K": 0.99,
    "Q5_K_M": 0.98,
    "Q5_K_S": 0.975,
    "Q5_0": 0.97,
    "Q4_K_M": 0.96,
    "AWQ": 0.96,
    "NVFP4": 0.96,
    "GPTQ": 0.955,
    "MXFP4": 0.955,
    "MXFP4_MOE": 0.955,
    "Q4_K_S": 0.95,
    "IQ4_XS": 0.95,
    "IQ4_NL": 0.95,
    "Q4_0": 0.92,
    "Q3_K_L": 0.75,
    "IQ3_M": 0.72,
    "Q3_K_M": 0.70,
    "IQ3_S": 0.68,
    "IQ3_XS": 0.64,
    "IQ3_XXS": 0.62,
    "Q3_K_S": 0.60,
    "Q2_K": 0.42,
    "IQ2_M": 0.40,
    "Q2_K_S": 0.38,
    "IQ2_S": 0.35,
    "IQ2_XS": 0.32,
    "IQ2_XXS": 0.30,
    "IQ1_M": 0.2,
    "IQ1_S": 0.15,
}
#: Mixes that risk routing collapse on MoE models (seed 000): allowed only on request. The
#: same set is flagged ``moe_risky`` in the packaged quants.toml (a test keeps them equal).
RISKY_ON_MOE = frozenset(
    {"Q2_K", "Q2_K_S", "Q3_K_S", "Q3_K_M", "Q3_K_L", "IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS",
     "IQ2_S", "IQ2_M", "IQ3_XXS", "IQ3_XS", "IQ3_S", "IQ3_M"}
)  # fmt: skip
DEFAULT_FORMAT_QUALITY = 0.9


def model_quality(model: ModelSpec) -> float:
    """The model's quality proxy (higher is better)."""
    if model.quality is not None:
        return model.quality
    return sqrt(model.total_params_b * model.active_params_b)


def format_quality(model: ModelSpec, fmt: str) -> float:
    """Multiplier for serving ``model`` in ``fmt``."""
    if fmt == model.native_gguf or (fmt == "MXFP4" and model.native_gguf == "MXFP4_MOE"):
        return 1.0
    return FORMAT_QUALITY.get(fmt, DEFAULT_FORMAT_QUALITY)


def quality(model: ModelSpec, fmt: str) -> float:
    return model_quality(model) * format_quality(model, fmt)
