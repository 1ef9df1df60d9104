"""The process service backend on a real lab host: start, idempotent status, health via
wait_for, an HTTP check with an API key read on the host, restart, stop."""

# ruff: noqa: E501  (playbooks inline as TOML: one table per line)
from __future__ import annotations

import socket

from tests.playbook.conftest import on_host

SERVICE = """
[[plays]]
[[plays.tasks]]
name = "key"
copy = {{ dest = "{dir}/key", content = "sk-service-canary", secret = true }}
[[plays.tasks]]
name = "web"
service = {{ name = "{name}", backend = "process", state = "{state}", command = ["python3", "-m", "http.server", "{port}", "--bind", "127.0.0.1", "--directory", "{dir}"], pidfile = "{dir}/web.pid", log = "{dir}/web.log" }}
[[plays.tasks]]
name = "healthy"
wait_for = {{ url = "http://127.0.0.1:{port}/", timeout = 15 }}
when = "'{state}' != 'stopped'"
[[plays.tasks]]
name = "answers"
http = {{ url = "http://127.0.0.1:{port}/key", api_key_file = "{dir}/key", contains = "canary" }}
when = "'{state}' != 'stopped'"
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_process_service_starts_is_idempotent_and_stops(play, lab, workdir):
    port, name = _free_port(), f"web-{workdir[-6:]}"
    spec = {"dir": workdir, "name": name, "port": port}
    started, lines = play(SERVICE.format(state="started", **spec), limit="cpu-only")
    assert started.ok, lines
    assert started.find("cpu-only", "web").changed
    assert started.find("cpu-only", "healthy").status == "ok"
    assert started.find("cpu-only", "answers").status == "ok"
    pid = on_host(lab, "cpu-only", f"cat {workdir}/web.pid").strip()
    cmdline = on_host(lab, "cpu-only", f"tr '\\0' ' ' < /proc/{pid}/cmdline")
    assert "http.server" in cmdline
    assert on_host(lab, "cpu-only", f"ps -o pid= -s {pid} | wc -l").strip() == "1"  # own session

    again, _ = play(SERVICE.format(state="started", **spec), limit="cpu-only")
    assert again.changed == 0
    assert on_host(lab, "cpu-only", f"cat {workdir}/web.pid").strip() == pid

    restarted, _ = play(SERVICE.format(state="restarted", **spec), limit="cpu-only")
    new_pid = on_host(lab, "cpu-only", f"cat {workdir}/web.pid").strip()
    assert restarted.find("cpu-only", "web").changed and new_pid != pid

    stopped, _ = play(SERVICE.format(state="stopped", **spec), limit="cpu-only")
    assert stopped.find("cpu-only", "web").changed
    assert lab.run("cpu-only", f"kill -0 {new_pid}").returncode != 0
    assert play(SERVICE.format(state="stopped", **spec), limit="cpu-only")[0].changed == 0


def test_wait_for_times_out_on_a_closed_port(play):
    toml = f"""
[[plays]]
[[plays.tasks]]
name = "nothing there"
wait_for = {{ port = {_free_port()}, timeout = 1 }}
"""
    report, _ = play(toml, limit="cpu-only")
    result = report.find("cpu-only", "nothing there")
    assert result.status == "failed" and "not ready after 1 s" in result.message


def test_a_stale_pidfile_of_someone_elses_process_is_not_ours(play, lab, workdir):
    """The pidfile names a live process without our mark (a recycled pid): not running."""
    on_host(lab, "cpu-only", f"mkdir -p {workdir} && echo 1 > {workdir}/x.pid")
    toml = f"""
[[plays]]
[[plays.tasks]]
name = "x"
service = {{ name = "x", backend = "process", state = "stopped", pidfile = "{workdir}/x.pid" }}
"""
    report, _ = play(toml, limit="cpu-only")
    assert report.find("cpu-only", "x").status == "ok"  # pid 1 is not ours: nothing to stop
