"""The engines' real flags, to check rendered command lines against.

- llama.cpp: parsed from the real ``llama-server --help`` (``parse_llama_help``);
- vLLM: ``vllm-<version>.txt``, derived from that release's argument-parser source by
  ``extract_vllm.py`` (vLLM needs torch and a GPU to import, so its parser cannot run here).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

VLLM_VERSION = "0.33.0"
_FLAG = re.compile(r"(?:^|[\s,])(--?[A-Za-z0-9][\w.-]*)")
_FLAG_LIKE = re.compile(r"^--?[A-Za-z]")
_CHOICES = re.compile(r"^(?:\[([\w|-]+)\]|\{([\w,-]+)\})$")


@dataclass(frozen=True)
class FlagSet:
    """Known flags; ``takes_value``: flags followed by a value; ``choices``: allowed values."""

    flags: frozenset[str]
    takes_value: frozenset[str] = frozenset()
    choices: dict[str, frozenset[str]] = field(default_factory=dict)


def _head(line: str) -> str:
    """The option part of a help line: up to the first run of blanks not after a comma."""
    return re.split(r"(?<![,\s])\s{2,}", line.rstrip(), maxsplit=1)[0]


def parse_llama_help(text: str) -> FlagSet:
    """Flags of ``llama-server --help`` (llama.cpp common/arg.cpp prints one option per line:
    ``-c,    --ctx-size N``, ``-fa,   --flash-attn [on|off|auto]``, ``--perf, --no-perf``)."""
    flags: set[str] = set()
    takes: set[str] = set()
    choices: dict[str, frozenset[str]] = {}
    for line in text.splitlines():
        if not re.match(r"^--?[A-Za-z0-9]", line):
            continue
        head = _head(line)
        names = _FLAG.findall(head)
        value = head.rsplit(names[-1], 1)[1].strip() if names else ""
        flags.update(names)
        if value:
            takes.update(names)
            match = _CHOICES.match(value)
            if match:
                options = frozenset(re.split(r"[|,]", match.group(1) or match.group(2)))
                choices.update(dict.fromkeys(names, options))
    return FlagSet(frozenset(flags), frozenset(takes), choices)


@cache
def vllm_flags() -> FlagSet:
    """The committed ``vllm serve`` flag list of VLLM_VERSION."""
    text = resources.files(__package__).joinpath(f"vllm-{VLLM_VERSION}.txt").read_text()
    lines = (line.strip() for line in text.splitlines())
    return FlagSet(frozenset(line for line in lines if line and not line.startswith("#")))


def _normalise(flag: str, engine: str) -> str:
    if engine == "vllm" and flag.startswith("--"):
        # vLLM's FlexibleArgumentParser takes --a_b for --a-b and --json-arg.key for dicts
        return flag.split(".", 1)[0].replace("_", "-")
    return flag


def check_flags(engine: str, args: Sequence[str], known: FlagSet | None = None) -> list[str]:
    """Flags of ``args`` the engine does not know, and ``FLAG VALUE`` pairs with a value
    outside the flag's choices. ``known`` is required for llama.cpp (``parse_llama_help``)."""
    if known is None:
        if engine != "vllm":
            raise ValueError(f"{engine}: pass the flags parsed from the real binary's --help")
        known = vllm_flags()
    problems: list[str] = []
    expect_value = False
    for i, arg in enumerate(args):
        if expect_value:
            expect_value = False
            continue
        if not _FLAG_LIKE.match(arg):
            continue
        flag, _, inline = arg.partition("=")
        name = _normalise(flag, engine)
        if name not in known.flags:
            problems.append(flag)
            continue
        following = args[i + 1] if i + 1 < len(args) else ""
        if name in known.takes_value and not inline and not _FLAG_LIKE.match(following):
            expect_value = True  # an optional value ("-fa [on|off|auto]") may be absent
            value = following
        else:
            value = inline
        allowed = known.choices.get(name)
        if allowed is not None and value and value not in allowed:
            problems.append(f"{flag} {value}")
    return problems
