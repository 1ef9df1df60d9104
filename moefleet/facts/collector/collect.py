"""moefleet fact collector: runs on the probed host, stdlib only, Python >= 3.8.

Shipped as the argument of ``python3 -S -c`` in ONE SSH round trip. It starts every fact
command at once (``os.posix_spawn``, each in its own session), collects their output in one
``select`` loop, kills a command's whole process group when its deadline passes, reads a few
/proc and /etc files, asks NVML when the NVIDIA driver is loaded and nvidia-ml-py importable,
and prints one JSON document between marker lines. It never parses tool output: the
controller does that.

It imports almost nothing on purpose: on a loaded host, ``subprocess``, ``json`` and
``site`` cost more interpreter start-up than all the fact commands together. Older Pythons
exit with status 3 and the caller runs the POSIX sh collector instead.

Arguments: TIMEOUT NVML(0|1) CSV_FIELDS CSV_FIELDS_MINIMAL DISK_PATH...
"""

import os
import select
import sys
import time

if not hasattr(os, "posix_spawn"):  # Python < 3.8: let the sh collector do it
    sys.exit(3)

VERSION = 2
MARK_BEGIN = "<<<MOEFLEET-FACTS"
MARK_END = "MOEFLEET-FACTS>>>"
MAX_OUTPUT = 4 * 1024 * 1024
SIGKILL = 9
TIMEOUT = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
USE_NVML = len(sys.argv) <= 2 or sys.argv[2] == "1"
CSV_FIELDS = sys.argv[3] if len(sys.argv) > 3 else ""
CSV_FIELDS_MINIMAL = sys.argv[4] if len(sys.argv) > 4 else ""
DISKS = sys.argv[5:] or ["/"]
HOME = os.environ.get("HOME", "/nonexistent")
EXTRA_PATH = [
    "/usr/local/cuda/bin",
    "/usr/local/bin",
    "/usr/sbin",
    "/sbin",
    "/opt/llama.cpp/build/bin",
    HOME + "/llama.cpp/build/bin",
    HOME + "/.local/bin",
]
ENV = dict(os.environ, LC_ALL="C", LANG="C")  # untranslated keys for lscpu, df, sensors
#: `--version` answers are remembered per binary (path, inode, size, mtime): a Go or CUDA
#: binary can cost more to start than the rest of the probe. Any change to it re-runs it.
VERSION_CACHE = os.path.join(
    os.environ.get("XDG_CACHE_HOME") or HOME + "/.cache", "moefleet", "collector-versions"
)
SEP = "\x00"


def binary_key(path):
    try:
        info = os.stat(path)
    except OSError:
        return None
    return "%s|%d|%d|%d" % (os.path.realpath(path), info.st_ino, info.st_size, info.st_mtime_ns)


def load_version_cache():
    """key -> (rc, stdout, stderr) from earlier probes (NUL-separated records)."""
    text = read_file(VERSION_CACHE)
    cache = {}
    for record in (text or "").split(SEP + SEP + "\n"):
        fields = record.split(SEP)
        if len(fields) == 4 and fields[1].isdigit():
            cache[fields[0]] = (int(fields[1]), fields[2], fields[3])
    return cache


def save_version_cache(cache):
    """Best effort: an unwritable home only means no cache."""
    try:
        os.makedirs(os.path.dirname(VERSION_CACHE), mode=0o700, exist_ok=True)
        temporary = "%s.%d" % (VERSION_CACHE, os.getpid())
        records = [SEP.join((k, str(v[0]), v[1], v[2])) for k, v in sorted(cache.items())]
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write((SEP + SEP + "\n").join(records))
        os.rename(temporary, VERSION_CACHE)
    except (OSError, ValueError):
        pass


def to_json(value):
    """Minimal JSON encoder (the json module would import re: ~15 ms on a busy host)."""
    if isinstance(value, str):
        return quote(value)
    if value is None or value is True or value is False:
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, (int, float)):
        return (
            repr(value) if value == value and value not in (float("inf"), float("-inf")) else "null"
        )
    if isinstance(value, dict):
        return "{" + ",".join(quote(str(k)) + ":" + to_json(v) for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    return quote(str(value))


try:
    from _json import encode_basestring_ascii as quote
except ImportError:  # a Python without the C accelerator: the slow path is still correct
    from json import dumps as quote


def which(name):
    """Path of ``name`` on PATH or in the usual install places, else None."""
    folders = os.environ.get("PATH", "").split(":") + EXTRA_PATH
    for folder in folders:
        candidate = os.path.join(folder or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def read_file(path, limit=MAX_OUTPUT):
    try:
        with open(path, "rb") as handle:
            return handle.read(limit).decode("utf-8", "replace")
    except OSError:
        return None


class Job:
    """One running command: its pipes, what it printed so far, and its deadline."""

    def __init__(self, name, argv, path, then):
        self.name, self.argv, self.path, self.then = name, argv, path, then
        self.out, self.err = [], []
        self.started = time.time()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, out_w, 1),
            (os.POSIX_SPAWN_DUP2, err_w, 2),
        ]
        actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in (out_r, err_r, out_w, err_w)]
        try:
            self.pid = os.posix_spawn(
                path, [path] + argv[1:], ENV, file_actions=actions, setpgroup=0
            )  # own process group: killed whole
        except OSError:
            os.close(out_r)
            os.close(err_r)
            raise
        finally:
            os.close(out_w)
            os.close(err_w)
        self.open = {out_r: self.out, err_r: self.err}

    def record(self, status, timed_out):
        code = (
            os.waitstatus_to_exitcode(status)
            if hasattr(os, "waitstatus_to_exitcode")
            else (status >> 8 if status & 0x7F == 0 else -(status & 0x7F))
        )
        text = lambda chunks: b"".join(chunks)[:MAX_OUTPUT].decode("utf-8", "replace")  # noqa
        return {
            "argv": self.argv,
            "path": self.path,
            "rc": code,
            "stdout": text(self.out),
            "stderr": text(self.err),
            "seconds": round(time.time() - self.started, 4),
            "timed_out": timed_out,
        }


class Runner:
    """Runs jobs concurrently in one select loop; a job's ``then`` may start follow-ups."""

    def __init__(self):
        self.jobs, self.results = [], {}
        self.wakeups = {}  # fd -> deadline: a thread writes one byte there when it is done
        self.versions, self.versions_changed = None, False
        self.cache_keys = {}  # job name -> binary key, for answers worth remembering

    def start(self, name, argv, then=None, cache=False):
        path = which(argv[0])
        if path is None:
            self.results[name] = {"argv": argv, "missing": True}
            if then:
                then(self.results[name])
            return
        if cache:
            if self.versions is None:
                self.versions = load_version_cache()
            key = binary_key(path)
            known = self.versions.get(key) if key else None
            if known is not None:
                self.results[name] = {"argv": argv, "path": path, "rc": known[0],
                                      "stdout": known[1], "stderr": known[2], "seconds": 0.0,
                                      "timed_out": False, "cached": True}  # fmt: skip
                return
            if key:
                self.cache_keys[name] = key
        try:
            self.jobs.append(Job(name, argv, path, then))
        except OSError as exc:
            self.results[name] = {"argv": argv, "path": path, "error": str(exc)}

    def _finish(self, job, timed_out):
        if timed_out:
            try:
                os.killpg(job.pid, SIGKILL)
            except OSError:
                pass
        for fd in list(job.open):
            os.close(fd)
        job.open.clear()
        _, status = os.waitpid(job.pid, 0)
        self.jobs.remove(job)
        self.results[job.name] = record = job.record(status, timed_out)
        key = self.cache_keys.get(job.name)
        if key and record["rc"] == 0 and not timed_out and self.versions is not None:
            self.versions[key] = (0, record["stdout"], record["stderr"])
            self.versions_changed = True
        if job.then:
            job.then(self.results[job.name])

    def _read(self, ready):
        for job in list(self.jobs):
            for fd in [fd for fd in job.open if fd in ready]:
                data = os.read(fd, 65536)
                if data and sum(map(len, job.open[fd])) < MAX_OUTPUT:
                    job.open[fd].append(data)
                elif not data:
                    os.close(fd)
                    del job.open[fd]
            if not job.open:
                self._finish(job, False)

    def loop(self):
        """Until every job has finished (or been killed at its deadline) and every thread
        has reported (or been given up on at its deadline)."""
        while self.jobs or self.wakeups:
            fds = [fd for job in self.jobs for fd in job.open] + list(self.wakeups)
            deadlines = [job.started + TIMEOUT for job in self.jobs] + list(self.wakeups.values())
            ready, _, _ = select.select(fds, [], [], max(0.0, min(deadlines) - time.time()))
            for fd in [fd for fd in self.wakeups if fd in ready]:
                os.read(fd, 1)
                del self.wakeups[fd]
                self.on_wakeup(fd)
            self._read(set(ready))
            now = time.time()
            for job in [j for j in self.jobs if now >= j.started + TIMEOUT]:
                self._finish(job, True)
            for fd in [fd for fd, deadline in self.wakeups.items() if now >= deadline]:
                del self.wakeups[fd]  # a hung thread (NVML): give up on it

    def on_wakeup(self, fd):
        """Overridden by the GPU chain (NVML finished in its thread)."""


def _nvml_value(nvml, name, *args):
    """nvml.<name>(*args), or None when the function is missing or NVML says no."""
    func = getattr(nvml, name, None)
    if func is None:
        return None
    try:
        value = func(*args)
    except Exception:  # NVMLError and friends: the value is simply unknown
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _nvml_device(nvml, index):
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    call = lambda name, *args: _nvml_value(nvml, name, handle, *args)  # noqa: E731
    memory = call("nvmlDeviceGetMemoryInfo")
    pci = call("nvmlDeviceGetPciInfo")
    reasons = call("nvmlDeviceGetCurrentClocksEventReasons")
    if reasons is None:
        reasons = call("nvmlDeviceGetCurrentClocksThrottleReasons")
    ecc = call("nvmlDeviceGetEccMode")
    remapped = call("nvmlDeviceGetRemappedRows")
    retired = [call("nvmlDeviceGetRetiredPages", cause) for cause in (0, 1)]
    limits = call("nvmlDeviceGetPowerManagementLimitConstraints")
    bus_id = getattr(pci, "busId", None) if pci is not None else None
    return {
        "index": index,
        "name": call("nvmlDeviceGetName"),
        "uuid": call("nvmlDeviceGetUUID"),
        "bus_id": bus_id.decode() if isinstance(bus_id, bytes) else bus_id,
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
        "power_max_limit_mw": limits[1] if limits else None,
        "power_default_limit_mw": call("nvmlDeviceGetPowerManagementDefaultLimit"),
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
        "retired_pages_pending": call("nvmlDeviceGetRetiredPagesPendingStatus"),
        "remapped_rows": list(remapped) if remapped else None,
        "persistence": call("nvmlDeviceGetPersistenceMode"),
        "mig_mode": (call("nvmlDeviceGetMigMode") or [None])[0],
    }


def nvml_snapshot():
    """Everything NVML says about every GPU, or {"available": False, ...} with the reason."""
    try:
        import site  # started with -S: site-packages only when NVML is worth a try

        site.main()
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
            "driver_version": _nvml_value(nvml, "nvmlSystemGetDriverVersion"),
            "cuda_driver_version": _nvml_value(nvml, "nvmlSystemGetCudaDriverVersion_v2"),
            "devices": [_nvml_device(nvml, i) for i in range(count)],
        }
    except Exception as exc:
        return {"available": True, "error": "NVML query failed: %s" % exc, "devices": []}
    finally:
        _nvml_value(nvml, "nvmlShutdown")


class Collector(Runner):
    """The fact commands, with the GPU chain: NVML, else nvidia-smi XML, else CSV."""

    def __init__(self):
        super().__init__()
        self.nvml = None
        self.nvml_fd = None

    def start_all(self):
        self.start("lscpu", ["lscpu"])
        self.start("llama-server", ["llama-server", "--version"], cache=True)
        self.start("docker", ["docker", "--version"], cache=True)
        if (read_file("/proc/1/comm") or "").strip() == "systemd":  # else units are moot
            self.start("systemctl", ["systemctl", "--version"], cache=True)
        self.start("nvcc", ["nvcc", "--version"], cache=True)
        self.start("sensors", ["sensors"])
        if which("rocm-smi"):
            self.start("rocm-smi", ["rocm-smi", "-a"])
        if USE_NVML and os.path.exists("/proc/driver/nvidia"):
            self._start_nvml()
        else:
            self._start_smi()

    def _start_nvml(self):
        import _thread

        read_fd, write_fd = os.pipe()
        self.nvml_fd = read_fd
        self.wakeups[read_fd] = time.time() + TIMEOUT

        def work():
            self.nvml = nvml_snapshot()
            os.write(write_fd, b"x")

        _thread.start_new_thread(work, ())

    def on_wakeup(self, fd):
        nvml = self.nvml or {}
        if not (nvml.get("available") and nvml.get("devices")):
            self._start_smi()

    def _start_lspci(self):
        """lspci only when the driver did not describe the GPUs: it finds GPUs without a
        driver and their links (nvidia-smi/NVML report links themselves)."""
        self.start("lspci", ["lspci", "-vvnn", "-D"])

    def _start_smi(self):
        self.start("nvidia-smi-xml", ["nvidia-smi", "-q", "-x"], then=self._after_xml)

    def _after_xml(self, xml):
        if xml.get("missing") or xml.get("timed_out") or xml.get("error"):
            self._start_lspci()
            return
        if xml.get("rc") != 0:
            self._start_lspci()
            if CSV_FIELDS:
                self._start_csv("nvidia-smi-csv", CSV_FIELDS, CSV_FIELDS_MINIMAL)
        elif xml.get("stdout", "").count("<gpu ") > 1:
            self.start("nvidia-smi-nvlink", ["nvidia-smi", "nvlink", "-s"])

    def _start_csv(self, name, fields, fallback):
        def then(csv):
            if csv.get("rc") not in (0, None) and not csv.get("timed_out") and fallback:
                self._start_csv("nvidia-smi-csv-minimal", fallback, "")

        self.start(
            name,
            ["nvidia-smi", "--query-gpu=" + fields, "--format=csv,noheader,nounits"],
            then=then,
        )

    def nvml_result(self):
        if self.nvml_fd is None:
            return None
        if self.nvml is None:  # the select loop gave up: NVML hung
            return {"available": True, "timed_out": True, "devices": []}
        return self.nvml


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


def vllm_version(vllm_path):
    """vllm's version from its dist-info folder name (importing vllm takes seconds)."""
    version = "%d.%d" % sys.version_info[:2]
    roots = [sys.prefix, sys.exec_prefix, "/usr", "/usr/local", HOME + "/.local"]
    if vllm_path:  # .../venv/bin/vllm -> .../venv
        roots.insert(0, os.path.dirname(os.path.dirname(os.path.realpath(vllm_path))))
    folders = list(sys.path)
    for root in roots:
        lib = os.path.join(root, "lib")
        pythons = [d for d in _listdir(lib) if d.startswith("python3")] or ["python" + version]
        for python in pythons:
            folders += [
                os.path.join(lib, python, "site-packages"),
                os.path.join(lib, python, "dist-packages"),
            ]
    for folder in folders:
        for name in _listdir(folder):
            if name.startswith("vllm-") and name.endswith(".dist-info"):
                return name[len("vllm-") : -len(".dist-info")]
    return None


def _listdir(folder):
    try:
        return os.listdir(folder or ".")
    except OSError:
        return []


def collect():
    started = time.time()
    collector = Collector()
    collector.start_all()
    files = {
        "os-release": read_file("/etc/os-release") or read_file("/usr/lib/os-release"),
        "meminfo": read_file("/proc/meminfo"),
        "pid1": read_file("/proc/1/comm"),
    }
    disks = [disk_record(path) for path in DISKS]
    vllm_path = which("vllm")
    vllm = vllm_version(vllm_path)
    collector.loop()
    if collector.versions_changed:
        save_version_cache(collector.versions)
    if collector.results.get("lscpu", {}).get("missing"):
        files["cpuinfo"] = read_file("/proc/cpuinfo")
    uname = os.uname()
    return {
        "collector": "python",
        "version": VERSION,
        "hostname": uname.nodename,
        "kernel": uname.release,
        "arch": uname.machine,
        "python": sys.version.split()[0],
        "python_path": sys.executable,
        "files": files,
        "disks": disks,
        "nvml": collector.nvml_result(),
        "commands": collector.results,
        "vllm": vllm,
        "vllm_path": vllm_path,
        "seconds": round(time.time() - started, 4),
    }


def main():
    document = to_json(collect())
    sys.stdout.write("\n%s\n%s\n%s\n" % (MARK_BEGIN, document, MARK_END))
    sys.stdout.flush()
    os._exit(0)  # do not wait for a hung NVML thread


main()
