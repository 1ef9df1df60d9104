"""One host: every fact (the probe's own panel), every finding with its advice."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from moefleet.probe import HostProbe
from moefleet.views.probe import host_panel


class HostScreen(Screen[None]):
    """Facts and findings of one host (the same panel `moefleet probe` prints)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, probe: HostProbe) -> None:
        super().__init__()
        self.probe = probe

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="host-body"):
            yield Static(host_panel(self.probe), id="host-panel")
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"moefleet — {self.probe.host}"
