"""What a batch did, per book: the closing table, `status`, and the batch report JSON.

A book is `done` (every segment, packaged), `partial` (n of m segments: the batch
stopped, or its packaging must be finished by running again), `failed` (segments the
service would not make, or packaging that cannot succeed as is) or `not started`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.build_report import PackageReport
from pipeline.fsio import write_atomic

DONE, PARTIAL, FAILED, NOT_STARTED = "done", "partial", "failed", "not started"


@dataclass(frozen=True)
class BookRow:
    """One line of the closing table (and one entry of the report's `books`)."""

    index: int
    title: str
    origin: str
    output: Path
    status: str
    segments: int
    segments_done: int
    chapters: int
    credits_planned: int  # the book's price: its plan's credits (what is cached or shared costs nothing)
    credits_spent: int  # what its directory may have cost, over all its runs (the spend ledger)
    audio_seconds: float | None = None
    check: str | None = None  # "passed", "failed: rule, rule", or None when not packaged
    message: str | None = None  # why it is not done

    @property
    def status_text(self) -> str:
        if self.status == PARTIAL:
            return f"partial {self.segments_done} of {self.segments}"
        return self.status

    def to_dict(self) -> dict[str, object]:
        return {
            "index": self.index, "title": self.title, "origin": self.origin, "output": str(self.output),
            "status": self.status, "segments": self.segments, "segments_done": self.segments_done,
            "chapters": self.chapters, "credits_planned": self.credits_planned,
            "credits_spent": self.credits_spent,
            "audio_seconds": round(self.audio_seconds, 3) if self.audio_seconds is not None else None,
            "check": self.check, "message": self.message,
        }


def package_facts(package: PackageReport | None) -> tuple[float | None, str | None]:
    """Audio duration (the M4B's, else the chapter files' sum) and the check verdict."""
    if package is None or package.check is None:
        return None, None if package is None else f"not checked: {package.check_error}"
    files = package.check.files
    books = [f.facts.duration_s for f in files if f.facts.path.suffix == ".m4b"]
    chapters = [f.facts.duration_s for f in files if f.facts.path.suffix in (".mp3", ".flac", ".wav")]
    seconds = books[0] if books else (sum(chapters) if chapters else None)
    check = "passed" if package.check.passed else "failed: " + ", ".join(package.check.failed_rules)
    return seconds, check


@dataclass
class BatchReport:
    """The batch as a whole; written atomically even when the batch stops."""

    backend: str
    books: list[BookRow] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)
    refused: int = 0  # 101003 + 101004 replies drawn, all books together
    stopped: str | None = None
    wall_seconds: dict[str, float] = field(default_factory=dict)

    def totals(self) -> dict[str, object]:
        by_status = {s: sum(1 for b in self.books if b.status == s) for s in (DONE, PARTIAL, FAILED, NOT_STARTED)}
        asked = sum(v for k, v in self.requests.items() if k != "download")
        return {
            "books": len(self.books), **by_status,
            "segments": sum(b.segments for b in self.books),
            "segments_done": sum(b.segments_done for b in self.books),
            "credits_planned": sum(b.credits_planned for b in self.books),
            "credits_spent": sum(b.credits_spent for b in self.books),
            "audio_seconds": round(sum(b.audio_seconds or 0.0 for b in self.books), 3),
            "requests": asked, "refused": self.refused,
            "refused_share": round(self.refused / asked, 4) if asked else 0.0,
        }

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"backend": self.backend, "books": [b.to_dict() for b in self.books],
                                  "totals": self.totals()}
        if self.stopped is not None:
            out["stopped"] = self.stopped
        out["wall_seconds"] = self.wall_seconds
        return out

    def write(self, path: Path) -> None:
        text = json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n"
        write_atomic(path, text.encode("utf-8"))


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}"


def render_rows(rows: list[BookRow], billed: bool) -> list[list[str]]:
    """The closing table's cells (shared by `build` and `status`), header first."""
    head = ["#", "book", "status", "chapters", "audio", *(["credits planned", "spent"] if billed else []),
            "check", "output"]
    cells = [head]
    for b in rows:
        money = [f"{b.credits_planned:,}", f"{b.credits_spent:,}"] if billed else []
        cells.append([str(b.index + 1), b.title, b.status_text, str(b.chapters), _duration(b.audio_seconds),
                      *money, b.check or "—", str(b.output)])
    return cells
