"""Per-tensor, per-expert weight audit of a quantized GGUF against its reference.

Seed 002: one expert matrix at cosine 0.78 after quantization turned a whole MoE into garbage
while every aggregate number looked fine. This dequantizes every tensor of the candidate and
the reference (``gguf`` package, memory-mapped, one tensor at a time so a 30B model never needs
60 GB of RAM) and reports the cosine similarity — per expert for the stacked expert tensors
(``blk.N.ffn_{gate,up,down}_exps``), per router (``ffn_gate_inp``) — flagging those below a
threshold (default 0.98), worst first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from gguf import GGUFReader, ReaderTensor
from gguf.quants import dequantize

from moefleet.errors import MoefleetError

DEFAULT_THRESHOLD = 0.98
_EXPERTS = re.compile(r"^blk\.(\d+)\.(ffn_(?:gate|up|down)_exps)\.weight$")
_BLOCK = re.compile(r"^blk\.(\d+)\.(.+?)(?:\.weight)?$")


class AuditError(MoefleetError):
    """Files that cannot be compared (missing tensors, different shapes, unreadable)."""


@dataclass(frozen=True)
class TensorScore:
    """Cosine similarity of one tensor (or one expert's slice of it)."""

    tensor: str
    layer: int | None
    part: str
    """projection or tensor name within the block, e.g. ffn_down_exps, attn_q, ffn_gate_inp"""
    expert: int | None
    cosine: float
    candidate_type: str
    reference_type: str

    def flagged(self, threshold: float) -> bool:
        return self.cosine < threshold


def _open(path: Path) -> GGUFReader:
    try:
        return GGUFReader(path)
    except (OSError, ValueError) as exc:
        raise AuditError(f"cannot read GGUF {path}: {exc}") from exc


def _values(tensor: ReaderTensor) -> np.ndarray:
    """The tensor dequantized to float32, in numpy (ggml order reversed) shape."""
    data = dequantize(tensor.data, tensor.tensor_type)
    shape = tuple(int(n) for n in reversed(tensor.shape.tolist()))
    return np.asarray(data, dtype=np.float32).reshape(shape)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two arrays (1.0 for two all-zero arrays)."""
    a64, b64 = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    norms = float(np.linalg.norm(a64) * np.linalg.norm(b64))
    if norms == 0.0:
        return 1.0 if not a64.any() and not b64.any() else 0.0
    return float(np.dot(a64, b64) / norms)


def _scores(name: str, cand: ReaderTensor, ref: ReaderTensor) -> Iterator[TensorScore]:
    a, b = _values(cand), _values(ref)
    if a.shape != b.shape:
        raise AuditError(f"{name}: shape {a.shape} in the candidate, {b.shape} in the reference")
    types = (cand.tensor_type.name, ref.tensor_type.name)
    experts = _EXPERTS.match(name)
    if experts is not None:
        for index in range(a.shape[0]):  # numpy shape (n_expert, rows, cols)
            yield TensorScore(
                name, int(experts[1]), experts[2], index, cosine(a[index], b[index]), *types
            )
        return
    block = _BLOCK.match(name)
    layer, part = (int(block[1]), block[2]) if block else (None, name.removesuffix(".weight"))
    yield TensorScore(name, layer, part, None, cosine(a, b), *types)


def audit_gguf(
    candidate: Path,
    reference: Path,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[TensorScore]:
    """Scores for every tensor of ``candidate`` (matched by name in ``reference``), worst
    first. ``progress(done, total, name)`` is called after each tensor."""
    cand, ref = _open(candidate), _open(reference)
    ref_by_name = {t.name: t for t in ref.tensors}
    missing = [t.name for t in cand.tensors if t.name not in ref_by_name]
    if missing:
        raise AuditError(
            f"{len(missing)} tensors of {candidate.name} are not in {reference.name}: "
            + ", ".join(missing[:5]),
            "compare a quantized file with the F16/BF16 file it was made from",
        )
    scores: list[TensorScore] = []
    total = len(cand.tensors)
    for done, tensor in enumerate(cand.tensors, 1):
        scores.extend(_scores(tensor.name, tensor, ref_by_name[tensor.name]))
        if progress is not None:
            progress(done, total, tensor.name)
    return sorted(scores, key=lambda s: (s.cosine, s.tensor, s.expert or 0))
