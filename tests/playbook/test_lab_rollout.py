"""Fleet behaviour on the lab: handlers, when, tags, serial + max_fail_percentage,
unreachable hosts reported while the others proceed."""

from __future__ import annotations

from moefleet.playbook import (
    PlayFinished,
    PlayStarted,
    Recap,
    RunOptions,
    parse_playbook,
    run_playbook,
)
from tests.playbook.conftest import on_host

HANDLERS = """
[[plays]]
[[plays.tasks]]
name = "a"
copy = {{ dest = "{dir}/a", content = "{{{{ v }}}}" }}
notify = ["count"]
[[plays.tasks]]
name = "b"
copy = {{ dest = "{dir}/b", content = "{{{{ v }}}}" }}
notify = ["count"]
[[plays.tasks]]
name = "only on cpu-only"
copy = {{ dest = "{dir}/c", content = "c" }}
when = "inventory_hostname == 'cpu-only'"
tags = ["extra"]
[[plays.handlers]]
name = "count"
command = {{ cmd = "echo run >> {dir}/handler.log", shell = true }}
"""


def test_handlers_fire_once_and_only_when_notified(play, lab, workdir):
    toml = HANDLERS.format(dir=workdir)
    first, _ = play(toml, extra={"v": "1"})
    assert first.find("rtx4090", "only on cpu-only").status == "skipped"
    assert first.find("cpu-only", "only on cpu-only").changed
    for host in ("rtx4090", "cpu-only"):
        assert on_host(lab, host, f"cat {workdir}/handler.log") == "run\n"  # two notifies, once
    again, _ = play(toml, extra={"v": "1"})
    assert again.changed == 0
    assert on_host(lab, "rtx4090", f"cat {workdir}/handler.log") == "run\n"  # not notified


def test_tags_select_tasks(play, lab, workdir):
    report, _ = play(HANDLERS.format(dir=workdir), extra={"v": "1"}, tags=frozenset({"extra"}))
    assert [r.task for r in report.for_host("cpu-only")] == ["only on cpu-only"]
    assert on_host(lab, "cpu-only", f"ls {workdir}") == "c\n"


def test_serial_batches_stop_when_max_fail_percentage_is_exceeded(play, workdir):
    toml = f"""
[[plays]]
name = "rolling"
serial = 1
max_fail_percentage = 0
[[plays.tasks]]
name = "mark"
file = {{ path = "{workdir}", state = "directory" }}
[[plays.tasks]]
name = "break a6000x2"
fail = {{ msg = "broken on purpose" }}
when = "inventory_hostname == 'a6000x2'"
"""
    report, lines = play(toml, limit="rtx4090,a6000x2,h100x8,cpu-only")
    order = [h for h in ("rtx4090", "a6000x2", "h100x8", "cpu-only") if h in report.stats]
    assert report.aborted == ["rolling"]
    assert set(report.stats) == {"rtx4090", "a6000x2"}, order
    assert report.stats["a6000x2"].failed == 1 and report.stats["rtx4090"].failed == 0
    assert report.not_run["rolling"] == ["h100x8", "cpu-only"]
    assert any("max_fail_percentage exceeded" in line for line in lines)
    assert not report.ok


def test_unreachable_hosts_are_reported_and_the_rest_proceed(play, workdir):
    toml = f"""
[[plays]]
[[plays.tasks]]
name = "dir"
file = {{ path = "{workdir}", state = "directory" }}
"""
    report, lines = play(toml, limit="rtx4090,unreachable,auth-fails")
    assert report.stats["rtx4090"].changed == 1
    assert report.stats["unreachable"].unreachable == 1
    assert report.stats["auth-fails"].unreachable == 1
    assert report.find("unreachable", "connect").status == "unreachable"
    assert any(line.startswith("fatal: [unreachable] connect") for line in lines)


def test_play_events_bracket_the_play(lab_inventory, workdir):
    events = []
    task = f'file = {{ path = "{workdir}", state = "directory" }}'
    toml = f'[[plays]]\nname = "e"\n[[plays.tasks]]\n{task}'
    run_playbook(parse_playbook(toml), lab_inventory, options=RunOptions(limit="cpu-only"),
                 on_event=events.append)  # fmt: skip
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["PlayStarted", "TaskStarted", "TaskFinished", "PlayFinished", "Recap"]
    assert isinstance(events[0], PlayStarted) and events[0].hosts == ("cpu-only",)
    assert isinstance(events[3], PlayFinished) and isinstance(events[-1], Recap)
