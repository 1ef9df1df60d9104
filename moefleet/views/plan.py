"""Rich renderables for a fleet plan and for ``--explain HOST``. No printing here."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text


def _gib(values: list[float]) -> str:
    return " + ".join(f"{v:.1f}" for v in values) if values else "—"


def _deployment(entry: dict[str, Any]) -> RenderableType:
    p = entry["predicted"]
    hosts = ", ".join(entry["hosts"])
    gpus = ",".join(str(g) for g in entry["gpus"])
    title = Text.assemble(
        (hosts, "bold"),
        f"  GPU {gpus}  " if gpus else "  CPU only  ",
        (f"{entry['model_name']} {entry['format']}", "bold cyan"),
        f"  {entry['engine']} ({entry['mode']})",
    )
    figures = Table.grid(padding=(0, 2))
    for _ in range(6):
        figures.add_column()
    figures.add_row(
        Text("VRAM/GPU", style="dim"),
        f"{_gib(p['vram_gib'])} GiB of {p['vram_usable_gib']:.1f} usable" if gpus else "—",
        Text("margin", style="dim"),
        f"{p['margin_gib']:.1f} GiB" if gpus else "—",
        Text("RAM", style="dim"),
        f"{p['ram_gib']:.1f} GiB",
    )
    figures.add_row(
        Text("decode", style="dim"),
        f"{p['decode_tps']:.0f} tok/s"
        + (f" ({p['batch_decode_tps']:.0f} at {p['batch']} seqs)" if p["batch"] > 1 else ""),
        Text("prefill", style="dim"),
        f"{p['prefill_tps']:.0f} tok/s",
        Text("quality", style="dim"),
        f"{p['quality']:.1f}",
    )
    parts: list[RenderableType] = [figures, Text("flags: " + " ".join(entry["flags"]), style="dim")]
    for reason in entry["reasons"]:
        style = "yellow" if reason.startswith("warning") else ""
        parts.append(Text(f"• {reason}", style=style))
    for alt in entry.get("alternatives", []):
        parts.append(
            Text(f"  runner-up {alt['option']} [{alt['mode']}]: {alt['why_not']}", style="dim")
        )
    return Panel(Group(*parts), title=title, title_align="left", expand=True)


def plan_view(data: dict[str, Any]) -> RenderableType:
    """The plan: one panel per deployment, then shortfalls, idle hosts and notes."""
    meta = data["plan"]
    header = Text(
        f"objective {meta['objective']}, context {meta['context']}, "
        f"concurrency {meta['concurrency']}",
        style="bold",
    )
    parts: list[RenderableType] = [header]
    parts.extend(_deployment(entry) for entry in data["deployment"])
    for short in data.get("shortfall", []):
        parts.append(
            Text(
                f"✗ {short['model']}: {short['placed']} of {short['wanted']} replicas placed — "
                f"{short['reason']}",
                style="red",
            )
        )
    idle = data.get("idle")
    if idle:
        for host, reason in idle["reasons"].items():
            parts.append(Text(f"○ {host}: idle — {reason}", style="yellow"))
    for host, notes in data.get("notes", {}).items():
        for note in notes:
            parts.append(Text(f"note {host}: {note}", style="dim"))
    return Group(*parts)


def explain_view(data: dict[str, Any]) -> RenderableType:
    """Every candidate for one host, ranked, then each rejection with its reason."""
    ranked = Table(title=f"{data['host']}: candidates by {data['objective']} score", expand=True)
    for column in ("#", "option", "mode", "VRAM GiB", "RAM GiB", "decode", "prefill", "score"):
        ranked.add_column(column, justify="right" if column not in ("option", "mode") else "left")
    ranked.add_column("why not chosen", ratio=2)
    for entry in data["ranked"]:
        ranked.add_row(
            str(entry["rank"]),
            entry["option"],
            entry["mode"],
            _gib(entry["vram_gib"]),
            f"{entry['ram_gib']:.1f}",
            f"{entry['decode_tps']:.0f}",
            f"{entry['prefill_tps']:.0f}",
            f"{entry['score']:.2f}",
            entry.get("why_not", "chosen"),
        )
    rejected = Table(title="rejected", expand=True)
    for column in ("model", "format", "engine", "reason"):
        rejected.add_column(column)
    for entry in data["rejected"]:
        rejected.add_row(entry["model"], entry["format"], entry["engine"], entry["reason"])
    notes = [Text(f"note: {n}", style="dim") for n in data["notes"]]
    return Group(ranked, rejected, *notes)


def compact_explain(
    data: dict[str, Any], alternatives: int = 8, rejections: int = 20
) -> RenderableType:
    """``explain_view`` for a narrow panel: one line per candidate, then the rejections."""
    lines: list[RenderableType] = [
        Text(f"{data['host']}: by {data['objective']} score", style="bold")
    ]
    for entry in data["ranked"][:alternatives]:
        vram = " + ".join(f"{v:.1f}" for v in entry["vram_gib"]) or "—"
        head = (
            f"{entry['rank']}. {entry['option']} [{entry['mode']}] score {entry['score']:.2f}, "
            f"{entry['decode_tps']:.0f} tok/s, VRAM {vram} GiB, RAM {entry['ram_gib']:.1f} GiB"
        )
        lines.append(Text(head, style="bold cyan" if entry["rank"] == 1 else ""))
        if "why_not" in entry:
            lines.append(Text(f"   why not: {entry['why_not']}", style="dim"))
    if data["rejected"]:
        lines.append(Text(f"rejected ({len(data['rejected'])}):", style="bold"))
        for entry in data["rejected"][:rejections]:
            lines.append(Text(f" {entry['model']} {entry['format']} ({entry['engine']}): "
                              f"{entry['reason']}", style="dim"))  # fmt: skip
    return Group(*lines)
