"""The lab: a fleet of real OpenSSH ``sshd`` hosts on 127.0.0.1, each with emulated hardware.

Every host is one ``sshd -D -e -f HOSTDIR/sshd_config`` on its own loopback port with its own
ed25519 host key. As root each one runs in its own ``unshare --mount --uts`` namespace whose
``start.sh`` sets the hostname, bind-mounts the profile's ``/proc/meminfo`` and
``/proc/cpuinfo``, mounts a tmpfs of the profile's disk size on the models directory, replaces
``/usr/local/bin`` with the host's fake tools and gives the login user a clean home; logins use
the dedicated user ``moefleet-lab``. Without root the sshds run as the current user, without
namespaces (``Lab.emulates_system`` is then False).

Layout of a lab directory::

    inventory.toml  known_hosts  client_ed25519(.pub)  render_query.py  lab.json
    hosts/NAME/     sshd_config  ssh_host_ed25519_key(.pub)  authorized_keys  start.sh
                    fstab  sshd.log  bin/  answers/  proc/  home/

Every process a lab host starts carries ``MOEFLEET_LAB_DIR=<lab dir>`` in its environment
(the sshd listeners, whose process titles overwrite it, are known by their ``-f`` path);
``stop`` and ``python -m tests.lab down`` kill them by that mark, since sshd puts each
connection in a session of its own.

A profile with ``user_systemd`` (root + namespaces only) also runs the login user's
``systemd --user`` inside the host's namespace (``user-systemd.sh``), in cgroups delegated to
that user (``moefleet-lab-HASH.NAME`` under the cgroup2 mount and the named v1 ``systemd``
hierarchy), with ``XDG_RUNTIME_DIR=HOSTDIR/xdg`` set for SSH sessions; a tmpfs with an empty
``/run/systemd/system`` there makes it believe it was booted with systemd. ``stop`` kills what
is left in those cgroups and removes them.

A profile with ``system_systemd`` (root + namespaces only) instead runs a system ``systemd`` as
PID 1 of the host's own PID (and cgroup) namespace; it starts the host's sshd as a unit and
logins are as root. ``start.sh`` first gives the namespace its own ``/run``, ``/tmp``,
``/var/tmp``, ``/dev``, ``/sys/fs/cgroup`` and ``/etc/systemd/system`` (tmpfs), overlays
``/etc``, ``/home``, ``/opt``, ``/srv``, ``/usr`` and ``/var`` with tmpfs-backed upper layers,
binds the host's home over ``/root`` and makes ``/sys`` and ``/proc/sys`` read-only, so nothing
the manager or a deploy writes reaches this machine; the manager loads units only from
``/etc/systemd/system`` and ``HOSTDIR/units`` (no generators, no ``/lib/systemd/system``) and
runs without ``CAP_NET_ADMIN``, ``CAP_SYS_TIME`` and ``CAP_SYS_MODULE``. ``stop`` SIGKILLs the
namespace's ``unshare``, whose death kills PID 1 and with it the whole namespace.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.lab import render
from tests.lab.profiles import BROKEN_HOSTS, GPU_GROUPS, HostProfile, get_profile

SSHD = "/usr/sbin/sshd"
SYSTEMD = "/lib/systemd/systemd"
LAB_USER = "moefleet-lab"
ROOT = "root"
#: A system-manager host's overlays: what is written there lands in the namespace's tmpfs.
OVERLAID = ("/etc", "/home", "/opt", "/srv", "/usr", "/var")
#: What a system-manager host's systemd (and so every unit it starts) may never do.
DROPPED_CAPS = "-net_admin,-sys_time,-sys_module"
#: journald: services log to it as on a real host (``journalctl -u UNIT`` in the host). Not
#: its audit socket; the host's /dev has no kmsg.
JOURNAL_UNITS = (
    "systemd-journald.service",
    "systemd-journald.socket",
    "systemd-journald-dev-log.socket",
)
#: Empty stand-ins for the targets default dependencies and moefleet's units name (the
#: manager never loads /lib/systemd/system: nothing of this machine's units can start).
STUB_TARGETS = (
    "sysinit", "basic", "multi-user", "default", "network", "network-online", "network-pre",
    "sockets", "paths", "timers", "local-fs", "remote-fs", "nss-lookup", "time-sync",
    "shutdown", "graphical",
)  # fmt: skip
MODELS_DIR = "/srv/moefleet-models"
LOOPBACK = "127.0.0.1"
MARK = "MOEFLEET_LAB_DIR"
READY_TIMEOUT = 15.0
Fault = Literal["unreachable", "wrong-hostkey", "auth-fails"]
Mode = Literal["namespaces", "root", "user"]


class LabError(RuntimeError):
    """The lab could not be started (the message says which host and why)."""


@dataclass
class LabHost:
    """One lab host: where it listens and what it emulates."""

    name: str
    port: int
    profile: HostProfile | None
    """None for the ``unreachable`` host (nothing listens on its port)."""
    dir: Path
    fault: Fault | None = None
    user: str | None = None
    """Its login user when not the lab's (``root`` on a ``system_systemd`` host)."""
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    log_offset: int = field(default=0, repr=False)
    """Size of ``sshd.log`` when the host was last launched."""
    reserved: socket.socket | None = field(default=None, repr=False)
    """``unreachable``: its port, bound but not listening (refuses connections, stays ours)."""

    @property
    def address(self) -> str:
        return LOOPBACK

    @property
    def system_systemd(self) -> bool:
        return self.profile is not None and self.profile.system_systemd

    @property
    def pid(self) -> int | None:
        """The listening sshd's pid (also the namespace's first process); on a
        ``system_systemd`` host the ``unshare`` whose child is the namespace's PID 1."""
        return self.process.pid if self.process else None

    def path_in_host(self, path: str) -> Path:
        """``path`` as this host sees it (its mount namespace), readable from outside as root."""
        return Path(f"/proc/{self.pid}/root{path}") if self.pid else Path(path)


def _new_key() -> tuple[bytes, str]:
    """An ed25519 key: (OpenSSH private key file bytes, "ssh-ed25519 AAAA..." public line)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return private, public.decode()


def _write_key(path: Path, private: bytes, public: str, owner: int | None = None) -> None:
    path.write_bytes(private)
    path.chmod(0o600)
    if owner is not None:
        os.chown(path, owner, -1)
    path.with_suffix(".pub").write_text(public + "\n")


def _free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports that were free a moment ago."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind((LOOPBACK, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


_mode_cache: list[Mode] = []


def detect_mode() -> Mode:
    """namespaces (root, unshare works), root (no namespaces) or user (not root)."""
    if not _mode_cache:
        mode: Mode = "user"
        if os.geteuid() == 0:
            probe = ["unshare", "--mount", "--uts", "--propagation", "private", "true"]
            ok = (
                shutil.which("unshare")
                and subprocess.run(probe, capture_output=True, check=False).returncode == 0
            )
            mode = "namespaces" if ok else "root"
        _mode_cache.append(mode)
    return _mode_cache[0]


def ensure_lab_user() -> pwd.struct_passwd:
    """Create ``moefleet-lab`` (clean home, empty rc files, key logins allowed) if missing."""
    try:
        return _unlock(pwd.getpwnam(LAB_USER))
    except KeyError:
        pass
    with tempfile.TemporaryDirectory() as skel:  # empty: no /etc/skel rc files
        made = subprocess.run(
            ["useradd", "--create-home", "--skel", skel, "--shell", "/bin/bash",
             "--user-group", "--comment", "moefleet test lab", LAB_USER],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    try:
        user = pwd.getpwnam(LAB_USER)  # another process may have created it meanwhile
    except KeyError:
        raise LabError(f"cannot create the lab user {LAB_USER}: {made.stderr.strip()}") from None
    for rc in (".bashrc", ".profile", ".bash_logout"):
        (Path(user.pw_dir) / rc).touch()
    return _unlock(user)


def _unlock(user: pwd.struct_passwd) -> pwd.struct_passwd:
    """A useradd account is locked ("!"); with UsePAM no sshd then refuses even keys."""
    shadow = Path("/etc/shadow").read_text(encoding="utf-8")
    entry = next((line for line in shadow.splitlines() if line.startswith(LAB_USER + ":")), "")
    if entry.split(":")[1:2] != ["*"]:
        subprocess.run(["usermod", "-p", "*", LAB_USER], check=True, capture_output=True)
    return user


def _check_traversable(path: Path, uid: int) -> None:
    """The lab user must reach the host files (fake tools, authorized_keys) through ``path``."""
    for part in (path, *path.parents):
        st = part.stat()
        if not (st.st_mode & 0o001 or st.st_uid == uid):
            raise LabError(
                f"{part} is not searchable by {LAB_USER}: put the lab directory somewhere "
                "world-traversable, e.g. tempfile.mkdtemp(dir='/tmp')"
            )


def _marked_pids(workdir: Path) -> list[int]:
    """Live processes of this lab: the environment mark its sessions inherit, or (listeners,
    whose process title overwrites their environment) an sshd command line naming its files."""
    mark = f"{MARK}={workdir}".encode()
    config = f" -f {workdir}/hosts/".encode()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if mark in environ.split(b"\0") or config in cmdline:
            pids.append(int(entry))
    return pids


def kill_marked(workdir: Path, timeout: float = 5.0) -> int:
    """SIGKILL every process started for the lab at ``workdir`` and wait until they are gone;
    returns how many there were."""
    killed: set[int] = set()
    deadline = time.monotonic() + timeout
    while (pids := _marked_pids(workdir)) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            killed.add(pid)
        time.sleep(0.01)
    return len(killed)


def _cgroup_roots() -> list[Path]:
    """The cgroup2 mount and, on a hybrid hierarchy, the named v1 ``systemd`` one."""
    roots = []
    for line in Path("/proc/self/mounts").read_text(encoding="utf-8").splitlines():
        _dev, point, fstype, options, *_ = line.split()
        if fstype == "cgroup2" or (fstype == "cgroup" and "name=systemd" in options.split(",")):
            roots.append(Path(point))
    return roots


def _cgroup_prefix(workdir: Path) -> str:
    return f"moefleet-lab-{hashlib.sha256(str(workdir).encode()).hexdigest()[:10]}."


def _host_cgroups(workdir: Path, name: str) -> list[Path]:
    """The cgroups delegated to host ``name``'s user manager, one per hierarchy."""
    return [root / (_cgroup_prefix(workdir) + name) for root in _cgroup_roots()]


def _cgroup2_root() -> Path | None:
    """Where the cgroup2 hierarchy is mounted (None: not mounted)."""
    for line in Path("/proc/self/mounts").read_text(encoding="utf-8").splitlines():
        _dev, point, fstype, *_ = line.split()
        if fstype == "cgroup2":
            return Path(point)
    return None


def _system_cgroup(workdir: Path, name: str) -> Path:
    """The cgroup2 cgroup that is the root of a ``system_systemd`` host's cgroup namespace."""
    root = _cgroup2_root()
    assert root is not None  # _check_system_systemd
    return root / (_cgroup_prefix(workdir) + name)


def _delegate_cgroups(cgroups: list[Path], uid: int, gid: int) -> None:
    for cgroup in cgroups:
        cgroup.mkdir(exist_ok=True)
        for path in (cgroup, *cgroup.iterdir()):  # the directory and its interface files
            os.chown(path, uid, gid)


def remove_cgroups(workdir: Path, timeout: float = 5.0) -> None:
    """Kill every process left in the lab's user-manager cgroups, then remove them (leaves
    first: a cgroup goes only once it has no processes and no children)."""
    roots = [cg for root in _cgroup_roots() for cg in root.glob(_cgroup_prefix(workdir) + "*")]
    deadline = time.monotonic() + timeout
    for top in roots:
        while top.exists():
            for path, _dirs, _files in os.walk(top, topdown=False):
                with contextlib.suppress(OSError):
                    for pid in Path(path, "cgroup.procs").read_text().split():
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(int(pid), signal.SIGKILL)
                with contextlib.suppress(OSError):
                    os.rmdir(path)
            if time.monotonic() > deadline:
                raise LabError(f"cannot remove the lab's cgroup {top}")
            if top.exists():
                time.sleep(0.02)


# --- one host's files ------------------------------------------------------------------------


def _sshd_config(
    hostdir: Path, port: int, login: str, workdir: Path, user_systemd: bool = False
) -> str:
    path = f"{hostdir}/bin:/usr/local/bin:/usr/bin:/bin"
    if login == ROOT:
        path = f"{hostdir}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    runtime = f" XDG_RUNTIME_DIR={hostdir}/xdg" if user_systemd else ""
    return f"""# moefleet lab host {hostdir.name}
ListenAddress {LOOPBACK}:{port}
HostKey {hostdir}/ssh_host_ed25519_key
PidFile none
AuthorizedKeysFile {hostdir}/authorized_keys
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin {"prohibit-password" if login == ROOT else "no"}
AllowUsers {login}
MaxStartups 200:30:400
MaxSessions 64
LoginGraceTime 30
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
Subsystem sftp internal-sftp
SetEnv PATH={path} {MARK}={workdir} MOEFLEET_LAB_HOST={hostdir.name}{runtime}
"""


def _set_port(hostdir: Path, port: int) -> None:
    config = hostdir / "sshd_config"
    lines = config.read_text().splitlines(keepends=True)
    config.write_text(
        "".join(f"ListenAddress {LOOPBACK}:{port}\n" if ln.startswith("ListenAddress") else ln
                for ln in lines)
    )  # fmt: skip


def _fstab(hostdir: Path, profile: HostProfile, login: pwd.struct_passwd, models: str) -> str:
    def esc(path: str | Path) -> str:
        return str(path).replace(" ", "\\040")

    tmpfs = f"size={profile.disk_bytes},mode=0755,uid={login.pw_uid},gid={login.pw_gid}"
    return (
        f"{esc(hostdir)}/proc/meminfo /proc/meminfo none bind 0 0\n"
        f"{esc(hostdir)}/proc/cpuinfo /proc/cpuinfo none bind 0 0\n"
        f"moefleet-models {esc(models)} tmpfs {tmpfs} 0 0\n"
        f"{esc(hostdir)}/home {esc(login.pw_dir)} none bind 0 0\n"
    ) + (
        # the host's tools replace /usr/local/bin (login shells find them, this machine's own
        # tools there stay out), unless python3 lives only there (python:3.x images)
        f"{esc(hostdir)}/bin /usr/local/bin none bind 0 0\n"
        if Path("/usr/bin/python3").exists() or not Path("/usr/local/bin/python3").exists()
        else ""
    )


@functools.cache
def _no_rexec() -> str:
    """``-r`` where this sshd has it (< 9.8): no re-exec per connection, logins ~5x cheaper."""
    out = subprocess.run([SSHD, "-V"], capture_output=True, text=True, check=False)
    version = re.search(r"OpenSSH_(\d+)\.(\d+)", out.stderr + out.stdout)
    return "-r " if version and (int(version[1]), int(version[2])) < (9, 8) else ""


def _start_sh(hostdir: Path, name: str, namespaces: bool, user_systemd: bool = False) -> str:
    sshd = f"exec {SSHD} -D -e {_no_rexec()}-f {shlex.quote(str(hostdir / 'sshd_config'))}\n"
    if not namespaces:
        return f"#!/bin/sh\n# moefleet lab host {name} (no namespaces)\n{sshd}"
    manager = ""
    if user_systemd:  # systemd checks /run/systemd/system to believe it was booted with it
        script, log = (
            shlex.quote(str(hostdir / f)) for f in ("user-systemd.sh", "user-systemd.log")
        )
        manager = (
            "mkdir -p /run/systemd\n"
            "mount -t tmpfs -o mode=0755,size=64m moefleet-lab-systemd /run/systemd\n"
            f"mkdir /run/systemd/system\n/bin/sh {script} > {log} 2>&1 < /dev/null &\n"
        )
    return (
        f"#!/bin/sh\n# moefleet lab host {name}: run by unshare --mount --uts --propagation "
        "private\nset -e\n"
        f"echo {shlex.quote(name)} > /proc/sys/kernel/hostname\n"
        f"mount -a -T {shlex.quote(str(hostdir / 'fstab'))}\n{manager}{sshd}"
    )


def _system_start_sh(hostdir: Path, name: str, workdir: Path) -> str:
    """A ``system_systemd`` host: private /run, /tmp, /dev, cgroup2 and unit directory,
    overlays over what a system manager or a root deploy writes, then exec the manager."""
    q = shlex.quote
    env = {
        "container": "moefleet-lab",  # systemd's container mode: no console, no kmsg
        "SYSTEMD_UNIT_PATH": f"/etc/systemd/system:{hostdir}/units",  # and nothing else
        "SYSTEMD_GENERATOR_PATH": f"{hostdir}/none",
        "SYSTEMD_ENVIRONMENT_GENERATOR_PATH": f"{hostdir}/none",
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        MARK: str(workdir),
    }
    manager = [
        "env", "-i", *(f"{k}={v}" for k, v in env.items()),
        "setpriv", f"--bounding-set={DROPPED_CAPS}", "--",
        SYSTEMD, "--system", "--unit=moefleet-lab.target", "--log-target=journal",
        "--show-status=no",
    ]  # fmt: skip
    return f"""#!/bin/sh
# moefleet lab host {name}: run by unshare --mount --uts --pid --cgroup --kill-child
# --mount-proc --propagation private as PID 1 of its own PID namespace; becomes systemd
set -e
H={q(str(hostdir))}
LAB={q(str(workdir))}
echo {q(name)} > /proc/sys/kernel/hostname
mount -t tmpfs -o mode=0755,nosuid,nodev,size=64m moefleet-lab-run /run
mkdir -p /run/sshd /run/moefleet-lab
mount -t tmpfs -o mode=0700 moefleet-lab-layers /run/moefleet-lab
for d in {" ".join(OVERLAID)}; do
  if [ -d "$d" ] && [ ! -L "$d" ]; then
    L="/run/moefleet-lab$d"
    mkdir -p "$L/upper" "$L/work"
    mount -t overlay -o "lowerdir=$d,upperdir=$L/upper,workdir=$L/work" moefleet-lab-overlay "$d"
  fi
done
mount -a -T "$H/fstab"
echo {q(name)} > /etc/hostname
mount -t tmpfs -o mode=0755 moefleet-lab-units /etc/systemd/system
mkdir /run/moefleet-lab/keep
mount --rbind "$LAB" /run/moefleet-lab/keep
mount -t tmpfs -o mode=1777,nosuid,nodev moefleet-lab-tmp /tmp
mkdir -p "$LAB"
mount --move /run/moefleet-lab/keep "$LAB"
mount -t tmpfs -o mode=1777,nosuid,nodev moefleet-lab-vartmp /var/tmp
mount -t tmpfs -o mode=0755,nosuid,size=4m moefleet-lab-dev /dev
mknod -m 666 /dev/null c 1 3; mknod -m 666 /dev/zero c 1 5; mknod -m 666 /dev/full c 1 7
mknod -m 666 /dev/random c 1 8; mknod -m 666 /dev/urandom c 1 9; mknod -m 666 /dev/tty c 5 0
mkdir /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 moefleet-lab-pts /dev/pts
mount -t tmpfs -o mode=1777,nosuid,nodev moefleet-lab-shm /dev/shm
ln -s pts/ptmx /dev/ptmx; ln -s /proc/self/fd /dev/fd; ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout; ln -s /proc/self/fd/2 /dev/stderr
touch "$H/systemd.log" /dev/console; mount --bind "$H/systemd.log" /dev/console
umount -R /sys/fs/cgroup 2>/dev/null || true
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup
mount --bind /proc/sys /proc/sys; mount -o remount,bind,ro /proc/sys /proc/sys
if [ -e /proc/sysrq-trigger ]; then
  mount --bind /proc/sysrq-trigger /proc/sysrq-trigger
  mount -o remount,bind,ro /proc/sysrq-trigger /proc/sysrq-trigger
fi
mount -o remount,bind,ro /sys /sys
exec {shlex.join(manager)} >> "$H/systemd.log" 2>&1
"""


def _system_units(hostdir: Path, name: str, workdir: Path) -> dict[str, str]:
    """The manager's own units: its default target, which starts the sshd and journald (the
    machine's own units for it: the only ones of /lib/systemd/system the manager sees)."""
    sshd = f"{SSHD} -D -e {_no_rexec()}-f {hostdir / 'sshd_config'}"
    journal = " ".join(JOURNAL_UNITS[1:])
    units = {
        "moefleet-lab.target": f"[Unit]\nDescription=moefleet lab host {name}\n"
        f"Requires=moefleet-lab-sshd.service\nWants={journal}\n"
        f"After=moefleet-lab-sshd.service {journal}\n",
        "moefleet-lab-sshd.service": f"[Unit]\nDescription=sshd of moefleet lab host {name}\n"
        f"DefaultDependencies=no\n\n[Service]\nExecStart={sshd}\n"
        f"Environment={MARK}={workdir}\nStandardOutput=append:{hostdir / 'sshd.log'}\n"
        "StandardError=inherit\n",
    }
    for target in STUB_TARGETS:
        units[f"{target}.target"] = (
            f"[Unit]\nDescription=moefleet lab stand-in for {target}.target\n"
            "DefaultDependencies=no\n"
        )
    return units


def _user_systemd_sh(
    hostdir: Path, login: pwd.struct_passwd, cgroups: list[Path], workdir: Path
) -> str:
    """Moves itself into the host's delegated cgroups, then becomes the login user's manager."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": login.pw_dir, "USER": login.pw_name,
        "LOGNAME": login.pw_name, "SHELL": login.pw_shell, "LANG": "C",
        "XDG_RUNTIME_DIR": str(hostdir / "xdg"), MARK: str(workdir),
    }  # fmt: skip
    moves = "".join(f"echo $$ > {shlex.quote(str(cg / 'cgroup.procs'))}\n" for cg in cgroups)
    setpriv = ["setpriv", f"--reuid={login.pw_uid}", f"--regid={login.pw_gid}", "--init-groups"]
    words = [*setpriv, "--", "env", "-i", *(f"{k}={v}" for k, v in env.items()), SYSTEMD, "--user"]
    return (
        f"#!/bin/sh\n# moefleet lab host {hostdir.name}: systemd --user of {login.pw_name}\n"
        f"set -e\n{moves}exec {shlex.join(words)}\n"
    )


_SMI_OK = """case "$*" in
"") exec cat "$A/nvidia-smi.txt" ;;
"-q -x"|"-x -q"|"--query --xml-format"|"-q --xml-format"|"--xml-format -q")
  exec cat "$A/nvidia-smi.xml" ;;
"-L"|"--list-gpus") exec cat "$A/nvidia-smi-L.txt" ;;
"nvlink -s"|"nvlink --status") exec cat "$A/nvlink-s.txt" ;;
"--version") exec cat "$A/nvidia-smi-version.txt" ;;
"-q"|"--query") echo "moefleet lab: nvidia-smi -q text is not emulated (use -q -x)" >&2; exit 2 ;;
esac
for arg in "$@"; do
  case "$arg" in
  --query-gpu*|--query-compute-apps*) exec python3 "$LAB/render_query.py" "$A/query.json" "$@" ;;
  esac
done
echo "Invalid combination of input arguments. Please run 'nvidia-smi -h' for help."
exit 2
"""
_SMI_FAILS = 'cat "$A/nvidia-smi-failed.txt"\nexit 9\n'
_SMI_HANGS = "exec sleep 3600\n"
_LSPCI = (
    'case "$*" in *10de*|*10DE*) exec cat "$A/lspci-nvidia.txt" ;; esac\nexec cat "$A/lspci.txt"\n'
)
_LSCPU = 'exec cat "$A/lscpu.txt"\n'
_LLAMA = """case "$1" in
--version) cat "$A/llama-server-version.txt" >&2; exit 0 ;;
esac
echo "moefleet lab: this llama-server only answers --version" >&2
exit 1
"""


def _tools(profile: HostProfile) -> dict[str, str]:
    tools = {"lspci": _LSPCI, "lscpu": _LSCPU}
    if profile.nvidia_smi_installed:
        tools["nvidia-smi"] = {"ok": _SMI_OK, "fails": _SMI_FAILS, "hangs": _SMI_HANGS}[profile.smi]
    if profile.llama_server:
        tools["llama-server"] = _LLAMA
    return tools


def _answers(profile: HostProfile) -> dict[str, str]:
    files = {
        "lspci.txt": render.lspci(profile),
        "lspci-nvidia.txt": render.lspci(profile, nvidia_only=True),
        "lscpu.txt": render.lscpu(profile.cpu),
    }
    if profile.nvidia_smi_installed:
        major = profile.driver_version.rsplit(".", 1)[0]
        files |= {
            "nvidia-smi.txt": render.nvsmi_table(profile),
            "nvidia-smi.xml": render.nvsmi_xml(profile),
            "nvidia-smi-L.txt": render.nvsmi_list(profile),
            "nvlink-s.txt": render.nvlink_status(profile),
            "nvidia-smi-failed.txt": render.SMI_FAILED,
            "nvidia-smi-version.txt": (
                f"NVIDIA-SMI version  : {profile.driver_version}\nNVML version        : {major}\n"
                f"DRIVER version      : {profile.driver_version}\n"
                f"CUDA Version        : {profile.cuda_version}\n"
            ),
            "query.json": json.dumps(render.query_document(profile)),
        }
    if profile.llama_server:
        files["llama-server-version.txt"] = render.llama_version(profile.llama_server, profile)
    return files


def _write_host_files(
    hostdir: Path, profile: HostProfile, workdir: Path, *, port: int,
    login: pwd.struct_passwd, models_dir: str, namespaces: bool,
) -> None:  # fmt: skip
    """Everything one host needs: sshd_config, start.sh, fstab, fake tools and their answers
    (and, with ``user_systemd``, the user manager's script, runtime dir and cgroups; with
    ``system_systemd``, the manager's units and cgroup)."""
    for sub in ("bin", "answers", "proc", "home"):
        (hostdir / sub).mkdir(exist_ok=True)
    manager = profile.user_systemd
    (hostdir / "sshd_config").write_text(
        _sshd_config(hostdir, port, login.pw_name, workdir, manager)
    )
    if profile.system_systemd:
        (hostdir / "start.sh").write_text(_system_start_sh(hostdir, profile.name, workdir))
        (hostdir / "none").mkdir(exist_ok=True)  # the manager's (empty) generator path
        (hostdir / "units").mkdir(exist_ok=True)
        for unit, text in _system_units(hostdir, profile.name, workdir).items():
            (hostdir / "units" / unit).write_text(text)
        for unit in JOURNAL_UNITS:
            link = hostdir / "units" / unit
            link.unlink(missing_ok=True)
            link.symlink_to(f"/lib/systemd/system/{unit}")
        _system_cgroup(workdir, hostdir.name).mkdir(exist_ok=True)
    else:
        (hostdir / "start.sh").write_text(_start_sh(hostdir, profile.name, namespaces, manager))
    if manager:
        cgroups = _host_cgroups(workdir, hostdir.name)
        _delegate_cgroups(cgroups, login.pw_uid, login.pw_gid)
        runtime = hostdir / "xdg"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.chown(runtime, login.pw_uid, login.pw_gid)
        script = _user_systemd_sh(hostdir, login, cgroups, workdir)
        (hostdir / "user-systemd.sh").write_text(script)
    (hostdir / "fstab").write_text(_fstab(hostdir, profile, login, models_dir))
    (hostdir / "proc" / "meminfo").write_text(render.meminfo(profile))
    (hostdir / "proc" / "cpuinfo").write_text(render.cpuinfo(profile.cpu))
    for name, text in _answers(profile).items():
        (hostdir / "answers" / name).write_text(text)
    answers, lab = shlex.quote(str(hostdir / "answers")), shlex.quote(str(workdir))
    head = f"#!/bin/sh\n# moefleet lab: fake {{}} of host {profile.name}\nA={answers}\nLAB={lab}\n"
    for name, body in _tools(profile).items():
        tool = hostdir / "bin" / name
        tool.write_text(head.format(name) + body)
        tool.chmod(0o755)
    home = hostdir / "home"
    for rc in (".bashrc", ".profile", ".bash_logout"):
        (home / rc).touch()
    if namespaces:
        for path in (home, *home.iterdir()):
            os.chown(path, login.pw_uid, login.pw_gid)


# --- inventory -------------------------------------------------------------------------------


def _toml_list(names: Iterable[str]) -> str:
    return "[" + ", ".join(json.dumps(n) for n in names) + "]"


def _inventory_toml(lab: Lab) -> str:
    """The lab's inventory in moefleet's format (strict host keys against the lab's file)."""
    q = json.dumps
    out = [
        "# moefleet test lab: every host is an OpenSSH sshd on 127.0.0.1 (tests/lab/fleet.py)",
        "[settings]",
        f"known_hosts = {q(str(lab.known_hosts_path))}",
        'ssh_config = ""',
        "connect_timeout = 5.0",
        "allow_agent = false",
        "look_for_keys = false",
        f"forks = {min(max(20, len(lab.hosts)), 500)}",
        "",
        "[all]",
        f"user = {q(lab.user)}",
        f"key_file = {q(str(lab.client_key_path))}",
        f"vars = {{ models_dir = {q(lab.models_dir)} }}",
    ]
    groups: dict[str, list[str]] = {}
    for host in lab.hosts.values():
        profile = q(host.profile.name if host.profile else "")
        out += ["", f"[hosts.{host.name}]", f'address = "{LOOPBACK}"', f"port = {host.port}"]
        if host.user:
            out.append(f"user = {q(host.user)}")
        out.append(f"vars = {{ lab_profile = {profile} }}")
        group = "broken" if host.fault else host.profile.group if host.profile else "broken"
        groups.setdefault(group, []).append(host.name)
    for group, members in groups.items():
        out += ["", f"[groups.{group}]", f"hosts = {_toml_list(members)}"]
    children = [g for g in GPU_GROUPS if g in groups]
    if children:
        out += ["", "[groups.gpu]", f"children = {_toml_list(children)}"]
    return "\n".join(out) + "\n"


@dataclass
class Lab:
    """A running lab. Start it with ``Lab.start``; ``stop`` (or ``with``) tears it down."""

    workdir: Path
    mode: Mode
    user: str
    models_dir: str
    hosts: dict[str, LabHost]
    client_key_path: Path
    known_hosts_path: Path
    inventory_path: Path
    started_in_s: float = 0.0

    @property
    def emulates_system(self) -> bool:
        """True when hostname, /proc/meminfo, /proc/cpuinfo and the models disk are the
        profile's (root + namespaces); False when they are this machine's."""
        return self.mode == "namespaces"

    @classmethod
    def start(
        cls,
        profiles: Iterable[HostProfile | str],
        workdir: str | os.PathLike[str],
        broken_hosts: bool = True,
        models_dir: str = MODELS_DIR,
    ) -> Lab:
        """Write every host's files, start all sshds at once, wait for their banners."""
        began = time.perf_counter()
        lab = cls._prepare(
            [get_profile(p) if isinstance(p, str) else p for p in profiles],
            Path(workdir).resolve(),
            broken_hosts,
            models_dir,
        )
        try:
            lab._launch_all()
            lab._write_client_files()
        except BaseException:
            lab.stop()
            raise
        lab.started_in_s = time.perf_counter() - began
        return lab

    @classmethod
    def _prepare(
        cls, profiles: list[HostProfile], workdir: Path, broken: bool, models_dir: str
    ) -> Lab:
        if not Path(SSHD).is_file():
            raise LabError(f"{SSHD} is missing: apt-get install -y openssh-server")
        mode = detect_mode()
        names = [p.name for p in profiles] + (list(BROKEN_HOSTS) if broken else [])
        if len(set(names)) != len(names):
            raise LabError(f"duplicate lab host names in {names}")
        workdir.mkdir(parents=True, exist_ok=True)
        workdir.chmod(0o755)
        if mode == "user":
            user = pwd.getpwuid(os.geteuid())
        else:
            user = ensure_lab_user()
            _check_traversable(workdir, user.pw_uid)
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        if any(p.user_systemd for p in profiles):
            _check_user_systemd(mode)
        if any(p.system_systemd for p in profiles):
            _check_system_systemd(profiles)
        if mode == "namespaces":  # each host mounts its own tmpfs here
            Path(models_dir).mkdir(parents=True, exist_ok=True)
        else:  # one real directory, shared by all hosts
            models_dir = str(workdir / "models")
            Path(models_dir).mkdir(exist_ok=True)
            os.chown(models_dir, user.pw_uid, user.pw_gid)
        shutil.copy(Path(__file__).with_name("render_query.py"), workdir / "render_query.py")
        client = workdir / "client_ed25519"
        _write_key(client, *_new_key())
        ports = _free_ports(len(names))
        lab = cls(
            workdir=workdir, mode=mode, user=user.pw_name, models_dir=models_dir, hosts={},
            client_key_path=client, known_hosts_path=workdir / "known_hosts",
            inventory_path=workdir / "inventory.toml",
        )  # fmt: skip
        for profile, port in zip(profiles, ports, strict=False):
            lab.hosts[profile.name] = LabHost(
                profile.name, port, profile, lab._host_dir(profile.name),
                user=ROOT if profile.system_systemd else None,
            )  # fmt: skip
        if broken:
            lab._add_broken(dict(zip(BROKEN_HOSTS, ports[len(profiles) :], strict=True)))
        return lab

    def _host_dir(self, name: str) -> Path:
        return self.workdir / "hosts" / name

    def _add_broken(self, ports: dict[str, int]) -> None:
        base = get_profile("cpu-only")
        for name, port in ports.items():
            fault: Fault = name  # type: ignore[assignment]
            profile = None if fault == "unreachable" else replace(base, name=name, group="broken")
            host = LabHost(name, port, profile, self._host_dir(name), fault)
            if fault == "unreachable":
                host.reserved = socket.socket()
                host.reserved.bind((LOOPBACK, 0))
                host.port = host.reserved.getsockname()[1]
            self.hosts[name] = host

    def _write_one(self, host: LabHost, user: pwd.struct_passwd, client_public: str) -> None:
        assert host.profile is not None
        owner = user.pw_uid if self.mode == "user" else None
        if host.user:
            user = pwd.getpwnam(host.user)
        host.dir.mkdir(parents=True, exist_ok=True)
        private, public = _new_key()
        _write_key(host.dir / "ssh_host_ed25519_key", private, public, owner)
        authorized = _new_key()[1] if host.fault == "auth-fails" else client_public.strip()
        (host.dir / "authorized_keys").write_text(authorized + "\n")
        _write_host_files(
            host.dir, host.profile, self.workdir, port=host.port, login=user,
            models_dir=self.models_dir, namespaces=self.mode == "namespaces",
        )  # fmt: skip

    def _launch(self, host: LabHost) -> None:
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C", MARK: str(self.workdir)}
        argv = ["/bin/sh", str(host.dir / "start.sh")]
        if host.system_systemd:  # enter the host's cgroup, then its namespaces (PID 1 there)
            procs = shlex.quote(str(_system_cgroup(self.workdir, host.name) / "cgroup.procs"))
            unshare = ["unshare", "--mount", "--uts", "--pid", "--cgroup", "--kill-child=SIGKILL",
                       "--mount-proc", "--propagation", "private", *argv]  # fmt: skip
            argv = ["/bin/sh", "-c", f"echo $$ > {procs} && exec {shlex.join(unshare)}"]
        elif self.mode == "namespaces":
            argv = ["unshare", "--mount", "--uts", "--propagation", "private", *argv]
        with (host.dir / "sshd.log").open("ab") as log:
            host.log_offset = log.tell()
            host.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=env, start_new_session=True,
            )  # fmt: skip

    def _launch_all(self) -> None:
        """Write each host's files and start it at once, so sshds boot while the next is written."""
        user = pwd.getpwnam(self.user)
        client_public = self.client_key_path.with_suffix(".pub").read_text()
        live = [h for h in self.hosts.values() if h.fault != "unreachable"]
        for host in live:
            self._write_one(host, user, client_public)
            self._launch(host)
        with ThreadPoolExecutor(max_workers=min(64, max(1, len(live)))) as pool:
            for job in [pool.submit(self._wait_ready, host) for host in live]:
                job.result()

    def _wait_ready(self, host: LabHost) -> None:
        """Until ``host`` sends its SSH-2.0 banner; relaunch on a new port if the port was taken."""
        deadline = time.monotonic() + READY_TIMEOUT
        for _attempt in range(3):
            while time.monotonic() < deadline:
                if _banner(host.port):
                    self._wait_user_manager(host, deadline)
                    return
                assert host.process is not None
                if host.process.poll() is not None:
                    break
                if host.system_systemd and _port_taken(host):  # its manager lives on
                    _killpg(host.process.pid, signal.SIGKILL)
                    host.process.wait()
                    break
                time.sleep(0.005)
            log = (host.dir / "sshd.log").read_text(errors="replace")
            if "Address already in use" not in log or time.monotonic() >= deadline:
                if host.system_systemd:
                    log += (host.dir / "systemd.log").read_text(errors="replace")
                raise LabError(f"lab host {host.name} (port {host.port}) did not start:\n{log}")
            host.port = _free_ports(1)[0]
            _set_port(host.dir, host.port)
            self._launch(host)
        raise LabError(f"lab host {host.name}: no free port after 3 attempts")

    def _wait_user_manager(self, host: LabHost, deadline: float) -> None:
        """With ``user_systemd``: until the manager's private socket (systemctl's) exists."""
        if host.profile is None or not host.profile.user_systemd:
            return
        while not (host.dir / "xdg" / "systemd" / "private").exists():
            if time.monotonic() >= deadline + READY_TIMEOUT:
                log = (host.dir / "user-systemd.log").read_text(errors="replace")
                raise LabError(f"lab host {host.name}: systemd --user did not start:\n{log}")
            time.sleep(0.02)

    def _write_client_files(self) -> None:
        lines = []
        for host in self.hosts.values():
            pub = host.dir / "ssh_host_ed25519_key.pub"
            if host.fault == "unreachable":
                continue
            key = _new_key()[1] if host.fault == "wrong-hostkey" else pub.read_text().strip()
            lines.append(f"[{LOOPBACK}]:{host.port} {key}\n")
        self.known_hosts_path.write_text("".join(lines))
        self.inventory_path.write_text(_inventory_toml(self))
        state = {
            "workdir": str(self.workdir),
            "mode": self.mode,
            "pids": {h.name: h.pid for h in self.hosts.values() if h.pid},
            "ports": {h.name: h.port for h in self.hosts.values()},
        }
        (self.workdir / "lab.json").write_text(json.dumps(state, indent=2) + "\n")

    def stop(self) -> None:
        """Kill every sshd and every process its sessions started (namespaces die with them)."""
        for host in self.hosts.values():
            if host.process and host.process.poll() is None:
                # unshare --fork ignores SIGTERM; its death SIGKILLs the namespace's PID 1
                sig = signal.SIGKILL if host.system_systemd else signal.SIGTERM
                _killpg(host.process.pid, sig)
        for host in self.hosts.values():
            if host.process:
                try:
                    host.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    _killpg(host.process.pid, signal.SIGKILL)
                    host.process.wait()
            if host.reserved:
                host.reserved.close()
        kill_marked(self.workdir)
        remove_cgroups(self.workdir)

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def ssh_argv(self, name: str, *command: str, timeout: float = 5.0) -> list[str]:
        """An OpenSSH command line that logs in to lab host ``name`` with strict host keys."""
        host = self.hosts[name]
        options = {
            "UserKnownHostsFile": str(self.known_hosts_path),
            "GlobalKnownHostsFile": "/dev/null",
            "StrictHostKeyChecking": "yes",
            "BatchMode": "yes",
            "IdentitiesOnly": "yes",
            "IdentityAgent": "none",
            "ConnectTimeout": str(max(1, round(timeout))),
            "KexAlgorithms": "curve25519-sha256",  # the default sntrup761 costs ~0.1 s here
            "LogLevel": "ERROR",
        }
        flags = [arg for key, value in options.items() for arg in ("-o", f"{key}={value}")]
        return [
            "ssh", "-F", "/dev/null", "-i", str(self.client_key_path), *flags,
            "-p", str(host.port), f"{host.user or self.user}@{LOOPBACK}", *command,
        ]  # fmt: skip

    def run(
        self, name: str, command: str | Sequence[str], timeout: float = 10.0
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` on lab host ``name`` through OpenSSH's client; output as text."""
        words = [command] if isinstance(command, str) else [shlex.join(command)]
        argv = self.ssh_argv(name, *words)
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def _banner(port: int) -> bool:
    """True when an SSH server answers on ``port`` with its SSH-2.0 identification."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1.0) as sock:
            sock.settimeout(2.0)
            return sock.recv(64).startswith(b"SSH-2.0-")
    except OSError:
        return False


def _port_taken(host: LabHost) -> bool:
    """The sshd launched last said its port was taken."""
    with (host.dir / "sshd.log").open("rb") as log:
        log.seek(host.log_offset)
        return b"Address already in use" in log.read()


def _killpg(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def stop_lab_dir(workdir: Path) -> int:
    """Stop a lab started by another process (``python -m tests.lab down``); returns how many
    of its processes were still running."""
    killed = kill_marked(workdir.resolve())
    remove_cgroups(workdir.resolve())
    return killed


def _check_user_systemd(mode: Mode) -> None:
    """A ``user_systemd`` host needs root, mount namespaces, systemd and cgroups to delegate."""
    if mode != "namespaces":
        raise LabError("user_systemd hosts need root and mount namespaces (unshare)")
    if not Path(SYSTEMD).is_file():
        raise LabError(f"{SYSTEMD} is missing: apt-get install -y systemd")
    if not _cgroup_roots():
        raise LabError("user_systemd hosts need a mounted cgroup2 (or name=systemd) hierarchy")


def system_systemd_problem() -> str | None:
    """Why this machine cannot run ``system_systemd`` hosts (None: it can)."""
    if detect_mode() != "namespaces":
        return "system_systemd hosts need root and mount namespaces (unshare)"
    if not Path(SYSTEMD).is_file():
        return f"{SYSTEMD} is missing: apt-get install -y systemd"
    if _cgroup2_root() is None:
        return "system_systemd hosts need a mounted cgroup2 hierarchy"
    if "\toverlay\n" not in Path("/proc/filesystems").read_text(encoding="utf-8"):
        return "system_systemd hosts need overlayfs (modprobe overlay)"
    return None


def _check_system_systemd(profiles: Sequence[HostProfile]) -> None:
    problem = system_systemd_problem()
    if problem:
        raise LabError(problem)
    both = [p.name for p in profiles if p.system_systemd and p.user_systemd]
    if both:
        raise LabError(f"{both}: a host has either user_systemd or system_systemd")
