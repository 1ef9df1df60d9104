"""The test lab: real OpenSSH ``sshd`` hosts on 127.0.0.1, each emulating its own GPU machine.

``Lab.start(profiles, workdir)`` starts one sshd per ``HostProfile`` (plus three broken hosts)
and writes an inventory in moefleet's format; see ``tests/lab/README.md``.
"""

from tests.lab.fleet import LAB_USER, MODELS_DIR, Lab, LabError, LabHost, stop_lab_dir
from tests.lab.profiles import (
    BROKEN_HOSTS,
    DEFAULT_PROFILES,
    PROFILES,
    HostProfile,
    get_profile,
    synthetic_profile,
)

__all__ = [
    "BROKEN_HOSTS",
    "DEFAULT_PROFILES",
    "LAB_USER",
    "MODELS_DIR",
    "PROFILES",
    "HostProfile",
    "Lab",
    "LabError",
    "LabHost",
    "get_profile",
    "stop_lab_dir",
    "synthetic_profile",
]
