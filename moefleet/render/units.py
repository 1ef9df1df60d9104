"""Unit, env file and launcher for one supervised program, whatever it runs (server or Ray)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from moefleet.deploy.service import Backend
from moefleet.render.command import Command
from moefleet.render.environment import SECRET_MODE, RenderedFile, render_template
from moefleet.render.filters import RenderError

SYSTEM_UNIT_DIR = "/etc/systemd/system"
USER_UNIT_DIR = ".config/systemd/user"  # under the home directory (systemd.unit(5) user paths)
HOST_HOME = "~"
"""``home`` meaning the login user's home on the host: the write tasks expand ``~/``."""
# An env var whose name says it holds a credential makes its env file a secret.
_SECRET_NAME = re.compile(r"(?i)(token|secret|passw|api_?key|credential|auth)")


@dataclass(frozen=True)
class Program:
    """One long-running program and how it is supervised."""

    name: str
    description: str
    command: Command
    workdir: str
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    after: tuple[str, ...] = ()
    start_timeout_s: int = 600


def _absolute(path: str, what: str) -> str:
    if not PurePosixPath(path).is_absolute():
        raise RenderError(f"{what} must be an absolute path: {path!r}")
    return path


def env_file(program: Program) -> RenderedFile:
    """``{workdir}/{name}.env``: read by systemd (EnvironmentFile=) and by the launcher."""
    content = render_template("env.j2", env=program.env)
    secret = any(_SECRET_NAME.search(key) for key in program.env)
    path = f"{_absolute(program.workdir, 'workdir')}/{program.name}.env"
    return RenderedFile(path=path, content=content, mode=SECRET_MODE, secret=secret)


def unit_file(program: Program, backend: Backend, home: str | None) -> RenderedFile:
    """The systemd unit (system or user) that runs the program."""
    if backend == "systemd":
        directory = SYSTEM_UNIT_DIR
    elif home is None:
        raise RenderError(f"{program.name}: a systemd --user unit needs the home directory")
    else:
        base = home if home == HOST_HOME else _absolute(home, "home").rstrip("/")
        directory = f"{base}/{USER_UNIT_DIR}"
    content = render_template(
        "unit.service.j2",
        p=program,
        argv=program.command.wrapped(program.name),
        env_path=f"{program.workdir}/{program.name}.env",
        system=backend == "systemd",
    )
    return RenderedFile(path=f"{directory}/{program.name}.service", content=content)


def launcher(program: Program) -> RenderedFile:
    """``{workdir}/{name}.sh``: loads the env file, then execs the program (pidfile backend)."""
    content = render_template(
        "launcher.sh.j2",
        p=program,
        env_path=f"{program.workdir}/{program.name}.env",
    )
    return RenderedFile(path=f"{program.workdir}/{program.name}.sh", content=content, mode=0o755)


def program_files(program: Program, backend: Backend, home: str | None) -> list[RenderedFile]:
    """Unit or launcher, plus the env file, for ``backend``."""
    if backend == "process":
        return [launcher(program), env_file(program)]
    return [unit_file(program, backend, home), env_file(program)]
