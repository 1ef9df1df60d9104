"""Per-sink filters: control characters refused, everything else read back exactly."""

from __future__ import annotations

import subprocess

import pytest

from moefleet.render.filters import FILTERS, RenderError, env_value, shell, systemd_exec
from tests.render.readers import parse_env_file, split_exec
from tests.render.specs import HOSTILE


@pytest.mark.parametrize("name", sorted(FILTERS))
@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "tab\there", "nul\x00", "del\x7f"])
def test_every_filter_refuses_control_characters(name: str, bad: str) -> None:
    with pytest.raises(RenderError, match="control character"):
        FILTERS[name](bad)


@pytest.mark.parametrize("value", HOSTILE)
def test_systemd_exec_is_one_argument(value: str) -> None:
    line = f"/bin/true {systemd_exec(value)} {systemd_exec('next')}"
    assert split_exec(line) == ["/bin/true", value, "next"]


def test_systemd_exec_doubles_dollar_and_percent() -> None:
    assert systemd_exec("a$b%c") == '"a$$b%%c"'


def test_env_file_round_trip_systemd_rules_and_sh() -> None:
    env = {f"T_{i}": value for i, value in enumerate(HOSTILE)}
    text = "".join(f"{key}={env_value(value)}\n" for key, value in env.items())
    assert parse_env_file(text) == env
    script = f"set -a; {text} set +a; exec env"
    lines = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    seen = dict(line.split("=", 1) for line in lines.stdout.splitlines() if line.startswith("T_"))
    assert seen == {k: v for k, v in env.items()}


@pytest.mark.parametrize("value", HOSTILE)
def test_shell_is_one_word(value: str) -> None:
    out = subprocess.run(
        ["sh", "-c", f"printf '%s' {shell(value)}"], capture_output=True, text=True, check=True
    )
    assert out.stdout == value


@pytest.mark.parametrize("value", ["a b", "$host", "x;y", "{", '"q"'])
def test_nginx_value_refuses_what_nginx_cannot_quote(value: str) -> None:
    with pytest.raises(RenderError):
        FILTERS["nginx_value"](value)
