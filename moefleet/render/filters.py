"""Per-sink escaping: one function per kind of file a value lands in.

Every filter refuses control characters (a newline would start a new directive or line), so
an inventory value can never escape its field, whatever the template around it.
"""

from __future__ import annotations

import json
import re
import shlex

from moefleet.errors import MoefleetError

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# nginx has no escape for "$" (it always starts a variable) nor for ";" "{" "}" outside
# quotes, so only plain host:port / path-like tokens are accepted there.
_NGINX_TOKEN = re.compile(r"^[A-Za-z0-9._:/\[\]-]+$")


class RenderError(MoefleetError):
    """A value or a spec that cannot be rendered safely (control character, missing key...)."""


def _plain(value: object, sink: str) -> str:
    text = str(value)
    if _CONTROL.search(text):
        raise RenderError(
            f"{sink}: value contains a control character (newline, tab...): {text!r}",
            "remove it from the inventory or plan value",
        )
    return text


def systemd_exec(value: object) -> str:
    """One argument of an ``ExecStart=`` line, exactly as given.

    systemd.service(5) "Command lines": words are split on whitespace unless quoted; inside
    double quotes C escapes apply, so ``\\`` and ``"`` are backslash-escaped; ``$VAR`` and
    ``${VAR}`` are substituted even inside quotes, ``$$`` is a literal ``$``; a lone ``;`` is a
    separator only unquoted. systemd.unit(5) "Specifiers": ``%`` is expanded everywhere,
    ``%%`` is a literal ``%``.
    """
    text = _plain(value, "systemd ExecStart")
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + text.replace("$", "$$").replace("%", "%%") + '"'


def systemd_path(value: object) -> str:
    """An absolute path as a whole directive value (``WorkingDirectory=``, ``EnvironmentFile=``).

    These are taken verbatim (no unquoting, no ``$`` substitution) but specifier-expanded
    (systemd.unit(5)), so ``%`` is doubled; a leading ``-``/``~`` or edge blanks would change
    the meaning, hence the absolute-path and no-blank-edges rules.
    """
    text = _plain(value, "systemd path")
    if not text.startswith("/") or text != text.strip():
        raise RenderError(f"systemd path must be absolute without edge blanks: {text!r}")
    return text.replace("%", "%%")


def systemd_text(value: object) -> str:
    """Free text for a directive such as ``Description=`` (specifiers expanded: ``%%``)."""
    return _plain(value, "systemd text").strip().replace("%", "%%")


def systemd_word(value: object) -> str:
    """A single-word directive value (``User=``, unit names): letters, digits, ``._@:-``."""
    text = _plain(value, "systemd value")
    if not re.match(r"^[A-Za-z0-9_.@:-]+$", text):
        raise RenderError(f"not a plain systemd word: {text!r}")
    return text


def env_value(value: object) -> str:
    """A value for a ``KEY=VALUE`` environment file, read back byte for byte.

    POSIX single quotes (``shlex.quote``) are read the same by systemd's EnvironmentFile
    parser (systemd src/basic/env-file.c ``parse_env_file_internal``: single quotes are
    literal, ``"'"`` is a double-quoted quote, adjacent quoted parts concatenate) and by a
    POSIX shell that sources the file (``set -a; . FILE``): no ``$``, backslash or ``#`` is
    interpreted by either.
    """
    return shlex.quote(_plain(value, "environment file"))


def env_key(value: object) -> str:
    """An environment variable name."""
    text = _plain(value, "environment file")
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", text):
        raise RenderError(f"environment variable name {text!r} is not valid")
    return text


def comment(value: object) -> str:
    """Text for a ``#`` comment line (a newline would end the comment)."""
    return _plain(value, "comment")


def shell(value: object) -> str:
    """One word for a POSIX shell (``shlex.quote``)."""
    return shlex.quote(_plain(value, "shell"))


def nginx_value(value: object) -> str:
    """A token for an nginx directive (an upstream ``server`` address, a path)."""
    text = _plain(value, "nginx")
    if not _NGINX_TOKEN.match(text):
        raise RenderError(
            f"nginx: {text!r} is not a plain host:port or path",
            "nginx cannot quote '$', ';', braces or blanks safely",
        )
    return text


def yaml_compose(value: object) -> str:
    """A scalar for a docker compose file: a JSON string (valid YAML) with ``$`` as ``$$``.

    Compose interpolates ``$VAR``/``${VAR}`` in every value and takes ``$$`` as a literal
    ``$`` (compose-spec "Interpolation").
    """
    text = _plain(value, "compose")
    return json.dumps(text).replace("$", "$$")


FILTERS = {
    "systemd_exec": systemd_exec,
    "systemd_path": systemd_path,
    "systemd_word": systemd_word,
    "systemd_text": systemd_text,
    "env_value": env_value,
    "env_key": env_key,
    "shell": shell,
    "comment": comment,
    "nginx_value": nginx_value,
    "yaml_compose": yaml_compose,
}
