"""GGML tensor types: elements per block and bytes per block.

Values are ggml's (``GGML_QUANT_SIZES`` in gguf-py ``gguf/constants.py``); a test checks this
table against the installed ``gguf`` package, which is not imported here because it pulls in
NumPy and the planner must start fast.
"""

from __future__ import annotations

from functools import cache
from math import ceil

#: type -> (elements per block, bytes per block)
BLOCK: dict[str, tuple[int, int]] = {
    "F32": (1, 4),
    "F16": (1, 2),
    "BF16": (1, 2),
    "Q4_0": (32, 18),
    "Q4_1": (32, 20),
    "Q5_0": (32, 22),
    "Q5_1": (32, 24),
    "Q8_0": (32, 34),
    "Q8_1": (32, 40),
    "Q2_K": (256, 84),
    "Q3_K": (256, 110),
    "Q4_K": (256, 144),
    "Q5_K": (256, 176),
    "Q6_K": (256, 210),
    "Q8_K": (256, 292),
    "IQ1_S": (256, 50),
    "IQ1_M": (256, 56),
    "IQ2_XXS": (256, 66),
    "IQ2_XS": (256, 74),
    "IQ2_S": (256, 82),
    "IQ3_XXS": (256, 98),
    "IQ3_S": (256, 110),
    "IQ4_NL": (32, 18),
    "IQ4_XS": (256, 136),
    "TQ1_0": (256, 54),
    "TQ2_0": (256, 66),
    "MXFP4": (32, 17),
    "NVFP4": (64, 36),
    "Q1_0": (128, 18),
}

#: If a tensor's rows do not split into blocks of the target type, llama-quantize falls back
#: (``tensor_type_fallback`` in llama.cpp ``src/llama-quant.cpp``).
FALLBACK: dict[str, str] = {
    "IQ1_S": "IQ4_NL",
    "IQ1_M": "IQ4_NL",
    "IQ2_XXS": "IQ4_NL",
    "IQ2_XS": "IQ4_NL",
    "IQ2_S": "IQ4_NL",
    "IQ3_XXS": "IQ4_NL",
    "IQ3_S": "IQ4_NL",
    "IQ4_XS": "IQ4_NL",
    "Q2_K": "Q4_0",
    "Q3_K": "Q4_0",
    "TQ1_0": "Q4_0",
    "TQ2_0": "Q4_0",
    "Q4_K": "Q5_0",
    "Q5_K": "Q5_1",
    "Q6_K": "Q8_0",
}


def bits_per_weight(type_name: str) -> float:
    """Storage bits per weight of a type, block scales included (Q4_K: 4.5)."""
    elements, size = BLOCK[type_name]
    return size * 8 / elements


@cache
def tensor_bytes(type_name: str, elements: int) -> int:
    """Bytes a tensor of ``elements`` weights takes in ``type_name``."""
    block_elements, block_bytes = BLOCK[type_name]
    return ceil(elements / block_elements) * block_bytes


def fits_rows(type_name: str, row_length: int) -> str:
    """The type llama-quantize really uses for rows of ``row_length``: the target, its
    fallback, or F16 when neither divides the row."""
    if row_length % BLOCK[type_name][0] == 0:
        return type_name
    fallback = FALLBACK.get(type_name, type_name)
    return fallback if row_length % BLOCK[fallback][0] == 0 else "F16"
