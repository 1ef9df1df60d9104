"""Memory that llama.cpp reports in its log: buffers per backend and the breakdown table.

llama.cpp (``llama-server -lv 4`` and the other tools) prints one line per allocated buffer
(source: ``src/llama-model.cpp``, ``src/llama-kv-cache.cpp``, ``src/llama-memory-recurrent.cpp``,
``src/llama-context.cpp``; sizes with two decimals in MiB)::

    load_tensors:        CUDA0 model buffer size =  1234.56 MiB
    llama_kv_cache:      CUDA0 KV buffer size =   512.00 MiB
    llama_memory_recurrent:  CPU RS buffer size =    12.00 MiB
    sched_reserve:       CUDA0 compute buffer size =   300.01 MiB
    llama_context:   CUDA_Host  output buffer size =     0.58 MiB

and, at startup (``-fit on``) and shutdown, a ``memory breakdown [MiB]`` table with whole MiB
per device and for the host. ``parse_llama_memory`` turns such a log into a
``LlamaMemoryReport``; lines it does not know are ignored, so any log (with or without
timestamps) can be given as is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

MIB = 1024 * 1024

BufferKind = Literal["model", "kv", "rs", "compute", "output"]
_KINDS: dict[str, BufferKind] = {
    "model": "model",
    "KV": "kv",
    "RS": "rs",
    "compute": "compute",
    "output": "output",
}
_BUFFER = re.compile(
    r"(?P<backend>[A-Za-z][\w.\-]*)\s+(?P<kind>model|KV|RS|compute|output) buffer size\s*=\s*"
    r"(?P<mib>\d+(?:\.\d+)?) MiB"
)
_KV_CACHE = re.compile(
    r"size\s*=\s*(?P<mib>[\d.]+) MiB \(\s*(?P<cells>\d+) cells,\s*(?P<layers>\d+) layers,\s*"
    r"(?P<seqs>\d+)(?:/(?P<streams>\d+))? seqs\), K \((?P<k_type>\w+)\):\s*(?P<k_mib>[\d.]+) MiB, "
    r"V \((?P<v_type>\w+)\):\s*(?P<v_mib>[\d.]+) MiB"
)
_TABLE_HEADER = re.compile(r"\|\s*memory breakdown \[MiB\]\s*\|")
_DEVICE_ROW = re.compile(
    r"\|\s*-\s*(?P<name>.+?)\s*\|\s*(?P<total>\d+)\s*=\s*(?P<free>\d+)\s*\+\s*\(\s*"
    r"(?P<self>\d+)\s*=\s*(?P<model>\d+)\s*\+\s*(?P<context>\d+)\s*\+\s*(?P<compute>\d+)\s*\)"
    r"\s*\+\s*(?P<unaccounted>-?\d+)\s*\|"
)
_HOST_ROW = re.compile(
    r"\|\s*-\s*(?P<name>.+?)\s*\|\s*(?P<self>\d+)\s*=\s*(?P<model>\d+)\s*\+\s*"
    r"(?P<context>\d+)\s*\+\s*(?P<compute>\d+)\s*\|"
)


@dataclass(frozen=True)
class Buffer:
    """One ``... buffer size = X MiB`` line: what it holds and its backend buffer name."""

    kind: BufferKind
    backend: str
    mib: float

    @property
    def bytes(self) -> int:
        """Size in bytes (the log rounds to 0.01 MiB, so this is within ±5,243 bytes)."""
        return round(self.mib * MIB)


@dataclass(frozen=True)
class KvCacheLine:
    """The ``llama_kv_cache: size = ...`` summary of one KV cache (two with sliding window).

    ``cells`` is per stream: ``-np N`` without a unified KV cache has N streams.
    """

    mib: float
    cells: int
    layers: int
    seqs: int
    streams: int
    k_type: str
    k_mib: float
    v_type: str
    v_mib: float

    @property
    def total_cells(self) -> int:
        return self.cells * self.streams


@dataclass(frozen=True)
class BreakdownRow:
    """One row of the ``memory breakdown [MiB]`` table (whole MiB; ``total``/``free``/
    ``unaccounted`` only for devices, not for the host row)."""

    device: str
    self_mib: int
    model_mib: int
    context_mib: int
    compute_mib: int
    total_mib: int | None = None
    free_mib: int | None = None
    unaccounted_mib: int | None = None


@dataclass(frozen=True)
class LlamaMemoryReport:
    """Buffers of the last model load in a log, and the last breakdown table."""

    buffers: tuple[Buffer, ...]
    kv_caches: tuple[KvCacheLine, ...] = ()
    breakdown: tuple[BreakdownRow, ...] = ()

    def by_backend(self, kind: BufferKind) -> dict[str, int]:
        """Bytes of ``kind`` buffers per backend name (``CPU_Mapped``, ``CUDA0``...)."""
        out: dict[str, int] = {}
        for buf in self.buffers:
            if buf.kind == kind:
                out[buf.backend] = out.get(buf.backend, 0) + buf.bytes
        return out

    def total(self, kind: BufferKind, backend: str | None = None) -> int:
        """Bytes of all ``kind`` buffers, or only those of ``backend``."""
        sizes = self.by_backend(kind)
        return sizes.get(backend, 0) if backend is not None else sum(sizes.values())

    @property
    def model_bytes(self) -> int:
        return self.total("model")

    @property
    def kv_bytes(self) -> int:
        return self.total("kv")

    @property
    def rs_bytes(self) -> int:
        return self.total("rs")

    @property
    def compute_bytes(self) -> int:
        return self.total("compute")


def _row(line: str) -> BreakdownRow | None:
    if m := _DEVICE_ROW.search(line):
        return BreakdownRow(
            device=m["name"],
            self_mib=int(m["self"]),
            model_mib=int(m["model"]),
            context_mib=int(m["context"]),
            compute_mib=int(m["compute"]),
            total_mib=int(m["total"]),
            free_mib=int(m["free"]),
            unaccounted_mib=int(m["unaccounted"]),
        )
    if m := _HOST_ROW.search(line):
        return BreakdownRow(
            device=m["name"],
            self_mib=int(m["self"]),
            model_mib=int(m["model"]),
            context_mib=int(m["context"]),
            compute_mib=int(m["compute"]),
        )
    return None


def _kv_line(m: re.Match[str]) -> KvCacheLine:
    return KvCacheLine(
        mib=float(m["mib"]),
        cells=int(m["cells"]),
        layers=int(m["layers"]),
        seqs=int(m["seqs"]),
        streams=int(m["streams"] or 1),
        k_type=m["k_type"],
        k_mib=float(m["k_mib"]),
        v_type=m["v_type"],
        v_mib=float(m["v_mib"]),
    )


def parse_llama_memory(log: str | Iterable[str]) -> LlamaMemoryReport:
    """Parse a llama.cpp log (text or lines) into a ``LlamaMemoryReport``.

    A ``model`` buffer line that follows other buffer lines starts a new load (a server that
    reloads its model): only the last load is reported. Of several breakdown tables (the
    startup projection and the one printed at exit) the last one is kept.
    """
    lines = log.splitlines() if isinstance(log, str) else log
    buffers: list[Buffer] = []
    kv_caches: list[KvCacheLine] = []
    table: list[BreakdownRow] = []
    in_table = False
    for line in lines:
        if _TABLE_HEADER.search(line):
            table, in_table = [], True
            continue
        if in_table:
            row = _row(line)
            if row is not None:
                table.append(row)
                continue
            in_table = False
        if m := _BUFFER.search(line):
            kind = _KINDS[m["kind"]]
            if kind == "model" and any(b.kind != "model" for b in buffers):
                buffers, kv_caches = [], []
            buffers.append(Buffer(kind, m["backend"], float(m["mib"])))
        elif m := _KV_CACHE.search(line):
            kv_caches.append(_kv_line(m))
    return LlamaMemoryReport(tuple(buffers), tuple(kv_caches), tuple(table))
