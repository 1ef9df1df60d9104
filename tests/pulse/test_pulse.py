"""The pulse: its one command, its parser (garbage, failures, health lines) and a step over
the real-SSH lab that keeps its connections open."""

from __future__ import annotations

import shlex
import subprocess

from moefleet.inventory import load_inventory
from moefleet.pulse import MARK, NO_SMI, ServiceCheck, parse_pulse, pulse_command, pulse_hosts
from moefleet.transport import ConnectOptions

CSV = """0, NVIDIA GeForce RTX 4090, 83, 1395, 349.50, 20100, 24564, 97, 0x0000000000000020
1, NVIDIA GeForce RTX 4090, 41, 2520, 120.00, 512, 24564, 3, 0x0000000000000000
"""
SERVICES = (ServiceCheck("llama-a", "http://127.0.0.1:8080"), ServiceCheck("llama-b", "x"))


def _answer(gpu: str, smi_exit: int = 0, health: str = "") -> str:
    return f"{MARK} gpu\n{gpu}{MARK} smi {smi_exit}\n{health}"


def test_parses_samples_and_health() -> None:
    health = f"{MARK} health llama-a ok 200\n{MARK} health llama-b down URLError\n"
    pulse = parse_pulse("h", _answer(CSV, health=health), 5.0, SERVICES)
    first, second = pulse.gpus
    assert pulse.ok and pulse.gpu_error is None
    assert (first.temperature_c, first.sm_clock_mhz, first.utilization_percent) == (83, 1395, 97)
    assert first.slowed and not second.slowed
    assert (second.memory_used_mib, second.memory_total_mib, second.power_w) == (512, 24564, 120)
    assert pulse.health == {"llama-a": "ok 200", "llama-b": "down URLError"}


def test_garbage_and_failures_give_a_pulse_without_samples() -> None:
    garbage = parse_pulse("h", "Welcome to the host!\n\x00\x01 nothing here", 1.0, SERVICES)
    assert garbage.gpus == () and garbage.gpu_error and garbage.ok
    assert garbage.health == {"llama-a": "unknown", "llama-b": "unknown"}
    failed = parse_pulse("h", _answer("NVIDIA-SMI has failed\n", smi_exit=9), 1.0)
    assert failed.gpus == () and "exited 9" in (failed.gpu_error or "")
    (odd,) = parse_pulse("h", _answer("0, x, hot, [N/A], , , , , zz\n"), 1.0).gpus
    assert (odd.temperature_c, odd.sm_clock_mhz, odd.reasons) == (None, None, ())
    short = parse_pulse("h", _answer("0, x, 40\n"), 1.0)
    assert short.gpus == () and "3 values" in (short.gpu_error or "")


def test_command_quotes_every_value_and_asks_health_only_when_deployed() -> None:
    assert "python3" not in pulse_command()
    evil = ServiceCheck("svc; rm -rf /", "http://127.0.0.1:1/$(reboot)")
    command = pulse_command([evil], python="/opt/py thon")
    assert "'svc; rm -rf /'" in command and "'http://127.0.0.1:1/$(reboot)'" in command
    assert "'/opt/py thon' -c" in command
    shlex.split(command)  # balanced quoting


def test_command_runs_in_a_shell_without_nvidia_smi() -> None:
    """The real command line under /bin/sh: no nvidia-smi here, a refused /health."""
    check = ServiceCheck("llama", "http://127.0.0.1:9")
    out = subprocess.run(
        ["/bin/sh", "-c", pulse_command([check])],
        capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin"}, check=False,
    )  # fmt: skip
    pulse = parse_pulse("here", out.stdout, 1.0, [check])
    assert pulse.gpus == () and pulse.gpu_error == NO_SMI
    assert pulse.health["llama"].startswith("down")


def test_step_over_the_lab_reuses_connections(make_lab) -> None:
    lab = make_lab(["rtx4090", "a6000x2"], broken_hosts=True)
    inventory = load_inventory(lab.inventory_path)
    options = ConnectOptions.from_settings(inventory.settings)
    pulse = pulse_hosts(list(inventory.hosts.values()), options)
    try:
        first = {p.host: p for p in pulse.step()}
        kept = dict(pulse._open)
        second = {p.host: p for p in pulse.step()}
        again = dict(pulse._open)
    finally:
        pulse.close()
    assert [len(first[h].gpus) for h in ("rtx4090", "a6000x2")] == [1, 2]
    assert second["a6000x2"].gpus[1].memory_total_mib == first["a6000x2"].gpus[1].memory_total_mib
    assert set(kept) == {"rtx4090", "a6000x2"}
    assert all(again[h] is kept[h] for h in kept)  # the same connections, no new handshake
    assert first["unreachable"].status == "unreachable" and not first["unreachable"].ok
    assert first["wrong-hostkey"].status == "host-key-mismatch"
    assert first["auth-fails"].status == "auth-failed"
    assert second["unreachable"] is first["unreachable"]  # not retried before retry_s
