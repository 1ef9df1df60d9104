"""The Textual application: screens, bindings, help, and the pulse (a worker that looks at
every inventory host each interval and posts what it saw). Read-only by default."""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.message import Message

from moefleet.errors import MoefleetError
from moefleet.pulse import HostPulse, Pulser
from moefleet.tui.actions import DeployRequest
from moefleet.tui.pulse_history import PulseHistory
from moefleet.tui.screens.fleet import FleetScreen
from moefleet.tui.screens.host import HostScreen
from moefleet.tui.source import StateSource

HELP = """\
moefleet tui — keys
  /        filter hosts            s / S   sort by the next column / reverse
  g        group by inventory group r       refresh now
  p        the plan                o       rollouts        b  benchmarks
  m        maximize the panel      d       (rollouts) deploy the plan, after a yes
  enter    open the host           escape  back / clear the filter
  ctrl+p   command palette (themes) ?       this help      q  quit
"""


class PulseArrived(Message):
    """One pulse step finished in the worker."""

    def __init__(self, pulses: list[HostPulse]) -> None:
        super().__init__()
        self.pulses = pulses


class MoefleetApp(App[None]):
    """Watch the fleet (more screens join as deploy and bench land)."""

    TITLE = "moefleet"
    CSS = """
    .hidden { display: none; }
    #fleet-summary { height: 1; padding: 0 1; }
    DataTable { height: 1fr; }
    #plan-table { width: 3fr; }
    #plan-explain { width: 2fr; }
    #runs { height: 8; }
    #hosts { height: 1fr; }
    #journal { height: 12; }
    #bench-table { width: 3fr; }
    #confirm { width: 70; height: auto; border: thick $error; padding: 1 2; background: $surface; }
    ConfirmScreen { align: center middle; }
    #confirm Horizontal { height: auto; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("m", "toggle_maximize", "Maximize", show=False),
    ]

    def __init__(
        self,
        source: StateSource,
        interval: float = 2.0,
        deploy: DeployRequest | None = None,
        pulse: Pulser | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.interval = interval
        self.deploy_request = deploy
        self.pulse = pulse
        self.pulse_history = PulseHistory() if pulse is not None else None

    def on_mount(self) -> None:
        self.push_screen(FleetScreen(self.source, self.interval, self.pulse_history))
        if self.pulse is not None:
            self.pulse_now()
            if self.interval > 0:
                self.set_interval(self.interval, self.pulse_now)

    def on_unmount(self) -> None:
        if self.pulse is not None:
            self.pulse.close()

    @work(thread=True, group="pulse")
    def pulse_now(self) -> None:
        """One pulse step in a worker thread (skipped while the previous one still runs)."""
        assert self.pulse is not None
        try:
            checks = self.source.service_checks()
        except MoefleetError:  # no readable state: pulse the GPUs, ask no server
            checks = {}
        pulses = self.pulse.step(checks)
        if pulses:
            self.post_message(PulseArrived(pulses))

    def on_pulse_arrived(self, message: PulseArrived) -> None:
        if self.pulse_history is None:
            return
        self.pulse_history.add(message.pulses)
        for screen in self.screen_stack:
            if isinstance(screen, FleetScreen | HostScreen):
                screen.pulse_updated()

    def action_toggle_maximize(self) -> None:
        """Maximize the focused panel, or restore the layout."""
        if self.screen.maximized is not None:
            self.screen.minimize()
        elif self.focused is not None:
            self.screen.maximize(self.focused)

    def action_help(self) -> None:
        self.notify(HELP, title="Keys", timeout=8)
