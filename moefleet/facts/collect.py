"""Ship the fact collector as ONE remote command and read back its JSON document.

The command line carries both collectors as quoted arguments of a tiny /bin/sh dispatcher:
the Python one runs when the host has the configured interpreter, else the POSIX sh one.
Every value is passed through ``shlex.quote``; nothing from the inventory is spliced unquoted.
"""

from __future__ import annotations

import json
import shlex
from functools import cache
from importlib import resources
from typing import Any

from moefleet.errors import ParseError
from moefleet.facts.nvsmi_csv import QUERY_GPU_FIELDS, QUERY_GPU_FIELDS_MINIMAL

MARK_BEGIN = "<<<MOEFLEET-FACTS"
MARK_END = "MOEFLEET-FACTS>>>"

_DISPATCH = (
    "py=$1; pysrc=$2; shsrc=$3; timeout=$4; nvml=$5; csv=$6; csvmin=$7; shift 7; "
    'if command -v "$py" >/dev/null 2>&1 && '
    '"$py" -S -c "$pysrc" "$timeout" "$nvml" "$csv" "$csvmin" "$@"; then exit 0; fi; '
    'exec /bin/sh -c "$shsrc" moefleet-collect "$timeout" "$@"'
)


@cache
def _source(name: str) -> str:
    return (resources.files("moefleet.facts.collector") / name).read_text(encoding="utf-8")


def collector_command(python: str, timeout: float, disks: list[str], nvml: bool = True) -> str:
    """The whole probe as one shell command line (run by the login shell of the host)."""
    args = [
        _DISPATCH,
        "moefleet-dispatch",
        python,
        _source("collect.py"),
        _source("collect.sh"),
        str(round(timeout, 1)),
        "1" if nvml else "0",
        ",".join(QUERY_GPU_FIELDS),
        ",".join(QUERY_GPU_FIELDS_MINIMAL),
        *disks,
    ]
    return "/bin/sh -c " + " ".join(shlex.quote(arg) for arg in args)


def extract_document(stdout: str) -> dict[str, Any]:
    """The JSON document between the collector's markers (the last one, if several).

    Anything around it (a login banner, a chatty .bashrc) is ignored; a missing or broken
    document is a ParseError.
    """
    end = stdout.rfind(MARK_END)
    begin = stdout.rfind(MARK_BEGIN, 0, end if end >= 0 else None)
    if begin < 0 or end < 0:
        snippet = stdout.strip()[:200] or "(no output)"
        raise ParseError(f"the fact collector printed no facts document: {snippet!r}")
    body = stdout[begin + len(MARK_BEGIN) : end]
    try:
        document = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ParseError(f"the facts document is not valid JSON: {exc}") from exc
    if not isinstance(document, dict) or document.get("collector") not in ("python", "sh"):
        raise ParseError("the facts document does not come from a moefleet collector")
    return document
