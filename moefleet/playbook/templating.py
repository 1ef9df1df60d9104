"""Jinja2 for task arguments and ``when``: sandboxed, StrictUndefined, never ``eval``.

A string that is exactly one ``{{ expression }}`` keeps the expression's type (a list stays a
list, as in Ansible's native mode); any other string is rendered as text. Rendered values are
not rendered again, so content passed in through variables may itself contain ``{{``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, Undefined
from jinja2.sandbox import SandboxedEnvironment

from moefleet.playbook.errors import PlaybookError

_SINGLE = re.compile(r"^\{\{(?P<expr>(?:(?!\{\{|\}\}).)*)\}\}\Z", re.DOTALL)
_ENV = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)


@lru_cache(maxsize=1024)
def _expression(source: str) -> Any:
    return _ENV.compile_expression(source, undefined_to_none=False)


@lru_cache(maxsize=1024)
def _template(source: str) -> Any:
    return _ENV.from_string(source)


def is_templated(value: Any) -> bool:
    """True when ``value`` (or anything inside it) holds a Jinja marker."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, Mapping):
        return any(is_templated(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(is_templated(v) for v in value)
    return False


def evaluate(expression: str, variables: Mapping[str, Any]) -> Any:
    """The value of one Jinja expression (``when``, ``loop``)."""
    try:
        value = _expression(expression.strip())(**variables)
        if isinstance(value, Undefined):
            str(value)  # StrictUndefined raises UndefinedError, naming what is missing
        return value
    except TemplateError as exc:
        raise PlaybookError(f"cannot evaluate {expression!r}: {exc}") from exc


def render_text(source: str, variables: Mapping[str, Any]) -> str:
    """``source`` rendered as a Jinja template."""
    try:
        return str(_template(source).render(**variables))
    except TemplateError as exc:
        raise PlaybookError(f"cannot render {_short(source)!r}: {exc}") from exc


def render_value(value: Any, variables: Mapping[str, Any]) -> Any:
    """``value`` with every string templated (recursively through tables and arrays)."""
    if isinstance(value, str):
        if "{{" not in value and "{%" not in value:
            return value
        single = _SINGLE.match(value)
        if single:
            return evaluate(single.group("expr"), variables)
        return render_text(value, variables)
    if isinstance(value, Mapping):
        return {key: render_value(item, variables) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [render_value(item, variables) for item in value]
    return value


def condition(expression: str | bool, variables: Mapping[str, Any]) -> bool:
    """A ``when`` condition: a bare expression (``{{ }}`` around it is tolerated)."""
    if isinstance(expression, bool):
        return expression
    text = expression.strip()
    single = _SINGLE.match(text)
    return bool(evaluate(single.group("expr") if single else text, variables))


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."
