"""The pulse as a stream: each host runs ONE long-lived loop that prints a pulse every interval,
and the controller only reads what arrives.

``Pulse`` (moefleet.pulse) opens a new SSH session per host per step: session setup and
teardown are most of its controller CPU (~2.5 ms per host per step, measured on the lab). Here
each host gets one channel for as long as the TUI runs; the loop on the host runs the same
``pulse_command`` every ``interval`` seconds and ends its block with a marker line, so a pulse
costs the controller one packet to decrypt and one parse. One reader thread polls every
channel. A host whose loop ends or falls silent for ``stale_after`` seconds gets a failed pulse
and a fresh loop at a later step (after ``retry_s``); when the servers to check on a host change,
its loop is restarted on the same connection. Closing a channel ends the loop on the host: its
next write gets SIGPIPE.
"""

from __future__ import annotations

import selectors
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from moefleet.errors import MoefleetError, TransportError
from moefleet.inventory.model import Host
from moefleet.pulse import (
    MARK,
    HostPulse,
    ServiceCheck,
    parse_pulse,
    pulse_command,
    quick_options,
)
from moefleet.transport import ConnectOptions, Stream, Transport, connect, run_on_hosts

END = f"{MARK} end"
#: Longest unfinished block kept per host (a runaway output is cut, not buffered forever).
MAX_BLOCK = 1 << 20


def loop_command(services: Sequence[ServiceCheck], python: str, interval: float) -> str:
    """The host-side loop, one pulse per ``interval`` (a slow pulse delays the next) until the
    channel closes. Each pulse is collected first and written at once with its end marker:
    one SSH packet per pulse for the controller to decrypt, not one per line."""
    body = pulse_command(services, python)
    return (
        f"while :; do sleep {interval:g} & out=$({body}); "
        f"printf '%s\\n%s\\n' \"$out\" '{END}'; wait $! || exit 0; done"
    )


@dataclass(eq=False)
class _HostLoop:
    """One host's running loop and the part of its output not yet parsed."""

    host: str
    transport: Transport
    stream: Stream
    services: tuple[ServiceCheck, ...]
    started: float
    last_block: float
    text: str = ""
    ended: bool = False

    def feed(self, data: bytes) -> list[str]:
        """Complete blocks in ``data`` (plus what was left over)."""
        self.text += data.decode("utf-8", "replace")
        blocks = []
        while (end := self.text.find(END + "\n")) >= 0:
            blocks.append(self.text[:end])
            self.text = self.text[end + len(END) + 1 :]
        if len(self.text) > MAX_BLOCK:
            self.text = self.text[-MAX_BLOCK:]
        return blocks


@dataclass(eq=False)
class PulseStream:
    """Pulses from a loop per host; ``step`` starts what is missing and returns what arrived.

    Same interface as ``Pulse``: ``step(services)`` returns the pulses that arrived since the
    last step (several per host if steps are far apart; [] when nothing new), failed pulses for
    hosts that cannot be reached, and never blocks longer than the connects it has to make."""

    hosts: Sequence[Host]
    options: ConnectOptions
    interval: float = 2.0
    forks: int = 32
    retry_s: float = 10.0
    stale_after: float | None = None
    """seconds without a block before a loop counts as stuck (default 3 intervals + 5 s)"""
    _loops: dict[str, _HostLoop] = field(default_factory=dict)
    _transports: dict[str, Transport] = field(default_factory=dict)
    _failed: dict[str, float] = field(default_factory=dict)
    _arrived: list[HostPulse] = field(default_factory=list)
    _changes: list[tuple[str, _HostLoop]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _busy: threading.Lock = field(default_factory=threading.Lock)
    _closed: bool = False
    _reader: threading.Thread | None = None

    @property
    def _stale_s(self) -> float:
        return self.stale_after if self.stale_after is not None else 3 * self.interval + 5

    def step(self, services: Mapping[str, Sequence[ServiceCheck]] | None = None) -> list[HostPulse]:
        """Start or restart loops as needed; the pulses that arrived since the last step."""
        if not self._busy.acquire(blocking=False):
            return []
        try:
            self._ensure_reader()
            now = time.monotonic()
            wanted = {h.name: tuple((services or {}).get(h.name, ())) for h in self.hosts}
            starting: list[Host] = []
            with self._lock:
                for host in self.hosts:
                    loop = self._loops.get(host.name)
                    if loop is not None and not loop.ended:
                        if loop.services != wanted[host.name]:
                            self._stop(loop, failed=False)  # a restart, not a failure
                        elif now - loop.last_block > self._stale_s:
                            self._stop(loop, failed=True, why="timeout", detail="no pulse")
                            continue
                        else:
                            continue
                    if self._failed.get(host.name, 0.0) <= now:
                        starting.append(host)
            outcomes = run_on_hosts(
                starting, lambda h: self._start(h, wanted[h.name]), max(1, self.forks)
            )
            for outcome in outcomes.values():
                if outcome.error is not None:
                    self._fail(outcome.host, outcome.error)
            with self._lock:
                arrived, self._arrived = self._arrived, []
            return arrived
        finally:
            self._busy.release()

    def _start(self, host: Host, services: tuple[ServiceCheck, ...]) -> None:
        with self._lock:
            transport = self._transports.get(host.name)
        if transport is None:
            transport = connect(host, self.options)
            with self._lock:
                self._transports[host.name] = transport
        command = loop_command(services, host.python or "python3", self.interval)
        try:
            stream = transport.stream(command)
        except MoefleetError:
            self._drop_transport(host.name)
            raise
        now = time.monotonic()
        loop = _HostLoop(host.name, transport, stream, services, now, now)
        with self._lock:
            if self._closed:
                stream.close()
                return
            self._loops[host.name] = loop
            self._changes.append(("add", loop))

    def _stop(self, loop: _HostLoop, failed: bool, why: str = "", detail: str = "") -> None:
        """Retire ``loop`` (the reader closes it); with ``failed``, report and back off."""
        loop.ended = True
        self._loops.pop(loop.host, None)
        self._changes.append(("remove", loop))
        if failed:
            self._transports.pop(loop.host, None)
            self._changes.append(("close-transport", loop))
            self._failed[loop.host] = time.monotonic() + self.retry_s
            self._arrived.append(
                HostPulse(loop.host, time.time(), why, error=f"{loop.host}: {detail}")
            )

    def _drop_transport(self, host: str) -> None:
        with self._lock:
            transport = self._transports.pop(host, None)
        if transport is not None:
            transport.close()

    def _fail(self, host: str, error: MoefleetError) -> None:
        kind = error.kind if isinstance(error, TransportError) else "error"
        with self._lock:
            self._failed[host] = time.monotonic() + self.retry_s
            self._arrived.append(HostPulse(host, time.time(), kind, error=error.message))

    def _ensure_reader(self) -> None:
        if self._reader is None:
            self._reader = threading.Thread(target=self._read, name="pulse-reader", daemon=True)
            self._reader.start()

    def _read(self) -> None:
        """The reader thread: poll every loop's channel, parse complete blocks."""
        selector = selectors.DefaultSelector()
        while True:
            with self._lock:
                changes, self._changes = self._changes, []
                closed = self._closed
            for change, loop in changes:
                self._apply(selector, change, loop)
            if closed:
                break
            for key, _ in selector.select(timeout=0.2):
                loop = key.data
                data = loop.stream.read()
                if data is None:
                    continue
                if data == b"":
                    selector.unregister(loop.stream)
                    loop.stream.close()
                    with self._lock:
                        if not loop.ended:
                            self._stop(loop, failed=True, why="error", detail="pulse loop ended")
                    continue
                self._parse(loop, loop.feed(data))
        for key in list(selector.get_map().values()):
            key.data.stream.close()
        selector.close()

    def _apply(self, selector: selectors.BaseSelector, change: str, loop: _HostLoop) -> None:
        if change == "add":
            if not loop.ended:
                selector.register(loop.stream, selectors.EVENT_READ, loop)
        elif change == "remove":
            if loop.stream in {k.fileobj for k in selector.get_map().values()}:
                selector.unregister(loop.stream)
            loop.stream.close()
        else:  # close-transport
            loop.transport.close()

    def _parse(self, loop: _HostLoop, blocks: list[str]) -> None:
        if not blocks:
            return
        now = time.time()
        pulses = [parse_pulse(loop.host, block, now, loop.services) for block in blocks]
        with self._lock:
            if loop.ended:
                return
            loop.last_block = time.monotonic()
            self._arrived.extend(pulses)

    def close(self) -> None:
        """End every loop and connection."""
        with self._lock:
            self._closed = True
            loops, self._loops = list(self._loops.values()), {}
            for loop in loops:
                loop.ended = True
                self._changes.append(("remove", loop))
            transports, self._transports = list(self._transports.values()), {}
        if self._reader is not None:
            self._reader.join(timeout=5)
        else:
            for loop in loops:
                loop.stream.close()
        for transport in transports:
            transport.close()


def stream_hosts(
    hosts: Sequence[Host], options: ConnectOptions, interval: float, forks: int = 32
) -> PulseStream:
    """A PulseStream of ``hosts`` whose connects time out quickly (a pulse must not linger)."""
    every = max(interval, 0.5)  # a host-side loop must not spin
    return PulseStream(list(hosts), quick_options(options), interval=every, forks=forks)
