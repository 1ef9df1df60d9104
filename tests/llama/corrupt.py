"""Deliberately damaged copies of tiny GGUF models (for the audit and the quality gate).

The file is copied byte for byte and one expert's slice of one stacked expert tensor is
overwritten in place (F16 only): scrambled (a permutation: cosine ~0) or scaled by noise to a
chosen cosine, as seed 002's bad expert (0.78) was.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader


def corrupt_expert(
    source: Path,
    dest: Path,
    layer: int,
    expert: int,
    projection: str = "ffn_down_exps",
    noise: float | None = None,
    seed: int = 0,
) -> Path:
    """Copy ``source`` to ``dest`` with ``blk.{layer}.{projection}`` expert ``expert`` damaged:
    permuted when ``noise`` is None, else mixed with Gaussian noise of that relative size."""
    shutil.copyfile(source, dest)
    reader = GGUFReader(dest)
    name = f"blk.{layer}.{projection}.weight"
    tensor = next(t for t in reader.tensors if t.name == name)
    if tensor.tensor_type != GGMLQuantizationType.F16:
        raise ValueError(f"{name} is {tensor.tensor_type.name}: corrupt the F16 file")
    n_expert = int(tensor.shape[-1])
    per_expert = int(tensor.n_elements) // n_expert
    start = tensor.data_offset + expert * per_expert * 2
    rng = np.random.default_rng(seed)
    with dest.open("r+b") as handle:
        handle.seek(start)
        values = np.frombuffer(handle.read(per_expert * 2), dtype=np.float16).astype(np.float32)
        if noise is None:
            damaged = rng.permutation(values)
        else:
            damaged = values + rng.normal(0.0, noise * float(values.std()), values.shape)
        handle.seek(start)
        handle.write(damaged.astype(np.float16).tobytes())
    return dest


def scale_tensor(source: Path, dest: Path, name: str, factor: float) -> Path:
    """Copy ``source`` with F16 tensor ``name`` multiplied by ``factor`` (e.g. a sharper
    output layer, so that a random-weight model has confident next-token choices)."""
    shutil.copyfile(source, dest)
    tensor = next(t for t in GGUFReader(dest).tensors if t.name == name)
    if tensor.tensor_type != GGMLQuantizationType.F16:
        raise ValueError(f"{name} is {tensor.tensor_type.name}: scale the F16 file")
    size = int(tensor.n_elements) * 2
    with dest.open("r+b") as handle:
        handle.seek(tensor.data_offset)
        values = np.frombuffer(handle.read(size), dtype=np.float16).astype(np.float32)
        handle.seek(tensor.data_offset)
        handle.write((values * factor).astype(np.float16).tobytes())
    return dest
