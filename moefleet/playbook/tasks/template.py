"""``template``: render a Jinja template (controller file or inline text) and copy the result."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from moefleet.playbook.result import TaskResult
from moefleet.playbook.tasks import copy
from moefleet.playbook.tasks.base import TaskContext, TaskFailed
from moefleet.playbook.templating import render_text

TemplateArgs = copy.CopyArgs


def run(ctx: TaskContext, args: TemplateArgs, variables: Mapping[str, Any]) -> TaskResult:
    """``src`` is rendered with the host's variables (sandboxed, StrictUndefined); ``content``
    arrives already rendered, like every other task argument."""
    if args.content is not None:
        text = args.content
    else:
        assert args.src is not None
        path = ctx.local_path(args.src)
        try:
            source = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise TaskFailed(f"cannot read template {path}: {exc}") from exc
        text = render_text(source, variables)
    return copy.put(ctx, args, text.encode())
