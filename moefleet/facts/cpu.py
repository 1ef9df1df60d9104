"""CPU facts from ``lscpu`` (human layout, flat or hierarchical) and from ``/proc/cpuinfo``.

``lscpu`` must run in the C locale (``LC_ALL=C``): its keys are translated otherwise.
Layouts handled: the flat ``Key:   value`` layout of util-linux < 2.38, the indented
hierarchical layout of util-linux >= 2.38 (sections such as ``Caches (sum of all):``), values
wrapped at the terminal width (``Flags:`` continued mid-word on the next line, at the value
column), ARM's ``Core(s) per cluster`` / ``Cluster(s)``, and one block per core type on
big.LITTLE machines (a repeated ``Model name:`` starts a new block).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from moefleet.errors import ParseError
from moefleet.facts.model import CpuFacts

#: SIMD flags moefleet reports, in the order the report lists them (x86, then ARM).
SIMD_FEATURES = (
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "avx_vnni",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
    "sve",
    "neon",
    "asimd",
)

_NUMBER = re.compile(r"^\d{1,9}$")
_MHZ = re.compile(r"^\d{1,7}(?:\.\d{1,6})?$")
_CPU_RANGE = re.compile(r"^(\d{1,6})(?:-(\d{1,6}))?$")
_LSCPU_KEYS = ("CPU(s)", "Model name", "Flags", "Architecture", "Socket(s)", "Vendor ID")

# /proc/cpuinfo on ARM names the implementer and part by number (values from the ARM TRMs, as
# util-linux lscpu-arm.c tabulates them); only the common server and board parts are listed.
_ARM_IMPLEMENTERS = {
    "0x41": "ARM",
    "0x42": "Broadcom",
    "0x43": "Cavium",
    "0x48": "HiSilicon",
    "0x4e": "NVIDIA",
    "0x51": "Qualcomm",
    "0x61": "Apple",
    "0xc0": "Ampere",
}
_ARM_PARTS = {
    "0xd03": "Cortex-A53",
    "0xd05": "Cortex-A55",
    "0xd08": "Cortex-A72",
    "0xd0b": "Cortex-A76",
    "0xd0c": "Neoverse-N1",
    "0xd40": "Neoverse-V1",
    "0xd49": "Neoverse-N2",
    "0xd4f": "Neoverse-V2",
}


def parse_lscpu(text: str) -> CpuFacts:
    """CpuFacts from ``lscpu`` output; values lscpu does not print stay None."""
    blocks = _lscpu_blocks(_lscpu_entries(text))
    if not any(key in block for block in blocks for key in _LSCPU_KEYS):
        raise ParseError("not lscpu output: expected 'CPU(s):', 'Model name:' or 'Flags:' lines")
    flag_sets = [set(block["Flags"].split()) for block in blocks if "Flags" in block]
    flags = set.intersection(*flag_sets) if flag_sets else None
    models = _unique(_known(block.get("Model name")) for block in blocks)
    online = _count_cpu_list(_first(blocks, "On-line CPU(s) list"))
    max_mhz = [_mhz(block.get("CPU max MHz")) for block in blocks]
    return _with_flags(
        CpuFacts(
            model=", ".join(models) or None,
            vendor=_known(_first(blocks, "Vendor ID")),
            architecture=_known(_first(blocks, "Architecture")),
            sockets=max(_numbers(block.get("Socket(s)") for block in blocks), default=None),
            cores=_lscpu_cores(blocks),
            threads=online if online is not None else _number(_first(blocks, "CPU(s)")),
            numa_nodes=_numa_nodes(blocks),
            max_mhz=max((mhz for mhz in max_mhz if mhz is not None), default=None),
        ),
        flags,
    )


def lscpu_fields(text: str) -> dict[str, str]:
    """Every ``lscpu`` key with its value (wrapped values joined; the first of a repeat wins)."""
    fields: dict[str, str] = {}
    for key, value in _lscpu_entries(text):
        fields.setdefault(key, value)
    return fields


def _lscpu_entries(text: str) -> list[tuple[str, str]]:
    """(key, value) pairs in order; values wrapped over several lines are joined back."""
    entries: list[tuple[str, list[str]]] = []
    value_column: int | None = None
    for line in text.splitlines():
        if not line.strip():
            continue
        if entries and value_column and ":" not in line and not line[:value_column].strip():
            entries[-1][1].append(line[value_column:])
            continue
        key, colon, rest = line.partition(":")
        if not colon or not key.strip():
            value_column = None
            continue
        value = rest.lstrip()
        entries.append((key.strip(), [value]))
        value_column = len(line) - len(value) if value.strip() else None
    return [(key, _join_wrapped(chunks)) for key, chunks in entries]


def _join_wrapped(chunks: list[str]) -> str:
    """Rejoin a value lscpu cut into fixed-width chunks (mid-word, so no separator is added).

    A chunk shorter than the others lost a trailing space (copies of lscpu output often strip
    trailing whitespace), so the space is put back.
    """
    width = max((len(chunk) for chunk in chunks[:-1]), default=0)
    padded = [chunk + " " if len(chunk) < width else chunk for chunk in chunks[:-1]]
    return "".join([*padded, chunks[-1]]).strip()


def _lscpu_blocks(entries: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    """Entries grouped so a repeated key (big.LITTLE: a second 'Model name') opens a block."""
    blocks: list[dict[str, str]] = [{}]
    for key, value in entries:
        if key in blocks[-1]:
            blocks.append({})
        blocks[-1][key] = value
    return blocks


def _lscpu_cores(blocks: list[dict[str, str]]) -> int | None:
    """Physical cores: cores per socket x sockets (per cluster x clusters on ARM), all blocks."""
    total = None
    for block in blocks:
        per_unit = _number(block.get("Core(s) per socket") or block.get("Core(s) per cluster"))
        units = _number(block.get("Socket(s)"))
        if units is None:
            units = _number(block.get("Cluster(s)"))
        if per_unit is not None and units is not None:
            total = (total or 0) + per_unit * units
    return total


def _numa_nodes(blocks: list[dict[str, str]]) -> int | None:
    nodes = _number(_first(blocks, "NUMA node(s)"))
    if nodes is not None:
        return nodes
    listed = {
        key for block in blocks for key in block if re.fullmatch(r"NUMA node\d+ CPU\(s\)", key)
    }
    return len(listed) or None


def parse_cpuinfo(text: str) -> CpuFacts:
    """CpuFacts from ``/proc/cpuinfo`` (x86 ``flags``, ARM ``Features``)."""
    processors = _cpuinfo_processors(text)
    if not processors:
        raise ParseError("not /proc/cpuinfo: expected 'processor : N' lines")
    first = processors[0]
    flags_text = first.get("flags", first.get("Features"))
    flags = set(flags_text.split()) if flags_text is not None else None
    sockets = {proc["physical id"] for proc in processors if "physical id" in proc}
    return _with_flags(
        CpuFacts(
            model=_cpuinfo_model(first),
            vendor=first.get("vendor_id")
            or _ARM_IMPLEMENTERS.get(first.get("CPU implementer", "")),
            architecture=_cpuinfo_architecture(first, flags),
            sockets=len(sockets) or None,
            cores=_cpuinfo_cores(processors),
            threads=len(processors),
        ),
        flags,
    )


def _cpuinfo_processors(text: str) -> list[dict[str, str]]:
    """One dict per 'processor' stanza; stanzas without one (ARM 'Hardware') are dropped."""
    processors: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in [*text.splitlines(), ""]:
        key, sep, value = line.partition(":")
        if not line.strip():
            if "processor" in current:
                processors.append(current)
            current = {}
        elif sep:
            current.setdefault(key.strip(), value.strip())
    return processors


def _cpuinfo_model(first: dict[str, str]) -> str | None:
    name = first.get("model name") or first.get("Model Name") or first.get("cpu")
    return _known(name) or _ARM_PARTS.get(first.get("CPU part", "").lower())


def _cpuinfo_architecture(first: dict[str, str], flags: set[str] | None) -> str | None:
    if "flags" in first:
        return "x86_64" if flags and "lm" in flags else None
    arm = _number(first.get("CPU architecture"))
    if arm is not None:
        return "aarch64" if arm >= 8 else f"armv{arm}"
    return None


def _cpuinfo_cores(processors: list[dict[str, str]]) -> int | None:
    """Distinct (physical id, core id) pairs; None when the kernel does not list core ids."""
    pairs = {
        (proc.get("physical id", "0"), proc["core id"]) for proc in processors if "core id" in proc
    }
    return len(pairs) or None


def _with_flags(facts: CpuFacts, flags: set[str] | None) -> CpuFacts:
    """Fill the SIMD booleans and feature list; None (unknown) when no flags were printed."""
    if flags is None:
        return facts
    facts.avx2 = "avx2" in flags
    facts.avx512 = "avx512f" in flags
    facts.amx = "amx_tile" in flags
    facts.features = [name for name in SIMD_FEATURES if name in flags]
    return facts


def _first(blocks: list[dict[str, str]], key: str) -> str | None:
    return next((block[key] for block in blocks if key in block), None)


def _known(value: str | None) -> str | None:
    """The value, or None for lscpu's '-' and empty placeholders."""
    if value is None or value.strip() in ("", "-"):
        return None
    return value.strip()


def _number(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if _NUMBER.match(value) else None


def _numbers(values: Iterable[str | None]) -> list[int]:
    return [number for number in map(_number, values) if number is not None]


def _mhz(value: str | None) -> float | None:
    value = (value or "").strip()
    return float(value) if _MHZ.match(value) else None


def _unique(values: Iterable[str | None]) -> list[str]:
    seen: list[str] = []
    for value in values:
        if value is not None and value not in seen:
            seen.append(value)
    return seen


def _count_cpu_list(value: str | None) -> int | None:
    """Number of CPUs in a list such as '0-25,52-77' (None when it is not such a list)."""
    if not value:
        return None
    count = 0
    for part in value.split(","):
        match = _CPU_RANGE.match(part.strip())
        if match is None:
            return None
        low, high = int(match.group(1)), int(match.group(2) or match.group(1))
        if high < low:
            return None
        count += high - low + 1
    return count
