"""The seeds' pre-deployment checklist as rules over facts: ``check_host(facts)``."""

from __future__ import annotations

from moefleet.facts.model import HostFacts
from moefleet.findings.gpu_rules import GPU_RULES
from moefleet.findings.host_rules import HOST_RULES
from moefleet.findings.model import LEVEL_ORDER, Finding, Level
from moefleet.findings.thresholds import DEFAULT_THRESHOLDS, Thresholds


def check_host(facts: HostFacts, limits: Thresholds = DEFAULT_THRESHOLDS) -> list[Finding]:
    """Every finding for one host, most severe first (then by GPU index)."""
    findings = [finding for rule in HOST_RULES for finding in rule(facts, limits)]
    findings += [
        finding for gpu in facts.gpus for rule in GPU_RULES for finding in rule(gpu, limits)
    ]
    return sorted(findings, key=lambda f: (LEVEL_ORDER[f.level], -1 if f.gpu is None else f.gpu))


__all__ = ["DEFAULT_THRESHOLDS", "Finding", "Level", "Thresholds", "check_host"]
