"""Architecture and CUDA compute capability from a GPU's product name.

For sources that do not report them (the default nvidia-smi table, ``-L``, old ``-q``/XML).
Compute capabilities follow NVIDIA's "CUDA GPUs - Compute Capability" list
(https://developer.nvidia.com/cuda-gpus) and the entries of the project's planner fact base
(``/work/shared/reference/planner_facts.json`` "gpus", which cites that list and llama.cpp's
``ggml_cuda_init`` logs). Architecture names are spelled as nvidia-smi's ``product_architecture``
and NVML's ``nvmlDeviceGetArchitecture`` spell them ("Ampere", "Ada Lovelace", ...).

Rules are tried in order, so more specific names (``RTX 6000 Ada``, ``RTX A6000``) come before
the generic ones (``Quadro RTX 6000``). A name that matches no rule gives ``(None, None)``:
unknown, never a guess. Truncated table names ("NVIDIA A100-SXM...") still match when the
distinguishing part survived the truncation.
"""

from __future__ import annotations

import re

_RULES: tuple[tuple[str, str, str], ...] = (
    # Blackwell: data centre (10.x) and RTX / RTX PRO (12.0).
    (r"\bG?B300\b", "Blackwell", "10.3"),
    (r"\bG?B(100|200)\b", "Blackwell", "10.0"),
    (r"\bRTX PRO \d{4}\b.*Blackwell|\bRTX 50[5-9]0\b", "Blackwell", "12.0"),
    # Hopper.
    (r"\bG?H(100|200|800|20)\b", "Hopper", "9.0"),
    # Ada Lovelace: "RTX 6000 Ada Generation", GeForce RTX 40xx, L4/L20/L40/L40S/L40G.
    (r"\bAda\b|\bRTX 40[5-9]0\b|\bL(4|20|40|40S|40G)\b", "Ada Lovelace", "8.9"),
    # Ampere: GA100 parts (8.0), then GA10x parts (8.6).
    (r"\bA(100|30|800)\b", "Ampere", "8.0"),
    (r"\bA(2|10|10G|10M|16|40)\b|\bRTX A\d{3,4}\b|\bRTX 30[5-9]0\b", "Ampere", "8.6"),
    # Turing.
    (
        r"\bT4\b|\bQuadro RTX\b|\bTITAN RTX\b|\bRTX 20[6-8]0\b|\bGTX 16[5-6]0\b"
        r"|\bQuadro T\d{3,4}\b|\bT(400|600|1000|1200)\b",
        "Turing",
        "7.5",
    ),
    # Volta.
    (r"\bG?V100S?\b|\bTITAN V\b", "Volta", "7.0"),
    # Pascal: GP100 (6.0), then GP10x (6.1).
    (r"\bG?P100\b", "Pascal", "6.0"),
    (
        r"\bGTX 10[5-8]0\b|\bGT 1030\b|\bTITAN Xp\b|\bTITAN X \(Pascal\)|\bQuadro P\d{3,4}\b"
        r"|\bP(4|6|40)\b",
        "Pascal",
        "6.1",
    ),
    # Maxwell.
    (
        r"\bGTX 9[5-8]0\b|\bTITAN X\b|\bM(4|6|40|60)\b|\bQuadro M(2000|4000|5000|6000)\b",
        "Maxwell",
        "5.2",
    ),
    (r"\bGTX 7(45|50)\b", "Maxwell", "5.0"),
    # Kepler.
    (r"\bK80\b", "Kepler", "3.7"),
    (r"\bK(20|40)(X|Xm|m|c|s|t)?\b|\bGTX 780\b|\bGTX TITAN\b", "Kepler", "3.5"),
    (r"\bGTX 6[5-9]0\b|\bGTX 7[67]0\b|\bK10\b", "Kepler", "3.0"),
)

_COMPILED = tuple((re.compile(pattern, re.IGNORECASE), arch, cc) for pattern, arch, cc in _RULES)


def lookup_gpu(name: str) -> tuple[str | None, str | None]:
    """(architecture, compute capability) for a product name, or (None, None) when unknown."""
    for pattern, architecture, capability in _COMPILED:
        if pattern.search(name):
            return architecture, capability
    return None, None
