"""Start or stop a lab by hand.

    python -m tests.lab up --dir /tmp/lab [--hosts N | --profiles a,b,c] [--no-broken]
    python -m tests.lab down --dir /tmp/lab

``up`` prints the inventory path and keeps the lab running until Ctrl-C (or SIGTERM);
``down`` stops a lab that an ``up`` in another terminal (or a crashed run) left behind.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from tests.lab.fleet import Lab, stop_lab_dir
from tests.lab.profiles import DEFAULT_PROFILES, HostProfile, get_profile, synthetic_profile


def _profiles(args: argparse.Namespace) -> list[HostProfile]:
    if args.hosts is not None:
        return [synthetic_profile(i) for i in range(args.hosts)]
    names = args.profiles.split(",") if args.profiles else list(DEFAULT_PROFILES)
    return [get_profile(name.strip()) for name in names if name.strip()]


def _up(args: argparse.Namespace) -> int:
    lab = Lab.start(_profiles(args), args.dir, broken_hosts=not args.no_broken)

    def terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    try:
        print(lab.inventory_path, flush=True)
        print(
            f"{len(lab.hosts)} hosts up in {lab.started_in_s:.2f} s "
            f"({'emulated' if lab.emulates_system else 'NOT emulated: not root'}); "
            f"try: {' '.join(lab.ssh_argv(next(iter(lab.hosts)), 'nvidia-smi'))}",
            file=sys.stderr,
            flush=True,
        )
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        lab.stop()
    return 0


def _down(args: argparse.Namespace) -> int:
    killed = stop_lab_dir(Path(args.dir))
    print(f"stopped {killed} lab processes", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.lab", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start a lab and wait for Ctrl-C")
    up.add_argument("--dir", required=True, help="lab directory (world-traversable, e.g. /tmp/lab)")
    which = up.add_mutually_exclusive_group()
    which.add_argument("--hosts", type=int, help="N synthetic hosts (perf fleets)")
    which.add_argument("--profiles", help="comma-separated profile names (default: all)")
    up.add_argument("--no-broken", action="store_true", help="leave out the three broken hosts")
    down = commands.add_parser("down", help="stop the lab in --dir")
    down.add_argument("--dir", required=True)
    args = parser.parse_args(argv)
    return _up(args) if args.command == "up" else _down(args)


if __name__ == "__main__":
    sys.exit(main())
