"""The playbook file's schema: TOML -> Playbook / Play / Task (pydantic, ``extra="forbid"``).

Ansible-shaped: plays target host patterns and run tasks in order; each task has exactly one
kind (``template = { ... }``, ``command = { ... }`` ...) or is a ``block`` with optional
``rescue`` and ``always``. Kind arguments may hold Jinja (``"{{ item.dest }}"``): they are
checked for unknown and missing keys at load, and fully once rendered for a host.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from moefleet.inventory.errors import describe_validation_error
from moefleet.playbook.errors import PlaybookError
from moefleet.playbook.tasks import KINDS
from moefleet.playbook.templating import is_templated

_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _attr(kind: str) -> str:
    """The field holding a kind's arguments (``copy`` would shadow BaseModel.copy)."""
    return "copy_" if kind == "copy" else kind


class Task(_Strict):
    """One ``[[plays.tasks]]`` (or handler, or block member) table."""

    name: str = ""
    """What the task does, for the output (default: its kind)."""
    when: str | bool | None = None
    """A Jinja expression over facts and vars (``gpu_count > 0 and backend == 'process'``);
    false: the task is skipped."""
    notify: list[str] = Field(default_factory=list)
    """Handlers to run at the end of the play when this task changed something."""
    tags: list[str] = Field(default_factory=list)
    """Tags for ``--tags`` (a block's tags apply to its tasks; "always" always runs)."""
    register_: str | None = Field(default=None, alias="register")
    """``register``: keep the result in this variable (with ``loop``: ``.results`` per item)."""
    ignore_errors: bool = False
    """A failure is reported (and counted as ignored) but the host goes on."""
    loop: str | list[Any] | None = None
    """Run the task once per element (a list, or a Jinja expression giving one)."""
    loop_var: str = "item"
    """The variable that holds the current element."""
    timeout: float | None = Field(default=None, gt=0)
    """Seconds each remote command of this task may take (default: the run's)."""
    template: dict[str, Any] | None = None
    """Render a Jinja template (``src`` on the controller, or ``content``) to ``dest``."""
    copy_: dict[str, Any] | None = Field(default=None, alias="copy")
    """``copy``: write ``content`` (or the controller file ``src``) to ``dest``."""
    file: dict[str, Any] | None = None
    """A directory, an absent path, a mode, or a restored backup."""
    command: dict[str, Any] | None = None
    """Run ``argv`` (or ``cmd`` with ``shell = true``)."""
    service: dict[str, Any] | None = None
    """A service started / stopped / restarted / reloaded."""
    fetch_model: dict[str, Any] | None = None
    """A model file fetched and verified (SFTP push, URL, Hugging Face)."""
    install_runtime: dict[str, Any] | None = None
    """A runtime binary present (existing, or a prebuilt tree uploaded)."""
    wait_for: dict[str, Any] | None = None
    """Wait for a port or an HTTP health URL on the host."""
    http: dict[str, Any] | None = None
    """One HTTP request with an expected status and body text."""
    bench: dict[str, Any] | None = None
    """Call the caller's benchmark hook."""
    fail: dict[str, Any] | None = None
    """Fail the host with ``msg``."""
    block: list[Task] | None = None
    """Tasks run together; when one fails, ``rescue`` runs; ``always`` runs in any case."""
    rescue: list[Task] = Field(default_factory=list)
    """Run when a task of ``block`` failed (a successful rescue clears the failure)."""
    always: list[Task] = Field(default_factory=list)
    """Run after ``block`` (and ``rescue``), whatever happened."""

    @model_validator(mode="after")
    def _one_kind(self) -> Task:
        kinds = [k for k in (*KINDS, "block") if getattr(self, _attr(k)) is not None]
        if len(kinds) != 1:
            raise ValueError(f"a task needs exactly one kind of {', '.join((*KINDS, 'block'))}"
                             f" (got {', '.join(kinds) or 'none'})")  # fmt: skip
        if kinds[0] != "block" and (self.rescue or self.always):
            raise ValueError("rescue and always belong to a block")
        if kinds[0] != "block":
            _check_args(kinds[0], getattr(self, _attr(kinds[0])))
        return self

    @property
    def kind(self) -> str:
        """The task's kind ("block" for blocks)."""
        return next(k for k in (*KINDS, "block") if getattr(self, _attr(k)) is not None)

    @property
    def args(self) -> dict[str, Any]:
        """The kind's raw (unrendered) arguments."""
        value = getattr(self, _attr(self.kind))
        return value if isinstance(value, dict) else {}

    @property
    def title(self) -> str:
        return self.name or self.kind


def _check_args(kind: str, args: dict[str, Any]) -> None:
    """Unknown or missing keys now; full validation now too unless Jinja is involved."""
    model = KINDS[kind][0]
    unknown = sorted(set(args) - set(model.model_fields))
    if unknown:
        raise ValueError(f"{kind}: unknown key {unknown[0]!r} (allowed: "
                         f"{', '.join(model.model_fields)})")  # fmt: skip
    required = [n for n, f in model.model_fields.items() if f.is_required() and n not in args]
    if required:
        raise ValueError(f"{kind}: missing {', '.join(required)}")
    if not is_templated(args):
        try:
            model.model_validate(args)
        except ValidationError as exc:
            problems = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
            raise ValueError(f"{kind}: {problems}") from None


class Play(_Strict):
    """One ``[[plays]]`` table."""

    name: str = ""
    """What the play does, for the output."""
    hosts: str = "all"
    """Host pattern (inventory hosts, groups, globs, ``!`` and ``&`` terms, like --limit)."""
    serial: int | str | None = None
    """Rolling batches: a host count or a percentage ("30%"); default all hosts at once."""
    max_fail_percentage: float | None = Field(default=None, ge=0, le=100)
    """Stop the rollout when more than this percentage of a batch failed."""
    vars: dict[str, Any] = Field(default_factory=dict)
    """Variables for this play (over inventory vars; extra vars win)."""
    tasks: list[Task] = Field(default_factory=list)
    """The tasks, in order."""
    handlers: list[Task] = Field(default_factory=list)
    """Tasks run once at the end of the play on hosts where a task notified them."""

    @field_validator("serial")
    @classmethod
    def _serial(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, int) and value < 1:
            raise ValueError("serial must be at least 1")
        if isinstance(value, str) and not _PERCENT.match(value):
            raise ValueError('serial must be a host count or a percentage like "30%"')
        return value

    @model_validator(mode="after")
    def _notified_handlers_exist(self) -> Play:
        known = {h.name for h in self.handlers}
        for task in _walk(self.tasks):
            missing = [n for n in task.notify if n not in known]
            if missing:
                raise ValueError(f"task {task.title!r} notifies unknown handler {missing[0]!r}")
        return self


def _walk(tasks: list[Task]) -> list[Task]:
    out: list[Task] = []
    for task in tasks:
        out.append(task)
        out += _walk([*(task.block or []), *task.rescue, *task.always])
    return out


class Playbook(_Strict):
    """The whole playbook file."""

    plays: list[Play] = Field(default_factory=list)
    """The plays, run one after the other."""
    _source: str = PrivateAttr(default="<string>")
    _base_dir: str = PrivateAttr(default=".")

    @property
    def source(self) -> str:
        """Where it was loaded from."""
        return self._source

    @property
    def base_dir(self) -> str:
        """Directory that controller-side ``src`` paths are relative to."""
        return self._base_dir


def batch_sizes(host_count: int, serial: int | str | None) -> list[int]:
    """How many hosts each rolling batch holds (pure): serial 2 over 5 hosts -> [2, 2, 1]."""
    if host_count == 0:
        return []
    if serial is None:
        return [host_count]
    if isinstance(serial, str):
        match = _PERCENT.match(serial)
        assert match is not None
        size = max(1, int(host_count * float(match.group(1)) / 100))
    else:
        size = serial
    sizes = [size] * (host_count // size)
    return sizes + ([host_count % size] if host_count % size else [])


def parse_playbook(text: str, source: str = "<string>", base_dir: str = ".") -> Playbook:
    """A Playbook from TOML text; PlaybookError naming ``source`` and the key path."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PlaybookError(f"{source}: not valid TOML: {exc}") from exc
    try:
        playbook = Playbook.model_validate(data)
    except ValidationError as exc:
        raise PlaybookError(describe_validation_error(source, exc)) from exc
    playbook._source, playbook._base_dir = source, base_dir
    return playbook


def load_playbook(path: str | Path) -> Playbook:
    """Read and validate a playbook file."""
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlaybookError(f"cannot read playbook {file}: {exc.strerror or exc}") from exc
    return parse_playbook(text, str(file), str(file.resolve().parent))
