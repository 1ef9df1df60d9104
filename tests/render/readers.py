"""Readers that follow systemd's own rules, to read rendered files back in tests.

- ``split_exec``: an ExecStart= line as systemd.service(5) "Command lines" describes it
  (quotes, C escapes), then ``$$``/``%%`` resolved; any other ``$``/``%`` would be substituted
  by systemd, so it fails the test instead.
- ``parse_env_file``: a port of systemd src/basic/env-file.c ``parse_env_file_internal``.
"""

from __future__ import annotations

_C_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
              "\\": "\\", '"': '"', "'": "'", "s": " "}  # fmt: skip


def _resolve(word: str) -> str:
    out, i = [], 0
    while i < len(word):
        c = word[i]
        if c in "$%":
            if word[i + 1 : i + 2] != c:
                raise AssertionError(f"systemd would substitute {word[i:]!r}")
            i += 1
        out.append(c)
        i += 1
    return "".join(out)


def split_exec(line: str) -> list[str]:
    """The argv systemd runs for ``ExecStart=line``."""
    words: list[str] = []
    word: list[str] | None = None
    quote: str | None = None
    i = 0
    while i < len(line):
        c = line[i]
        if quote is None and c in " \t":
            if word is not None:
                words.append("".join(word))
                word = None
            i += 1
            continue
        word = [] if word is None else word
        if c == "\\":
            nxt = line[i + 1]
            if nxt not in _C_ESCAPES:
                raise AssertionError(f"escape \\{nxt} systemd would warn about")
            word.append(_C_ESCAPES[nxt])
            i += 2
            continue
        if quote is None and c in "\"'":
            quote = c
        elif c == quote:
            quote = None
        else:
            word.append(c)
        i += 1
    assert quote is None, "unterminated quote"
    if word is not None:
        words.append("".join(word))
    return [_resolve(w) for w in words]


def parse_env_file(text: str) -> dict[str, str]:
    """KEY -> value, the way systemd reads an EnvironmentFile (env-file.c state machine)."""
    env: dict[str, str] = {}
    state, key, value = "PRE_KEY", "", ""
    trail: int | None = None

    def push() -> None:
        nonlocal key, value
        env[key.strip()] = value[:trail] if (state == "VALUE" and trail is not None) else value
        key, value = "", ""

    for c in text:
        if state == "PRE_KEY":
            if c in "#;":
                state = "COMMENT"
            elif not c.isspace():
                state, key = "KEY", c
        elif state == "KEY":
            if c == "\n":
                state, key = "PRE_KEY", ""
            elif c == "=":
                state, trail = "PRE_VALUE", None
            else:
                key += c
        elif state == "PRE_VALUE":
            if c == "\n":
                push()
                state = "PRE_KEY"
            elif c == "'":
                state = "SINGLE"
            elif c == '"':
                state = "DOUBLE"
            elif c == "\\":
                state = "VALUE_ESCAPE"
            elif not c.isspace():
                state, value = "VALUE", value + c
        elif state == "VALUE":
            if c == "\n":
                push()
                state = "PRE_KEY"
            elif c == "\\":
                state, trail = "VALUE_ESCAPE", None
            else:
                if not c.isspace():
                    trail = None
                elif trail is None:
                    trail = len(value)
                value += c
        elif state == "VALUE_ESCAPE":
            state = "VALUE"
            value += "" if c == "\n" else c
        elif state == "SINGLE":
            if c == "'":
                state = "PRE_VALUE"
            else:
                value += c
        elif state == "DOUBLE":
            if c == '"':
                state = "PRE_VALUE"
            elif c == "\\":
                state = "DOUBLE_ESCAPE"
            else:
                value += c
        elif state == "DOUBLE_ESCAPE":
            state = "DOUBLE"
            if c in '"\\`$':
                value += c
            elif c != "\n":
                value += "\\" + c
        elif state == "COMMENT" and c == "\n":
            state = "PRE_KEY"
    if state in ("PRE_VALUE", "VALUE", "VALUE_ESCAPE", "SINGLE", "DOUBLE", "DOUBLE_ESCAPE"):
        push()
    return env
