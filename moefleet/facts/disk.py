"""Free space on the filesystem holding a path, from ``df -P -k PATH`` or from statvfs."""

from __future__ import annotations

import re

from moefleet.errors import ParseError
from moefleet.facts.model import DiskFacts

# The numeric tail of a row; the filesystem name is whatever precedes it (it may hold spaces).
_ROW_TAIL = re.compile(
    r"\s(?P<total>\d{1,20}|-)\s+(?P<used>\d{1,20}|-)\s+(?P<avail>\d{1,20}|-)\s+"
    r"(?P<capacity>\d{1,3}%|-)\s+(?P<mount>/.*)$"
)
_BLOCK_SIZE = re.compile(r"\b(\d{1,7})([KMG]?)-blocks\b", re.IGNORECASE)
_UNIT = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_df(text: str, path: str) -> DiskFacts:
    """DiskFacts for ``path`` from ``df -P -k`` output (header + one row, possibly wrapped)."""
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    header_index = next((i for i, line in enumerate(lines) if line.startswith("Filesystem")), None)
    if header_index is None:
        raise ParseError("not df output: expected a 'Filesystem ... Mounted on' header")
    block_size = _block_size(lines[header_index])
    rows = lines[header_index + 1 :]
    for index, line in enumerate(rows):
        row = line
        if index + 1 < len(rows) and len(line.split()) == 1:
            # non-POSIX df puts a long filesystem name alone on its own line
            row = f"{line.strip()} {rows[index + 1].strip()}"
        match = _ROW_TAIL.search(row)
        filesystem = row[: match.start()].strip() if match else ""
        if match is not None and filesystem:
            return DiskFacts(
                path=path,
                mount=match.group("mount"),
                filesystem=filesystem,
                total_bytes=_bytes(match.group("total"), block_size),
                free_bytes=_bytes(match.group("avail"), block_size),
            )
    raise ParseError("df output has a header but no 'FS total used avail use% mount' row")


def disk_from_statvfs(
    path: str, mount: str | None, total_bytes: int, free_bytes: int, filesystem: str | None
) -> DiskFacts:
    """DiskFacts from numbers the Python collector measured with os.statvfs."""
    return DiskFacts(
        path=path,
        mount=mount,
        filesystem=filesystem,
        total_bytes=total_bytes,
        free_bytes=free_bytes,
    )


def _block_size(header: str) -> int:
    """Bytes per block from '1024-blocks' / '1K-blocks' / '512-blocks'; df -k means 1024."""
    match = _BLOCK_SIZE.search(header)
    if match is None:
        return 1024
    return int(match.group(1)) * _UNIT[match.group(2).lower()]


def _bytes(blocks: str, block_size: int) -> int | None:
    return None if blocks == "-" else int(blocks) * block_size
