"""``service``: started / stopped / restarted / reloaded, through systemd (system or --user)
or the ``process`` backend (a supervised process with a pidfile).

A user manager (``systemd-user``) started by logind stops with the user's last session, and
its services with it, unless the user lingers: starting a user service enables lingering
(``loginctl enable-linger``) where logind runs and it is off, and fails if that is refused."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from moefleet.playbook.result import TaskResult, changed, ok
from moefleet.playbook.tasks import service_process as proc
from moefleet.playbook.tasks.base import Args, TaskContext, TaskFailed, quote

State = Literal["started", "stopped", "restarted", "reloaded"]


class ServiceArgs(Args):
    """Arguments of ``service``."""

    name: str
    """The unit (systemd) or service name (process backend; also the pid mark)."""
    state: State = "started"
    """started/stopped are idempotent; restarted/reloaded always act (use them in handlers)."""
    backend: Literal["systemd", "systemd-user", "process"] = "systemd"
    """systemd (system unit), systemd-user (``systemctl --user``) or process (pidfile)."""
    daemon_reload: bool = False
    """systemd: run ``daemon-reload`` first (after unit files changed)."""
    enabled: bool | None = None
    """systemd: start at boot (``enable``) or not (``disable``); None leaves it. The process
    backend ignores it."""
    command: list[str] | str | None = None
    """process: the program (argv list, or a shell line as a string)."""
    env_file: str | None = None
    """process: a KEY=value file sourced into the environment before starting."""
    chdir: str | None = None
    """process: working directory."""
    pidfile: str | None = None
    """process: default ``~/.moefleet/run/NAME.pid``."""
    log: str | None = None
    """process: stdout+stderr appended here; default ``~/.moefleet/log/NAME.log``."""
    stop_timeout: float = 10.0
    """process: seconds between SIGTERM and SIGKILL."""

    @model_validator(mode="after")
    def _process_needs_command(self) -> ServiceArgs:
        if self.backend == "process" and self.command is None and self.state != "stopped":
            raise ValueError("the process backend needs command")
        return self


def run(ctx: TaskContext, args: ServiceArgs) -> TaskResult:
    """Bring the service to ``args.state``."""
    if args.backend == "process":
        return _process(ctx, args)
    return _systemd(ctx, args)


def _process(ctx: TaskContext, args: ServiceArgs) -> TaskResult:
    pidfile, log = proc.paths(args.name, args.pidfile, args.log)
    running = proc.is_running(ctx, args.name, pidfile)
    if (args.state == "started" and running) or (args.state == "stopped" and not running):
        return ok(f"{args.name} is {'running' if running else 'stopped'}", running=running)
    verb = {"started": "start", "stopped": "stop", "restarted": "restart", "reloaded": "reload"}
    what = verb[args.state] + f" {args.name}"
    if ctx.check:
        return changed(f"would {what}")
    if args.state in ("stopped", "restarted") and running:
        proc.stop(ctx, args.name, pidfile, args.stop_timeout)
    if args.state == "reloaded" and running:
        proc.reload(ctx, args.name, pidfile)
    elif args.state != "stopped":
        assert args.command is not None
        proc.start(ctx, args.name, args.command, pidfile, log, args.env_file, args.chdir)
    return changed(what, running=args.state != "stopped")


def _systemctl(args: ServiceArgs) -> str:
    if args.backend == "systemd-user":
        return 'XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/run/user/$(id -u)}" systemctl --user'
    return "systemctl"


def _systemd(ctx: TaskContext, args: ServiceArgs) -> TaskResult:
    systemctl, unit = _systemctl(args), quote(args.name)
    if args.daemon_reload and not ctx.check:
        ctx.run_checked(f"{systemctl} daemon-reload", "systemctl daemon-reload")
    done = _linger(ctx) if args.backend == "systemd-user" and args.state != "stopped" else []
    if args.enabled is not None:
        done += _enable(ctx, systemctl, args)
    active = ctx.run(f"{systemctl} is-active --quiet {unit}").exit_code == 0
    if (args.state == "started" and active) or (args.state == "stopped" and not active):
        if done:
            return changed("; ".join(done), running=active)
        return ok(f"{args.name} is {'active' if active else 'inactive'}", running=active)
    action = {"started": "start", "stopped": "stop", "restarted": "restart"}.get(
        args.state, "reload-or-restart"
    )
    if ctx.check:
        return changed("; ".join([f"would {action} {args.name}", *done]))
    ctx.run_checked(f"{systemctl} {action} {unit}", f"systemctl {action} {args.name}")
    return changed("; ".join([f"{action} {args.name}", *done]), running=args.state != "stopped")


def _enable(ctx: TaskContext, systemctl: str, args: ServiceArgs) -> list[str]:
    """``enable``/``disable`` the unit when ``is-enabled`` says otherwise."""
    state = ctx.run(f"{systemctl} is-enabled {quote(args.name)}").stdout.strip()
    if (state in ("enabled", "enabled-runtime")) == args.enabled:
        return []
    verb = "enable" if args.enabled else "disable"
    if ctx.check:
        return [f"would {verb} {args.name}"]
    ctx.run_checked(f"{systemctl} {verb} {quote(args.name)}", f"systemctl {verb} {args.name}")
    return [f"{verb}d {args.name}"]


def _linger(ctx: TaskContext) -> list[str]:
    """Lingering on where logind says it is off (no logind, or a manager of its own: no-op)."""
    shown = 'loginctl show-user "$(id -un)" -p Linger --value 2>/dev/null'
    if ctx.run(shown).stdout.strip() != "no":
        return []
    if ctx.check:
        return ["would enable lingering"]
    result = ctx.run('loginctl enable-linger "$(id -un)"')
    if result.exit_code != 0:
        raise TaskFailed(
            "lingering is off, so the user manager and its services stop when the last "
            f"session ends, and enabling it failed: {(result.stderr or result.stdout).strip()}"
            " (as root: loginctl enable-linger USER)"
        )
    return ["enabled lingering"]
