"""One chapter, start to finish: stitch, master, encode every format at once, measure.

Runs on a packaging worker thread (chapters are independent). The encoders run as
ffmpeg processes fed from one mastering pass, which also takes the levels a codec keeps
(RMS, noise floor, head and tail); each encoded file is then decoded once, inside
ffmpeg, by its ebur128 meter for what a codec changes (loudness, true peak). Those
figures are what the delivery check judges: nothing is decoded twice. A file whose
true peak still overshoots the ceiling (or whose loudness strays) sends the chapter
through mastering again with the overshoot added to the headroom.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

from pipeline.audio.analyze import Measured
from pipeline.audio.ffmpeg import ebur128
from pipeline.audio.loudness import lin_to_db
from pipeline.audio.master import LOSSY_HEADROOM_DB, EncodeTarget, master_chapter
from pipeline.audio.stitch import ChapterInput, StitchedChapter, stitch_chapter
from pipeline.audio.tags import BookInfo, tag_mp3
from pipeline.fsio import atomic_target
from pipeline.models import AudioSettings, Cover

log = logging.getLogger(__name__)

CHAPTER_FORMATS = ("mp3", "wav", "flac")
LOSSY = frozenset({"mp3", "aac"})
TP_MARGIN_DB = 0.1  # encoded files must measure at least this far under the ceiling
MAX_REMASTERS = 2
MAX_ENCODED_MISS_LU = 0.6  # of the +-1 LU the delivery allows


@dataclass(frozen=True)
class ChapterJob:
    chapter: ChapterInput
    stem: str
    number: int  # the listener's track number, 1..total
    total: int


@dataclass(frozen=True)
class ChapterOutput:
    """What building one chapter wrote and measured."""

    index: int
    frames: int
    clip_starts: tuple[int, ...]
    loudness_lufs: float  # predicted while mastering
    headroom_db: float
    files: dict[str, Path]  # format -> delivered (or, for aac, state) file
    measured: dict[str, Measured]  # format -> figures of the encoded file


def aac_path(work: Path, index: int) -> Path:
    """The chapter's ADTS stream the M4B is copied from (kept in the state directory)."""
    return work / "aac" / f"{index:04d}.aac"


def raw_path(work: Path, index: int) -> Path:
    return work / "tmp" / f"{index:04d}.raw"


def _targets(job: ChapterJob, s: AudioSettings, out: Path, work: Path) -> dict[str, Path]:
    finals = {fmt: out / f"{job.stem}.{fmt}" for fmt in CHAPTER_FORMATS if fmt in s.formats}
    if "m4b" in s.formats:
        finals["aac"] = aac_path(work, job.chapter.index)
    return finals


def _encodes(parts: dict[str, Path], s: AudioSettings) -> list[EncodeTarget]:
    rates = {"mp3": s.mp3_bitrate, "aac": s.m4b_bitrate}
    return [EncodeTarget(fmt, part, rates.get(fmt)) for fmt, part in parts.items()]


def _master_and_measure(st: StitchedChapter, parts: dict[str, Path], s: AudioSettings,
                        seed: int) -> tuple[float, float, dict[str, Measured]]:
    """Master until every encoded file measures under the ceiling and near the target
    loudness (encoders' low-pass filters take some loudness away), or MAX_REMASTERS."""
    headroom, limit, target = LOSSY_HEADROOM_DB, s.true_peak_db - TP_MARGIN_DB, s.loudness_lufs
    for attempt in range(MAX_REMASTERS + 1):
        mastered = master_chapter(st, target_lufs=target, true_peak_db=s.true_peak_db,
                                  encodes=_encodes(parts, s), seed=seed, headroom_db=headroom)
        meters = ebur128(list(parts.values()))  # decoded by ffmpeg once; levels from the pass itself
        measured = {fmt: mastered.levels.measured(lufs, peak, mastered.energies, sample)
                    for fmt, (lufs, peak, sample) in zip(parts, meters, strict=True)}
        worst = max((lin_to_db(m.true_peak) for f, m in measured.items() if f in LOSSY), default=-99.0)
        misses = [m.loudness_lufs - s.loudness_lufs for m in measured.values() if math.isfinite(m.loudness_lufs)]
        miss = max(misses, key=abs, default=0.0)
        if (worst <= limit and abs(miss) <= MAX_ENCODED_MISS_LU) or attempt == MAX_REMASTERS:
            return mastered.loudness_lufs, headroom, measured
        log.debug("chapter %s: encoded %.2f dBTP (limit %.2f), loudness off by %+.2f LU; mastering again",
                  seed, worst, limit, miss)
        headroom += max(0.0, worst - limit + 0.3)
        target -= miss if abs(miss) > MAX_ENCODED_MISS_LU else 0.0
    raise AssertionError("unreachable")


def build_chapter(job: ChapterJob, info: BookInfo, cover: Cover, s: AudioSettings, out: Path,
                  work: Path) -> ChapterOutput:
    """Stitch, master, encode, measure and tag one chapter; files appear only when complete."""
    ch = job.chapter
    raw = raw_path(work, ch.index)
    finals = _targets(job, s, out, work)
    parts = {fmt: atomic_target(path) for fmt, path in finals.items()}
    try:
        st = stitch_chapter(ch.clips, s.pauses, raw, s.sample_rate, s.channels)
        lufs, headroom, measured = _master_and_measure(st, parts, s, ch.index)
        if "mp3" in parts:
            tag_mp3(parts["mp3"], title=ch.title, info=info, track=job.number, total=job.total, cover=cover)
        for fmt, part in parts.items():
            os.replace(part, finals[fmt])
    finally:
        raw.unlink(missing_ok=True)
        for part in parts.values():
            part.unlink(missing_ok=True)
    log.info("chapter %d: %.1f s, %.1f LUFS", ch.index, st.frames / s.sample_rate, lufs)
    return ChapterOutput(ch.index, st.frames, st.clip_starts, lufs, headroom, finals, measured)
