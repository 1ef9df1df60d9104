"""Files on real lab hosts: idempotent writes, check mode, diffs, atomic writes with backups,
rollback through rescue, secrets created 0600 and never shown."""

# ruff: noqa: E501  (playbooks inline as TOML: one table per line)
from __future__ import annotations

from pathlib import Path

from moefleet.state import StateStore
from tests.playbook.conftest import on_host

CANARY = "sk-canary-7f3a9c2e51"

FILES = """
[[plays]]
name = "files"
hosts = "all"
[[plays.tasks]]
name = "config"
template = {{ dest = "{dir}/{{{{ inventory_hostname }}}}.conf", content = "port={{{{ port }}}}\\nhost={{{{ inventory_hostname }}}}\\n", mode = "0640" }}
"""


def test_template_changes_then_is_ok_and_check_mode_changes_nothing(play, lab, workdir):
    toml = FILES.format(dir=workdir.replace(str(Path(workdir).parent), "~"))  # ~ works too
    first, _ = play(toml, extra={"port": 8080})
    assert first.ok and first.changed == 2
    assert on_host(lab, "rtx4090", f"cat {workdir}/rtx4090.conf") == "port=8080\nhost=rtx4090\n"
    assert on_host(lab, "cpu-only", f"stat -c %a {workdir}/cpu-only.conf").strip() == "640"

    second, _ = play(toml, extra={"port": 8080})
    assert second.ok and second.changed == 0
    assert {s.ok for s in second.stats.values()} == {1}

    checked, lines = play(toml, extra={"port": 9090}, check=True, diff=True)
    assert checked.changed == 2
    assert checked.find("rtx4090", "config").message.startswith("would update")
    diff = next(line for line in lines if "rtx4090.conf (before)" in line)
    assert "-port=8080\n+port=9090" in diff
    assert on_host(lab, "rtx4090", f"cat {workdir}/rtx4090.conf") == "port=8080\nhost=rtx4090\n"
    assert on_host(lab, "rtx4090", f"ls -A {workdir}") == "rtx4090.conf\n"  # no temp, no backup


ROLLBACK = """
[[plays]]
hosts = "all"
[[plays.tasks]]
name = "config"
copy = {{ dest = "{dir}/app.conf", content = "{{{{ version }}}}\\n" }}
register = "written"
[[plays.tasks]]
name = "gate"
[[plays.tasks.block]]
name = "health"
command = {{ argv = ["grep", "-q", "good", "{dir}/app.conf"] }}
[[plays.tasks.rescue]]
name = "roll back"
file = {{ path = "{dir}/app.conf", state = "restored", backup = "{{{{ written.backup or '' }}}}" }}
when = "written.changed"
[[plays.tasks.rescue]]
name = "give up"
fail = {{ msg = "health gate failed; rolled back" }}
"""


def test_atomic_write_keeps_a_backup_and_rescue_rolls_back(play, lab, workdir):
    toml = ROLLBACK.format(dir=workdir)
    good, _ = play(toml, limit="rtx4090", extra={"version": "good-1"})
    assert good.ok
    inode = on_host(lab, "rtx4090", f"stat -c %i {workdir}/app.conf")

    bad, _ = play(toml, limit="rtx4090", extra={"version": "bad-2"})
    written = bad.find("rtx4090", "config")
    assert written.changed and written.backup == f"{workdir}/app.conf.moefleet-bak"
    assert bad.find("rtx4090", "roll back").changed
    assert bad.find("rtx4090", "give up").status == "failed"
    stats = bad.stats["rtx4090"]
    assert (stats.failed, stats.rescued) == (1, 1)  # rescued the health failure, then failed
    assert on_host(lab, "rtx4090", f"cat {workdir}/app.conf") == "good-1\n"
    # the rename put the very file back (same inode): the old version was never rewritten
    assert on_host(lab, "rtx4090", f"stat -c %i {workdir}/app.conf") == inode


def test_a_rescued_block_counts_as_rescued(play, workdir):
    toml = f"""
[[plays]]
[[plays.tasks]]
name = "gate"
[[plays.tasks.block]]
name = "boom"
command = {{ argv = ["false"] }}
[[plays.tasks.rescue]]
name = "fix"
command = {{ argv = ["true"] }}
[[plays.tasks.always]]
name = "after"
file = {{ path = "{workdir}", state = "directory" }}
"""
    report, lines = play(toml, limit="cpu-only")
    stats = report.stats["cpu-only"]
    assert report.ok and (stats.failed, stats.rescued, stats.changed) == (0, 1, 2)
    assert any(line.startswith("fatal: [cpu-only] boom") for line in lines)


def test_secrets_are_0600_from_the_start_and_never_shown(play, lab, workdir, tmp_path, caplog):
    toml = f"""
[[plays]]
[[plays.tasks]]
name = "api key"
copy = {{ dest = "{workdir}/api-key", content = "{{{{ key }}}}", secret = true }}
register = "k"
[[plays.tasks]]
name = "use it"
command = {{ argv = ["test", "-s", "{workdir}/api-key"] }}
"""
    state_path = tmp_path / "state.db"
    outputs = []
    with StateStore(state_path) as state:
        for key in (CANARY, CANARY + "-rotated"):
            report, lines = play(toml, extra={"key": key}, state=state, diff=True)
            assert report.ok, lines
            outputs += [*lines, repr(report.records)]
    mode = on_host(lab, "rtx4090", f"stat -c %a {workdir}/api-key {workdir}/api-key.moefleet-bak")
    assert mode.split() == ["600", "600"]
    assert on_host(lab, "rtx4090", f"cat {workdir}/api-key") == CANARY + "-rotated"
    assert any("secret: content not shown" in line for line in outputs)
    logs = [p for p in Path(lab.workdir).rglob("*.log")]
    places = {
        "output": "\n".join(outputs),
        "log records": caplog.text,
        "state db": b"".join(p.read_bytes() for p in tmp_path.glob("state.db*")).decode("latin-1"),
        "lab logs": "".join(p.read_text(errors="replace") for p in logs),
    }
    for where, text in places.items():
        assert CANARY not in text, f"the canary leaked into {where}"
