"""Work on many hosts at once: a bounded thread pool, one outcome per host, never one
exception for the fleet."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Generic, TypeVar

from moefleet.errors import MoefleetError
from moefleet.inventory.model import Host

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HostOutcome(Generic[T]):
    """What happened on one host: a value, or an error of a known kind."""

    host: str
    value: T | None
    error: MoefleetError | None
    seconds: float

    @property
    def ok(self) -> bool:
        return self.error is None


def run_on_hosts(
    hosts: Sequence[Host],
    work: Callable[[Host], T],
    forks: int,
    on_done: Callable[[HostOutcome[T]], None] | None = None,
) -> dict[str, HostOutcome[T]]:
    """Run ``work(host)`` on every host, ``forks`` at a time; outcomes in ``hosts`` order.

    A MoefleetError becomes that host's outcome. Any other exception is a bug: it is logged
    with its traceback and also becomes that host's outcome, so the rest of the fleet goes on.
    """

    def attempt(host: Host) -> HostOutcome[T]:
        started = time.monotonic()
        try:
            value = work(host)
        except MoefleetError as exc:
            return HostOutcome(host.name, None, exc, time.monotonic() - started)
        except Exception as exc:  # a bug: keep the traceback, keep the fleet going
            log.exception("internal error while working on %s", host.name)
            error = MoefleetError(
                f"internal error: {type(exc).__name__}: {exc}",
                "this is a moefleet bug; run with -v for the traceback",
            )
            return HostOutcome(host.name, None, error, time.monotonic() - started)
        return HostOutcome(host.name, value, None, time.monotonic() - started)

    outcomes: dict[str, HostOutcome[T]] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(forks, len(hosts) or 1))) as pool:
        futures = [pool.submit(attempt, host) for host in hosts]
        for future in as_completed(futures):
            outcome = future.result()
            outcomes[outcome.host] = outcome
            if on_done is not None:
                on_done(outcome)
    return {host.name: outcomes[host.name] for host in hosts}
