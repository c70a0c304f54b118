"""Retakes: segments a proof-listener flagged, read again as new takes.

A retake file is what the proof page exports, or a list written by hand:

    # misread "Isobel"            <- a note: kept with the flag, never sent
    3:12                          <- chapter 3, segment 12 (as `plan --segments` numbers them)
    3:14 = The corrected sentence.  <- read this text instead

A flagged segment gets a new take: its clip key carries the take number, so the service
is asked again (the old clip stays in the cache, and `--restore` brings it back for
nothing). The output directory remembers its retakes (.audiobook/retakes.json) by
chapter and the segment's original text, so they survive re-planning.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from pipeline.errors import UserError
from pipeline.fsio import write_atomic
from pipeline.models import ChapterPlan, Job, Plan, TTSRequest, content_key
from pipeline.text.segment import credits_for

MAX_RETAKE_BYTES = 1 << 20
_LINE = re.compile(r"^(\d+):(\d+)(?:\s*=\s*(.*\S))?\s*$")
STATE_FILE = "retakes.json"


@dataclass(frozen=True)
class RetakeRequest:
    """One line of a retake file."""

    chapter: int
    segment: int
    text: str | None = None  # replacement text; None: read the same text again
    note: str = ""
    line: int = 0  # in the retake file, for messages


@dataclass(frozen=True)
class Take:
    """A retake the output directory keeps: which segment, its new text, its take number."""

    chapter: int
    original: str  # the segment's text as planned, which identifies it across re-plans
    text: str  # what is read now
    take: int  # 1 for the first retake; the original reading is take 0
    note: str = ""


@dataclass(frozen=True)
class TakeChange:
    """`--retake FILE` (new takes) or `--restore FILE` (back to the first reading)."""

    requests: tuple[RetakeRequest, ...]
    restore: bool
    source: str  # the file, for messages


def parse_retakes(path: Path) -> tuple[RetakeRequest, ...]:
    """The requests of a retake file; a bad line is one clear error naming file:line."""
    try:
        if path.stat().st_size > MAX_RETAKE_BYTES:
            raise UserError(f"{path}: a retake file is at most 1 MiB")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read the retake file ({exc.__class__.__name__})") from None
    return parse_retake_text(text, path.name)


def parse_retake_text(text: str, name: str = "retakes") -> tuple[RetakeRequest, ...]:
    out: list[RetakeRequest] = []
    note: list[str] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            note = []
            continue
        if line.startswith("#"):
            note.append(line.lstrip("# ").strip())
            continue
        m = _LINE.match(line)
        if m is None:
            raise UserError(f"{name}:{n}: expected CHAPTER:SEGMENT or CHAPTER:SEGMENT = new text, got {line[:60]!r}")
        out.append(RetakeRequest(int(m.group(1)), int(m.group(2)), m.group(3), " ".join(note), n))
        note = []
    if not out:
        raise UserError(f"{name}: no CHAPTER:SEGMENT line: nothing to retake")
    return tuple(out)


def load_takes(work: Path) -> tuple[Take, ...]:
    """The retakes an output directory keeps (none when it has no file)."""
    try:
        data = json.loads((work / STATE_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ()
    except (OSError, ValueError) as exc:
        raise UserError(f"{work / STATE_FILE}: unreadable ({exc.__class__.__name__}); move it aside") from None
    try:
        return tuple(Take(int(t["chapter"]), str(t["original"]), str(t["text"]), int(t["take"]), str(t.get("note", "")))
                     for t in data["takes"])
    except (KeyError, TypeError, ValueError):
        raise UserError(f"{work / STATE_FILE}: not a retake list; move it aside") from None


def save_takes(work: Path, takes: tuple[Take, ...]) -> None:
    data = {"version": 1, "takes": [asdict(t) for t in takes]}
    write_atomic(work / STATE_FILE, json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8"))


def resolve(base: Plan, takes: Sequence[Take], change: TakeChange | None, max_chars: int) -> tuple[Take, ...]:
    """The directory's takes after `change`: each request names a segment of `base` (the
    plan without retakes); a segment retaken again gets the next take number."""
    if change is None:
        return tuple(takes)
    out = {(t.chapter, t.original): t for t in takes}
    chapters = {c.index: c for c in base.chapters}
    for r in change.requests:
        job = _job(chapters, r, f"{change.source}:{r.line}")
        key = (r.chapter, job.segment.text)
        if change.restore:
            out.pop(key, None)
            continue
        before = out.get(key)
        text = r.text if r.text is not None else (before.text if before else job.segment.text)
        if len(text) > max_chars:
            raise UserError(f"{change.source}:{r.line}: {r.chapter}:{r.segment}: the new text is "
                            f"{len(text):,} characters, more than max_chars {max_chars:,}")
        out[key] = Take(r.chapter, job.segment.text, text, (before.take if before else 0) + 1, r.note)
    return tuple(out.values())


def _job(chapters: dict[int, ChapterPlan], r: RetakeRequest, where: str) -> Job:
    chapter = chapters.get(r.chapter)
    if chapter is None or chapter.skipped:
        raise UserError(f"{where}: {r.chapter}:{r.segment}: the plan has no chapter {r.chapter} that is read")
    if not 0 <= r.segment < len(chapter.jobs):
        raise UserError(f"{where}: {r.chapter}:{r.segment}: chapter {r.chapter} has segments "
                        f"0 to {len(chapter.jobs) - 1}")
    return chapter.jobs[r.segment]


def apply_takes(plan: Plan, takes: Sequence[Take], billing_unit: int) -> Plan:
    """The plan with each retaken segment's new text and take (its own clip key, so it
    is bought again; the first reading's clip stays in the cache)."""
    if not takes:
        return plan
    by_chapter: dict[int, dict[str, Take]] = {}
    for t in takes:
        by_chapter.setdefault(t.chapter, {})[t.original] = t
    chapters = []
    for c in plan.chapters:
        mine = by_chapter.get(c.index)
        if not mine or c.skipped:
            chapters.append(c)
            continue
        jobs = tuple(_retaken(j, mine.get(j.segment.text), plan.backend, billing_unit) for j in c.jobs)
        chars = c.chars + sum(len(j.segment.text) for j in jobs) - sum(len(j.segment.text) for j in c.jobs)
        chapters.append(replace(c, jobs=jobs, chars=chars, credits=sum(j.credits for j in jobs),
                                min_credits=credits_for(chars, billing_unit)))
    return replace(plan, chapters=tuple(chapters))


def _retaken(job: Job, take: Take | None, backend: str, billing_unit: int) -> Job:
    if take is None:
        return job
    return replace(job, segment=replace(job.segment, text=take.text), credits=credits_for(len(take.text), billing_unit),
                   key=content_key(TTSRequest(take.text, job.voice), backend, take.take))

