"""Task kinds: one small module each. ``KINDS`` maps a kind's TOML key to its arguments model
and its function ``(context, args, variables) -> TaskResult``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from moefleet.playbook.result import TaskResult
from moefleet.playbook.tasks import (
    command,
    copy,
    fetch_model,
    file,
    http,
    install_runtime,
    misc,
    service,
    template,
    wait_for,
)
from moefleet.playbook.tasks.base import Args, BenchHook, TaskContext, TaskFailed

KindFunction = Callable[[TaskContext, Any, Mapping[str, Any]], TaskResult]


def _plain(function: Callable[[TaskContext, Any], TaskResult]) -> KindFunction:
    return lambda ctx, args, _variables: function(ctx, args)


KINDS: dict[str, tuple[type[Args], KindFunction]] = {
    "template": (template.TemplateArgs, template.run),
    "copy": (copy.CopyArgs, _plain(copy.run)),
    "file": (file.FileArgs, _plain(file.run)),
    "command": (command.CommandArgs, _plain(command.run)),
    "service": (service.ServiceArgs, _plain(service.run)),
    "fetch_model": (fetch_model.FetchModelArgs, _plain(fetch_model.run)),
    "install_runtime": (install_runtime.InstallRuntimeArgs, _plain(install_runtime.run)),
    "wait_for": (wait_for.WaitForArgs, _plain(wait_for.run)),
    "http": (http.HttpArgs, _plain(http.run)),
    "bench": (misc.BenchArgs, _plain(misc.run_bench)),
    "fail": (misc.FailArgs, _plain(misc.run_fail)),
}

#: Kinds whose arguments may carry secrets (their args never reach logs or events).
SECRET_AWARE = {"template", "copy"}

__all__ = ["KINDS", "SECRET_AWARE", "Args", "BenchHook", "TaskContext", "TaskFailed"]
