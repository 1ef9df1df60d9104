"""The Jinja environment over the package templates, and the rendered-file model."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import jinja2

from moefleet.render.filters import FILTERS, RenderError

SECRET_MODE = 0o600


@dataclass(frozen=True)
class RenderedFile:
    """A file to put on a host. ``secret`` content must never be printed nor diffed."""

    path: str
    content: str
    mode: int = 0o644
    secret: bool = False

    def __post_init__(self) -> None:
        if self.secret and self.mode & 0o077:
            raise RenderError(f"{self.path}: a secret file must be mode 0600, not {self.mode:o}")

    def __repr__(self) -> str:
        shown = "<secret>" if self.secret else f"{len(self.content)} chars"
        return f"RenderedFile(path={self.path!r}, mode=0o{self.mode:o}, content={shown})"


@cache
def make_environment() -> jinja2.Environment:
    """StrictUndefined, no autoescape (none of the sinks is HTML), per-sink filters."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("moefleet", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - unit/env/shell/nginx/YAML files: filters escape per sink
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    return env


def render_template(name: str, **context: Any) -> str:
    """``name`` rendered with ``context``; a missing variable or a bad value is a RenderError."""
    try:
        return make_environment().get_template(name).render(**context)
    except jinja2.UndefinedError as exc:
        raise RenderError(f"template {name}: {exc.message}", "a bug in moefleet") from exc
