"""The collector's NVML path, without a GPU: a stand-in ``pynvml`` answers with values taken
from a recorded H100 (the real_outputs H100 captures: 81559 MiB, Gen5 x16, 700 W) so the
collector's calls and the controller's conversion are exercised end to end. The same path on
real hardware is covered by the ``gpu``-marked test, which runs only where NVML works."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from datetime import UTC, datetime
from pathlib import Path

import pytest

from moefleet.facts.assemble import facts_from_document
from moefleet.facts.collect import collector_command, extract_document
from moefleet.facts.nvml import parse_nvml_snapshot
from moefleet.transport.local import LocalTransport

COLLECTOR = Path(__file__).resolve().parents[2] / "moefleet/facts/collector/collect.py"


def _collector_namespace() -> dict:
    source = COLLECTOR.read_text()
    assert source.rstrip().endswith("main()")
    namespace: dict = {"__name__": "moefleet_collector_under_test"}
    argv, sys.argv = sys.argv, ["collect", "5", "1"]
    try:
        exec(compile(source.rstrip()[: -len("main()")], str(COLLECTOR), "exec"), namespace)
    finally:
        sys.argv = argv
    return namespace


class _NVMLError(Exception):
    pass


def _recorded_h100() -> types.ModuleType:
    memory = types.SimpleNamespace(total=85520809984, used=557842432, free=84962967552)
    values = {
        "nvmlDeviceGetName": "NVIDIA H100 80GB HBM3",
        "nvmlDeviceGetUUID": "GPU-00000000-0000-0000-0000-000000000000",
        "nvmlDeviceGetPciInfo": types.SimpleNamespace(busId=b"00000000:19:00.0"),
        "nvmlDeviceGetMemoryInfo": memory,
        "nvmlDeviceGetCudaComputeCapability": (9, 0),
        "nvmlDeviceGetArchitecture": 9,
        "nvmlDeviceGetCurrPcieLinkGeneration": 5,
        "nvmlDeviceGetMaxPcieLinkGeneration": 5,
        "nvmlDeviceGetCurrPcieLinkWidth": 16,
        "nvmlDeviceGetMaxPcieLinkWidth": 16,
        "nvmlDeviceGetTemperature": 34,
        "nvmlDeviceGetFanSpeed": _NVMLError("Not Supported"),  # SXM boards have no fan
        "nvmlDeviceGetPowerUsage": 69850,
        "nvmlDeviceGetEnforcedPowerLimit": 700000,
        "nvmlDeviceGetPowerManagementDefaultLimit": 700000,
        "nvmlDeviceGetPowerManagementLimitConstraints": (200000, 700000),
        "nvmlDeviceGetPerformanceState": 0,
        "nvmlDeviceGetUtilizationRates": types.SimpleNamespace(gpu=0, memory=0),
        "nvmlDeviceGetCurrentClocksEventReasons": 0x1,
        "nvmlDeviceGetEccMode": (1, 1),
        "nvmlDeviceGetTotalEccErrors": 0,
        "nvmlDeviceGetRetiredPages": [],
        "nvmlDeviceGetRetiredPagesPendingStatus": 0,
        "nvmlDeviceGetRemappedRows": (0, 0, 0, 0),
        "nvmlDeviceGetPersistenceMode": 1,
        "nvmlDeviceGetMigMode": (0, 0),
        "nvmlDeviceGetClockInfo": 1980,
        "nvmlDeviceGetMaxClockInfo": 1980,
        "nvmlDeviceGetTemperatureThreshold": 90,
    }
    module = types.ModuleType("pynvml")

    def answer(name):
        def call(*_args):
            value = values[name]
            if isinstance(value, Exception):
                raise value
            return value

        return call

    for name in values:
        setattr(module, name, answer(name))
    module.nvmlInit = lambda: None
    module.nvmlShutdown = lambda: None
    module.nvmlDeviceGetCount = lambda: 2
    module.nvmlDeviceGetHandleByIndex = lambda index: f"handle-{index}"
    module.nvmlSystemGetDriverVersion = lambda: "590.48.01"
    module.nvmlSystemGetCudaDriverVersion_v2 = lambda: 13010
    return module


def test_nvml_snapshot_through_the_controller(monkeypatch):
    namespace = _collector_namespace()
    monkeypatch.setitem(sys.modules, "pynvml", _recorded_h100())
    monkeypatch.setitem(sys.modules, "site", types.SimpleNamespace(main=lambda: None))
    snapshot = namespace["nvml_snapshot"]()
    json_text = namespace["to_json"](snapshot)  # what travels over SSH
    report = parse_nvml_snapshot(json.loads(json_text))
    assert (report.source, report.driver_version, report.cuda_version) == (
        "nvml",
        "590.48.01",
        "13.1",
    )
    first = report.gpus[0]
    assert len(report.gpus) == 2 and first.bus_id == "0000:19:00.0"
    assert (first.memory_total_mib, first.compute_capability, first.architecture) == (
        81559,
        "9.0",
        "Hopper",
    )
    assert (first.pcie.gen_current, first.pcie.width_max) == (5, 16)
    assert first.fan_percent is None and first.power_limit_w == 700.0
    assert first.throttle_reasons == ["gpu_idle"] and first.ecc.enabled is True


def test_nvml_unavailable_is_reported_not_raised(monkeypatch):
    namespace = _collector_namespace()
    broken = types.ModuleType("pynvml")

    def fail():
        raise _NVMLError("NVML Shared Library Not Found")

    broken.nvmlInit = fail
    monkeypatch.setitem(sys.modules, "pynvml", broken)
    monkeypatch.setitem(sys.modules, "site", types.SimpleNamespace(main=lambda: None))
    snapshot = namespace["nvml_snapshot"]()
    assert snapshot["available"] is False and "Not Found" in snapshot["error"]


def test_to_json_matches_the_json_module():
    to_json = _collector_namespace()["to_json"]
    value = {"a": [1, 2.5, None, True, False], 'ü\n"': "x\x00y", "n": float("nan"), "t": (1,)}
    assert json.loads(to_json(value)) == {
        "a": [1, 2.5, None, True, False],
        'ü\n"': "x\x00y",
        "n": None,
        "t": [1],
    }


@pytest.mark.gpu
def test_real_nvml_probe_of_this_machine():
    """On a machine with an NVIDIA GPU and nvidia-ml-py: the local probe goes through NVML."""
    pytest.importorskip("pynvml")
    if not Path("/proc/driver/nvidia").exists():
        pytest.skip("no NVIDIA driver loaded on this machine")
    command = collector_command(sys.executable, timeout=20, disks=["/"])
    document = extract_document(LocalTransport().run(command, timeout=60).stdout)
    facts = facts_from_document("here", document, datetime.now(UTC))
    assert facts.gpu is not None and facts.gpu.source == "nvml", facts.problems
    smi = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=True)
    assert len(facts.gpus) == sum(line.startswith("GPU ") for line in smi.stdout.splitlines())
