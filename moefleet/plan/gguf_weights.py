"""Exact weights from a local GGUF file's header: every tensor's real type and size.

For a file at hand the planner need not predict llama-quantize's choices: the header lists
each tensor's type. The same ``ModelWeights`` comes out, so placement and speed work on it
unchanged (``moefleet plan`` can be told about a file with ``models add``).
"""

from __future__ import annotations

import re
from pathlib import Path

from moefleet.catalog.from_gguf import spec_from_gguf
from moefleet.catalog.model import ModelSpec
from moefleet.plan.tensors import Tensor, classify
from moefleet.plan.weights import ModelWeights, weights_from_types

_BLOCK = re.compile(r"^blk\.(\d+)\.")


def weights_of_gguf(
    path: Path | str, model_id: str | None = None
) -> tuple[ModelSpec, ModelWeights]:
    """The file's ModelSpec and its exact ModelWeights (mix named after the file type)."""
    spec, table = spec_from_gguf(path, model_id)
    tensors = []
    for entry in table:
        block = _BLOCK.match(entry.name)
        tensors.append(
            Tensor(entry.name, entry.shape, classify(entry.name), int(block[1]) if block else None)
        )
    mix = spec.native_gguf if spec.native_gguf else "GGUF"
    return spec, weights_from_types(spec, mix, tensors, [entry.type for entry in table])
