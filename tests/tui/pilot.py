"""Waiting for a Textual app driven by Pilot: workers finished, messages handled."""

from __future__ import annotations

from collections.abc import Callable

from textual.pilot import Pilot


async def settle(pilot: Pilot[None], done: Callable[[], object], tries: int = 200) -> None:
    """Let workers and messages run until ``done()`` is true (or ``tries`` rounds pass)."""
    for _ in range(tries):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        if done():
            return
