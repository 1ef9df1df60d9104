"""The operating system's name from os-release(5) (``/etc/os-release``).

Values follow shell quoting: inside double quotes a backslash escapes only the double quote,
backslash, dollar and backquote; single quotes are literal; unquoted values may use backslash
escapes.
"""

from __future__ import annotations

import re

from moefleet.errors import ParseError

_ASSIGNMENT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_ESCAPABLE = '"\\$`'  # what a backslash escapes inside double quotes


def parse_os_release(text: str) -> str | None:
    """PRETTY_NAME, else NAME and VERSION; None when the file names no OS."""
    values = os_release_values(text)
    if not values:
        raise ParseError("not an os-release file: expected KEY=value lines such as NAME=...")
    pretty = values.get("PRETTY_NAME", "").strip()
    if pretty:
        return pretty
    name = values.get("NAME", "").strip()
    version = values.get("VERSION", "").strip()
    return " ".join(part for part in (name, version) if part) or None


def os_release_values(text: str) -> dict[str, str]:
    """Every KEY=value assignment, unquoted; comments and other lines are skipped."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        match = _ASSIGNMENT.match(line)
        if match:
            values[match.group(1)] = _unquote(match.group(2).strip())
    return values


def _unquote(value: str) -> str:
    """Shell-style unquoting of one value (os-release(5) allows only a subset of shell)."""
    out: list[str] = []
    quote: str | None = None
    index = 0
    while index < len(value):
        char = value[index]
        following = value[index + 1 : index + 2]
        if quote == "'" and char != "'":
            out.append(char)
        elif char == "\\" and following and (quote is None or following in _ESCAPABLE):
            out.append(following)
            index += 1
        elif char in "\"'" and quote in (None, char):
            quote = None if quote == char else char
        else:
            out.append(char)
        index += 1
    return "".join(out)
