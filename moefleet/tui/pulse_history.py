"""Recent pulses in memory: the latest pulse of every host and a bounded ring of samples per
GPU (and of the hottest GPU per host), for the sparklines. Fed on the UI thread; pure."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from moefleet.pulse import GpuSample, HostPulse

#: Samples kept per GPU (two minutes at the default 2-second pulse).
RING = 60


class PulseHistory:
    """The latest pulse per host, and the last ``size`` samples of each of its GPUs."""

    def __init__(self, size: int = RING) -> None:
        self.size = size
        self.latest: dict[str, HostPulse] = {}
        self.last_good: dict[str, HostPulse] = {}
        self.pulses = 0
        """pulse steps added so far"""
        self._gpus: dict[str, dict[int, deque[GpuSample]]] = {}
        self._hottest: dict[str, deque[float]] = {}

    def add(self, pulses: Iterable[HostPulse]) -> None:
        """Remember one step's pulses (a failed host keeps its history, marked stale)."""
        for pulse in pulses:
            self.latest[pulse.host] = pulse
            if not pulse.ok or not pulse.gpus:
                continue
            self.last_good[pulse.host] = pulse
            rings = self._gpus.setdefault(pulse.host, {})
            for sample in pulse.gpus:
                rings.setdefault(sample.gpu, deque(maxlen=self.size)).append(sample)
            temps = [s.temperature_c for s in pulse.gpus if s.temperature_c is not None]
            if temps:
                ring = self._hottest.setdefault(pulse.host, deque(maxlen=self.size))
                ring.append(max(temps))
        self.pulses += 1

    def gpus(self, host: str) -> dict[int, list[GpuSample]]:
        """Each GPU's recent samples, oldest first."""
        return {gpu: list(ring) for gpu, ring in sorted(self._gpus.get(host, {}).items())}

    def hottest(self, host: str) -> list[float]:
        """The hottest GPU's temperature at each recent pulse, oldest first."""
        return list(self._hottest.get(host, ()))
