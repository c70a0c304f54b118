"""The proof page of a build: the plan's segments at the times the stitcher put them.

Each segment starts where its clip starts in the chapter's audio (the sample counts the
stitcher kept in the manifest), so clicking a line plays exactly that line, and the
segment numbers are the ones `--retake` takes. With chapter MP3s each chapter plays its
own file; with only an M4B, every chapter plays the M4B from its offset.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.audio.package import PackageResult
from pipeline.audio.proof import PROOF_NAME, ProofBook, ProofChapter, ProofSegment, render_proof, write_proof
from pipeline.models import AudioSettings, ChapterPlan, Plan

CHAPTER_AUDIO = ("mp3", "flac", "wav")  # the format the page plays, in order of preference


def write_proof_page(plan: Plan, result: PackageResult, s: AudioSettings, out: Path) -> Path | None:
    """proof.html beside the audio, or None when there is nothing a browser can play."""
    fmt = next((f for f in CHAPTER_AUDIO if f in s.formats), None)
    if fmt is None and result.m4b is None:
        return None
    chapters: list[ProofChapter] = []
    offset = 0
    for c in plan.active:
        parts = result.parts.get(c.index, ((c.index, 0),))
        for n, (part, first) in enumerate(parts):
            last = parts[n + 1][1] if n + 1 < len(parts) else len(c.jobs)
            frames = result.frames.get(part, 0)
            audio = f"{result.stems[part]}.{fmt}" if fmt else result.m4b.name if result.m4b else ""
            base = 0 if fmt else offset
            title = c.title if len(parts) == 1 else f"{c.title} (part {n + 1} of {len(parts)})"
            segments = _segments(c, first, last, result.clip_starts.get(part, ()), frames, base, s.sample_rate)
            chapters.append(ProofChapter(part, title, audio, frames / s.sample_rate, segments))
            offset += frames
    cover = result.cover  # what the MP3s embed: at most 1400 px
    book = ProofBook(plan.title, plan.authors, tuple(chapters))
    path = out / PROOF_NAME
    try:
        if path.read_bytes() == render_proof(book, cover).encode("utf-8"):
            return path  # unchanged: a re-run rewrites nothing
    except OSError:
        pass
    return write_proof(out, book, cover)


def _segments(c: ChapterPlan, first: int, last: int, starts: tuple[int, ...], frames: int, base: int,
              rate: int) -> tuple[ProofSegment, ...]:
    """The chapter's jobs first..last (one file's) at their clip starts in that file."""
    jobs = c.jobs[first:last]
    if len(starts) != len(jobs):  # no times for this file (it was not stitched): the text alone
        starts = tuple(0 for _ in jobs)
    ends = (*starts[1:], frames)
    return tuple(ProofSegment(c.index, j.segment.index, j.segment.text, (base + a) / rate, (base + max(a, b)) / rate,
                              j.speaker) for j, a, b in zip(jobs, starts, ends, strict=True))
