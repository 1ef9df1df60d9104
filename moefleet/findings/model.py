"""A finding: one checklist item that a host fails, with what to do about it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Level = Literal["info", "warn", "block"]
LEVEL_ORDER: dict[Level, int] = {"block": 0, "warn": 1, "info": 2}


class Finding(BaseModel):
    """``level``: info (good to know), warn (fix before trusting numbers), block (do not
    deploy here until fixed). ``code`` is stable, for scripts and filters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    level: Level
    code: str
    message: str
    gpu: int | None = None
