"""The ``process`` service backend: a supervised process with a pidfile, for hosts without
systemd (or without root). The process runs in a session of its own (``setsid``) with
``MOEFLEET_SERVICE=NAME`` in its environment: a pid counts as ours only when
``/proc/PID/environ`` carries that mark, so a recycled pid is never mistaken for the service."""

from __future__ import annotations

from moefleet.playbook.tasks.base import TaskContext, TaskFailed, argv, home_path, quote

MARK = "MOEFLEET_SERVICE"


def _pid_of(pidfile: str, name: str) -> str:
    """Shell snippet: sets $pid to the running service's pid, or empty."""
    return (
        f"pid=$(cat {pidfile} 2>/dev/null); case \"$pid\" in ''|*[!0-9]*) pid=;; esac; "
        f'if [ -n "$pid" ] && ! tr "\\0" "\\n" < /proc/$pid/environ 2>/dev/null '
        f"| grep -qxF {quote(f'{MARK}={name}')}; then pid=; fi; "
    )


def paths(name: str, pidfile: str | None, log: str | None) -> tuple[str, str]:
    """Quoted pidfile and log paths (defaults under ~/.moefleet)."""
    return (
        home_path(pidfile or f"~/.moefleet/run/{name}.pid"),
        home_path(log or f"~/.moefleet/log/{name}.log"),
    )


def is_running(ctx: TaskContext, name: str, pidfile: str) -> bool:
    """Whether the service's process is alive and ours."""
    out = ctx.run_checked(_pid_of(pidfile, name) + 'echo "pid=$pid"', f"status of {name}")
    return out.stdout.strip() != "pid="


def start(
    ctx: TaskContext,
    name: str,
    command: list[str] | str,
    pidfile: str,
    log: str,
    env_file: str | None = None,
    chdir: str | None = None,
) -> None:
    """Start it detached; fail (with the log's tail) if it is not alive a moment later."""
    program = argv(command) if isinstance(command, list) else f"sh -c {quote(command)}"
    setup = f'mkdir -p "$(dirname {pidfile})" "$(dirname {log})" && '
    if chdir:
        setup += f"cd {home_path(chdir)} && "
    if env_file:
        setup += f"set -a && . {home_path(env_file)} && set +a && "
    script = (
        f"{setup}{{ env {quote(f'{MARK}={name}')} setsid nohup {program} >> {log} 2>&1 "
        f"< /dev/null & pid=$!; }} && echo $pid > {pidfile}.tmp && mv -f {pidfile}.tmp {pidfile}"
        f" && sleep 0.3 && " + _pid_of(pidfile, name) + f'[ -n "$pid" ] || {{ echo "exited at '
        f'once; log tail:"; tail -n 5 {log}; exit 1; }}'
    )
    result = ctx.run(script)
    if result.exit_code != 0:
        raise TaskFailed(f"{name} did not start: {(result.stdout + result.stderr).strip()}")


def stop(ctx: TaskContext, name: str, pidfile: str, timeout: float = 10.0) -> None:
    """TERM its process group, wait up to ``timeout`` s, then KILL; remove the pidfile."""
    tenths = max(1, int(timeout * 10))
    script = (
        _pid_of(pidfile, name) + 'if [ -n "$pid" ]; then kill -TERM -- -$pid 2>/dev/null || '
        f"kill -TERM $pid; i=0; while kill -0 $pid 2>/dev/null && [ $i -lt {tenths} ]; do "
        f"sleep 0.1; i=$((i+1)); done; kill -0 $pid 2>/dev/null && kill -KILL -- -$pid; fi; "
        f"rm -f {pidfile}"
    )
    ctx.run_checked(script, f"stopping {name}", timeout=timeout + 30)


def reload(ctx: TaskContext, name: str, pidfile: str) -> None:
    """Send SIGHUP to the service's process."""
    ctx.run_checked(_pid_of(pidfile, name) + '[ -n "$pid" ] && kill -HUP $pid', f"reload {name}")
