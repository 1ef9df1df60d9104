"""The streaming pulse: one loop per host prints a pulse every interval; the controller reads
blocks as they come, reports unreachable hosts, restarts a loop when its servers change, and
closing ends the loops on the hosts."""

from __future__ import annotations

import time
from collections import defaultdict

from moefleet.inventory import load_inventory
from moefleet.pulse import NO_SMI, HostPulse, ServiceCheck, parse_pulse
from moefleet.pulse_stream import END, PulseStream, loop_command, stream_hosts
from moefleet.transport import ConnectOptions
from moefleet.transport.local import LocalTransport

INTERVAL = 0.53  # unusual, so the lab's loops can be found by their command line
LOOP = f"[d]o sleep {INTERVAL:g} & out=..echo @@moefleet-pulse gpu"  # [d]: not the pgrep itself


def _collect(stream: PulseStream, until, services=None, limit: float = 30.0):
    """Step until ``until(pulses by host)`` holds (or ``limit`` seconds pass)."""
    seen: dict[str, list[HostPulse]] = defaultdict(list)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        for pulse in stream.step(services):
            seen[pulse.host].append(pulse)
        if until(seen):
            break
        time.sleep(0.1)
    return seen


def test_the_loop_prints_one_block_per_interval_until_closed() -> None:
    loop = loop_command([ServiceCheck("s", "http://127.0.0.1:9")], "python3", 0.1)
    out = LocalTransport().stream(f"PATH=/usr/bin:/bin; {loop}")  # no nvidia-smi here
    text, deadline = "", time.monotonic() + 20
    while text.count(END) < 3 and time.monotonic() < deadline:
        data = out.read()
        if data:
            text += data.decode()
        time.sleep(0.02)
    out.close()
    blocks = text.split(END + "\n")[:3]
    pulses = [parse_pulse("here", b, 0.0, [ServiceCheck("s", "x")]) for b in blocks]
    assert len(pulses) == 3
    assert all(p.gpu_error == NO_SMI and p.health["s"].startswith("down") for p in pulses)


def _loops_running(lab, host: str) -> int:
    """Pulse loops on the lab's hosts (they share this machine's processes); a loop's shell
    forks children that briefly carry the same command line, so only count the topmost."""
    script = (
        f"all=$(pgrep -f '{LOOP}'); for p in $all; do "
        "parent=$(ps -o ppid= -p $p | tr -d ' '); "
        'echo "$all" | grep -qx "$parent" || echo $p; done | wc -l'
    )
    return int(lab.run(host, script).stdout.strip() or 0)


def test_streams_over_the_lab(make_lab) -> None:
    lab = make_lab(["rtx4090", "a6000x2"], broken_hosts=True)
    inventory = load_inventory(lab.inventory_path)
    options = ConnectOptions.from_settings(inventory.settings)
    stream = stream_hosts(list(inventory.hosts.values()), options, interval=INTERVAL)
    good = ("rtx4090", "a6000x2")
    try:
        seen = _collect(stream, lambda s: all(len(s[h]) >= 3 for h in good))
        transports = dict(stream._transports)
        assert [len(seen[h][-1].gpus) for h in good] == [1, 2]
        assert all(p.ok for h in good for p in seen[h])
        assert seen["a6000x2"][-1].gpus[1].memory_total_mib
        assert seen["unreachable"][0].status == "unreachable"
        assert seen["wrong-hostkey"][0].status == "host-key-mismatch"
        assert seen["auth-fails"][0].status == "auth-failed"
        assert _loops_running(lab, "rtx4090") == 2  # one loop per good host
        # a server to check on rtx4090: its loop restarts on the same connection
        checks = {"rtx4090": [ServiceCheck("llama", "http://127.0.0.1:9")]}
        seen = _collect(stream, lambda s: any("llama" in p.health for p in s["rtx4090"]), checks)
        assert any(p.health.get("llama", "").startswith("down") for p in seen["rtx4090"])
        assert stream._transports["rtx4090"] is transports["rtx4090"]
    finally:
        stream.close()
    deadline = time.monotonic() + 10
    while _loops_running(lab, "rtx4090") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _loops_running(lab, "rtx4090") == 0  # closing the channels ended the loops


def test_a_loop_that_ends_is_reported_and_restarted(make_lab) -> None:
    lab = make_lab(["rtx4090"])
    inventory = load_inventory(lab.inventory_path)
    options = ConnectOptions.from_settings(inventory.settings)
    stream = PulseStream(list(inventory.hosts.values()), options, INTERVAL, retry_s=0.5)
    try:
        _collect(stream, lambda s: len(s["rtx4090"]) >= 1)
        lab.run("rtx4090", f"pkill -f '{LOOP}'; true")
        seen = _collect(stream, lambda s: any(not p.ok for p in s["rtx4090"]))
        assert any(p.status == "error" and not p.ok for p in seen["rtx4090"])
        seen = _collect(stream, lambda s: any(p.ok for p in s["rtx4090"]))
        assert seen["rtx4090"][-1].ok  # a fresh loop after retry_s
    finally:
        stream.close()
