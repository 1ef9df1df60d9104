"""moefleet fact collector: runs on the probed host, stdlib only, Python >= 3.6.

Shipped as the argument of ``python3 -c`` in ONE SSH round trip. It runs every fact command
in parallel, each with its own timeout (the whole process group is killed when it expires),
reads a few /proc and /etc files, asks NVML when nvidia-ml-py is importable, and prints one
JSON document between marker lines. It never parses tool output: the controller does that.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

VERSION = 1
MARK_BEGIN = "<<<MOEFLEET-FACTS"
MARK_END = "MOEFLEET-FACTS>>>"
MAX_OUTPUT = 4 * 1024 * 1024
PARAMS = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
TIMEOUT = float(PARAMS.get("timeout", 20))
EXTRA_PATH = [
    "/usr/local/cuda/bin",
    "/usr/local/bin",
    "/usr/sbin",
    "/sbin",
    "/opt/llama.cpp/build/bin",
    os.path.expanduser("~/llama.cpp/build/bin"),
    os.path.expanduser("~/.local/bin"),
]
C_LOCALE = dict(os.environ, LC_ALL="C", LANG="C")  # untranslated keys for lscpu, df, sensors
CSV_FIELDS = PARAMS.get("csv_fields", "")
CSV_FIELDS_MINIMAL = PARAMS.get("csv_fields_minimal", "")


def which(name):
    """Path of ``name`` on PATH or in the usual install places, else None."""
    found = shutil.which(name)
    if found:
        return found
    for folder in EXTRA_PATH:
        candidate = os.path.join(folder, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def _text(data):
    return data[:MAX_OUTPUT].decode("utf-8", "replace")


def run(argv, timeout=None):
    """Run argv with a deadline; the record says rc, output, time and whether it timed out."""
    timeout = TIMEOUT if timeout is None else timeout
    path = which(argv[0])
    if path is None:
        return {"argv": argv, "missing": True}
    started = time.time()
    try:
        proc = subprocess.Popen(
            [path] + argv[1:],
            env=C_LOCALE,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        return {"argv": argv, "path": path, "error": str(exc)}
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            out, err = proc.communicate(timeout=2)
        except subprocess.TimeoutExpired:
            out, err = b"", b""
    return {
        "argv": argv,
        "path": path,
        "rc": proc.returncode,
        "stdout": _text(out),
        "stderr": _text(err),
        "seconds": round(time.time() - started, 4),
        "timed_out": timed_out,
    }


def read_file(path, limit=MAX_OUTPUT):
    try:
        with open(path, "rb") as handle:
            return _text(handle.read(limit))
    except OSError:
        return None


def _nvml_call(nvml, name, *args):
    """Call nvml.<name>(*args); None when the function is missing or NVML says no."""
    func = getattr(nvml, name, None)
    if func is None:
        return None
    try:
        value = func(*args)
    except Exception:  # NVMLError and friends: the value is simply unknown
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value


def _nvml_device(nvml, index):
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    call = lambda name, *args: _nvml_call(nvml, name, handle, *args)  # noqa: E731
    memory = call("nvmlDeviceGetMemoryInfo")
    pci = call("nvmlDeviceGetPciInfo")
    reasons = call("nvmlDeviceGetCurrentClocksEventReasons")
    if reasons is None:
        reasons = call("nvmlDeviceGetCurrentClocksThrottleReasons")
    ecc = call("nvmlDeviceGetEccMode")
    remapped = call("nvmlDeviceGetRemappedRows")
    pending = call("nvmlDeviceGetRetiredPagesPendingStatus")
    retired = [call("nvmlDeviceGetRetiredPages", cause) for cause in (0, 1)]
    return {
        "index": index,
        "name": call("nvmlDeviceGetName"),
        "uuid": call("nvmlDeviceGetUUID"),
        "bus_id": getattr(pci, "busId", None) if pci is not None else None,
        "memory_total": getattr(memory, "total", None),
        "memory_used": getattr(memory, "used", None),
        "memory_free": getattr(memory, "free", None),
        "compute_capability": call("nvmlDeviceGetCudaComputeCapability"),
        "architecture": call("nvmlDeviceGetArchitecture"),
        "pcie_gen_current": call("nvmlDeviceGetCurrPcieLinkGeneration"),
        "pcie_gen_max": call("nvmlDeviceGetMaxPcieLinkGeneration"),
        "pcie_width_current": call("nvmlDeviceGetCurrPcieLinkWidth"),
        "pcie_width_max": call("nvmlDeviceGetMaxPcieLinkWidth"),
        "temperature": call("nvmlDeviceGetTemperature", 0),
        "temperature_slowdown": call("nvmlDeviceGetTemperatureThreshold", 1),
        "temperature_shutdown": call("nvmlDeviceGetTemperatureThreshold", 0),
        "fan": call("nvmlDeviceGetFanSpeed"),
        "power_mw": call("nvmlDeviceGetPowerUsage"),
        "power_limit_mw": call("nvmlDeviceGetEnforcedPowerLimit"),
        "power_max_limit_mw": (
            call("nvmlDeviceGetPowerManagementLimitConstraints") or [None, None]
        )[1],
        "pstate": call("nvmlDeviceGetPerformanceState"),
        "utilization_gpu": getattr(call("nvmlDeviceGetUtilizationRates"), "gpu", None),
        "clock_sm": call("nvmlDeviceGetClockInfo", 1),
        "clock_sm_max": call("nvmlDeviceGetMaxClockInfo", 1),
        "clock_mem": call("nvmlDeviceGetClockInfo", 2),
        "event_reasons": reasons,
        "ecc_enabled": ecc[0] if ecc else None,
        "ecc_volatile_uncorrected": call("nvmlDeviceGetTotalEccErrors", 1, 0),
        "ecc_aggregate_uncorrected": call("nvmlDeviceGetTotalEccErrors", 1, 1),
        "ecc_volatile_corrected": call("nvmlDeviceGetTotalEccErrors", 0, 0),
        "ecc_aggregate_corrected": call("nvmlDeviceGetTotalEccErrors", 0, 1),
        "retired_pages": (
            sum(len(r) for r in retired if r is not None)
            if any(r is not None for r in retired)
            else None
        ),
        "retired_pages_pending": pending,
        "remapped_rows": list(remapped) if remapped else None,
        "persistence": call("nvmlDeviceGetPersistenceMode"),
        "mig_mode": (call("nvmlDeviceGetMigMode") or [None])[0],
    }


def nvml_snapshot():
    """Everything NVML says about every GPU, or {"available": False, ...} with the reason."""
    try:
        import pynvml as nvml
    except Exception as exc:
        return {"available": False, "error": "pynvml not importable: %s" % exc}
    try:
        nvml.nvmlInit()
    except Exception as exc:
        return {"available": False, "error": "nvmlInit failed: %s" % exc}
    try:
        count = nvml.nvmlDeviceGetCount()
        return {
            "available": True,
            "driver_version": _nvml_call(nvml, "nvmlSystemGetDriverVersion"),
            "cuda_driver_version": _nvml_call(nvml, "nvmlSystemGetCudaDriverVersion_v2"),
            "devices": [_nvml_device(nvml, i) for i in range(count)],
        }
    except Exception as exc:
        return {"available": True, "error": "NVML query failed: %s" % exc, "devices": []}
    finally:
        _nvml_call(nvml, "nvmlShutdown")


def with_deadline(func, timeout):
    """Run func in a daemon thread; {"timed_out": True} if it does not return in time."""
    box = {}
    thread = threading.Thread(target=lambda: box.update(value=func()), daemon=True)
    thread.start()
    thread.join(timeout)
    return box.get("value", {"available": True, "timed_out": True, "devices": []})


def gpu_section():
    """NVML first; else nvidia-smi -q -x; else the --query-gpu CSV (full, then minimal)."""
    section = {"nvml": None, "commands": {}}
    if PARAMS.get("nvml", True):
        section["nvml"] = with_deadline(nvml_snapshot, TIMEOUT)
        nvml = section["nvml"]
        if nvml.get("available") and (nvml.get("devices") or nvml.get("timed_out")):
            return section
    smi = run(["nvidia-smi", "-q", "-x"])
    section["commands"]["nvidia-smi-xml"] = smi
    if smi.get("missing") or smi.get("timed_out"):
        return section
    if smi.get("rc") != 0 and CSV_FIELDS:
        for key, fields in (
            ("nvidia-smi-csv", CSV_FIELDS),
            ("nvidia-smi-csv-minimal", CSV_FIELDS_MINIMAL),
        ):
            csv = run(["nvidia-smi", "--query-gpu=" + fields, "--format=csv,noheader,nounits"])
            section["commands"][key] = csv
            if csv.get("rc") == 0 or csv.get("timed_out") or not CSV_FIELDS_MINIMAL:
                break
    if smi.get("rc") == 0 and smi.get("stdout", "").count("<gpu ") > 1:
        section["commands"]["nvidia-smi-nvlink"] = run(["nvidia-smi", "nvlink", "-s"])
    return section


def disk_record(path):
    """statvfs of the nearest existing ancestor of path, with its mount point and fs type."""
    probe = os.path.abspath(os.path.expanduser(path))
    while not os.path.exists(probe) and probe != os.path.dirname(probe):
        probe = os.path.dirname(probe)
    try:
        stat = os.statvfs(probe)
    except OSError as exc:
        return {"path": path, "error": str(exc)}
    mount, fstype = "/", None
    for line in (read_file("/proc/self/mounts") or "").splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        point = parts[1].replace("\\040", " ")
        inside = probe == point or probe.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(mount):
            mount, fstype = point, parts[2]
    return {
        "path": path,
        "probed": probe,
        "mount": mount,
        "fstype": fstype,
        "total": stat.f_frsize * stat.f_blocks,
        "free": stat.f_frsize * stat.f_bavail,
    }


def vllm_version():
    """vllm's version from its dist-info folder name (no import: importing vllm takes seconds)."""
    for folder in sys.path:
        try:
            names = os.listdir(folder or ".")
        except OSError:
            continue
        for name in names:
            if name.startswith("vllm-") and name.endswith(".dist-info"):
                return name[len("vllm-") : -len(".dist-info")]
    return None


def system_commands():
    """The fact commands other than the GPU chain: name -> argv."""
    commands = {
        "lspci": ["lspci", "-vvnn", "-D"],
        "lscpu": ["lscpu"],
        "llama-server": ["llama-server", "--version"],
        "docker": ["docker", "--version"],
        "systemctl": ["systemctl", "--version"],
        "nvcc": ["nvcc", "--version"],
        "sensors": ["sensors"],
    }
    if which("rocm-smi"):
        commands["rocm-smi"] = ["rocm-smi", "-a"]
    return commands


def collect():
    started = time.time()
    results = {}
    threads = [threading.Thread(target=lambda: results.update(gpu=gpu_section()), daemon=True)]
    for name, argv in system_commands().items():
        threads.append(
            threading.Thread(target=lambda n=name, a=argv: results.update({n: run(a)}), daemon=True)
        )
    for thread in threads:
        thread.start()
    files = {
        "os-release": read_file("/etc/os-release") or read_file("/usr/lib/os-release"),
        "meminfo": read_file("/proc/meminfo"),
        "pid1": read_file("/proc/1/comm"),
    }
    disks = [disk_record(path) for path in PARAMS.get("disks", ["/"])]
    for thread in threads:
        thread.join(TIMEOUT + 5)
    gpu = results.pop("gpu", {"nvml": None, "commands": {}})
    if "lscpu" not in results or results["lscpu"].get("missing"):
        files["cpuinfo"] = read_file("/proc/cpuinfo")
    uname = os.uname()
    return {
        "collector": "python",
        "version": VERSION,
        "hostname": socket.gethostname(),
        "kernel": uname.release,
        "arch": uname.machine,
        "python": sys.version.split()[0],
        "python_path": sys.executable,
        "files": files,
        "disks": disks,
        "nvml": gpu["nvml"],
        "commands": dict(results, **gpu["commands"]),
        "vllm": vllm_version(),
        "vllm_path": which("vllm"),
        "seconds": round(time.time() - started, 4),
    }


def main():
    document = json.dumps(collect())
    sys.stdout.write("\n%s\n%s\n%s\n" % (MARK_BEGIN, document, MARK_END))
    sys.stdout.flush()
    os._exit(0)  # do not wait for a hung NVML or tool thread


main()
