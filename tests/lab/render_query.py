"""The lab's ``nvidia-smi --query-gpu=... --format=csv`` (and ``--query-compute-apps``).

Run by a host's fake ``nvidia-smi`` as ``python3 render_query.py PROFILE_JSON ARGS...``; the
JSON holds every queryable field's value for each GPU of the host (written by
``tests.lab.render.query_document``). Standard library only: it runs under the lab user's
``python3``, outside this repository.

Output follows nvidia-smi: a header naming each field as asked, with its unit in brackets,
values joined by ", ", units in the values unless ``nounits``, "[N/A]" where a GPU has no
value. An unknown field prints nvidia-smi's message and exits 2.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

#: Units nvidia-smi puts in the CSV header (and, without ``nounits``, in the values).
UNITS = {
    "fan.speed": "%",
    "memory.total": "MiB",
    "memory.reserved": "MiB",
    "memory.used": "MiB",
    "memory.free": "MiB",
    "utilization.gpu": "%",
    "utilization.memory": "%",
    "power.draw": "W",
    "power.draw.average": "W",
    "power.draw.instant": "W",
    "power.limit": "W",
    "enforced.power.limit": "W",
    "power.default_limit": "W",
    "power.min_limit": "W",
    "power.max_limit": "W",
    "clocks.current.graphics": "MHz",
    "clocks.current.sm": "MHz",
    "clocks.current.memory": "MHz",
    "clocks.current.video": "MHz",
    "clocks.max.graphics": "MHz",
    "clocks.max.sm": "MHz",
    "clocks.max.memory": "MHz",
    "used_gpu_memory": "MiB",
}

#: Other names nvidia-smi accepts for a field (``nvidia-smi --help-query-gpu``).
ALIASES = {
    "gpu_name": "name",
    "gpu_bus_id": "pci.bus_id",
    "gpu_serial": "serial",
    "gpu_uuid": "uuid",
    "clocks.gr": "clocks.current.graphics",
    "clocks.sm": "clocks.current.sm",
    "clocks.mem": "clocks.current.memory",
    "clocks.video": "clocks.current.video",
    "clocks.max.gr": "clocks.max.graphics",
    "clocks.max.mem": "clocks.max.memory",
    "used_memory": "used_gpu_memory",
}
APP_FIELDS = ("pid", "process_name", "used_gpu_memory")
GPU_FIELDS_FOR_APPS = ("timestamp", "gpu_name", "gpu_bus_id", "gpu_serial", "gpu_uuid")
USAGE = "Invalid combination of input arguments. Please run 'nvidia-smi -h' for help.\n"


class QueryError(Exception):
    """A query nvidia-smi would refuse; the message is what it prints."""


def _options(args: list[str]) -> dict[str, str]:
    """``--name=value`` / ``--name value`` / ``-i N`` pairs."""
    options: dict[str, str] = {}
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg == "-i":
            arg = "--id"
        if not arg.startswith("--"):
            raise QueryError(USAGE)
        name, sep, value = arg[2:].partition("=")
        if not sep:
            if not rest:
                raise QueryError(USAGE)
            value = rest.pop(0)
        options[name] = value
    return options


def _resolve(field: str, available: dict[str, str]) -> str:
    """The key under which ``field`` is stored for this host, or QueryError."""
    if field in available:
        return field
    alias = ALIASES.get(field)
    if alias is not None and alias in available:
        return alias
    raise QueryError(f'Field "{field}" is not a valid field to query.\n\n')


def _unit(field: str) -> str | None:
    return UNITS.get(ALIASES.get(field, field), UNITS.get(field))


def _cell(field: str, value: str, nounits: bool) -> str:
    if value == "@timestamp":
        return time.strftime("%Y/%m/%d %H:%M:%S.000")
    unit = _unit(field)
    if nounits and unit and value.endswith(" " + unit):
        return value[: -len(unit) - 1]
    return value


def _rows(doc: dict[str, Any], kind: str, ids: list[int] | None) -> list[dict[str, str]]:
    gpus = [g for i, g in enumerate(doc["gpus"]) if ids is None or i in ids]
    if kind == "query-gpu":
        return gpus
    rows = []
    for app in doc["apps"]:
        if ids is None or app["gpu_index"] in ids:
            gpu = doc["gpus"][app["gpu_index"]]
            rows.append(
                {
                    **gpu,
                    "gpu_name": gpu["name"],
                    "gpu_bus_id": gpu["pci.bus_id"],
                    "gpu_serial": gpu["serial"],
                    "gpu_uuid": gpu["uuid"],
                    **app,
                }
            )
    return rows


def render(doc: dict[str, Any], args: list[str]) -> str:
    """The CSV nvidia-smi prints for ``args``; raises QueryError where it refuses."""
    options = _options(args)
    kind = "query-gpu" if "query-gpu" in options else "query-compute-apps"
    if kind not in options or "format" not in options:
        raise QueryError(USAGE)
    formats = options["format"].split(",")
    if formats[0] != "csv" or not set(formats[1:]) <= {"noheader", "nounits"}:
        raise QueryError(USAGE)
    fields = [f.strip() for f in options[kind].split(",") if f.strip()]
    ids = [int(i) for i in options["id"].split(",")] if "id" in options else None
    if kind == "query-gpu":
        sample = doc["gpus"][0] if doc["gpus"] else {}
    else:
        sample = {k: "" for k in (*APP_FIELDS, *GPU_FIELDS_FOR_APPS)}
    keys = [_resolve(f, sample) for f in fields]
    lines = []
    if "noheader" not in formats:
        lines.append(", ".join(f + (f" [{_unit(f)}]" if _unit(f) else "") for f in fields))
    for row in _rows(doc, kind, ids):
        pairs = zip(fields, keys, strict=True)
        cells = (_cell(f, row.get(k, "[N/A]"), "nounits" in formats) for f, k in pairs)
        lines.append(", ".join(cells))
    return "".join(line + "\n" for line in lines)


def main(argv: list[str]) -> int:
    """``render_query.py PROFILE_JSON NVIDIA_SMI_ARGS...``."""
    with open(argv[0], encoding="utf-8") as handle:
        doc = json.load(handle)
    try:
        sys.stdout.write(render(doc, argv[1:]))
    except QueryError as exc:
        sys.stdout.write(str(exc))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
