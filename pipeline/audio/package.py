"""Delivery: chapter files (MP3 + optional WAV/FLAC), one M4B, an M3U playlist.

Chapters are independent, so they are built in parallel, one per core: each worker
stitches a chapter with pydub, masters it and runs its encoders (MP3 and the AAC the
M4B is copied from) at once. Incremental by fingerprint: a chapter is rebuilt only
when its clips (path, size, mtime), its title, the book tags or the audio settings
changed; the M4B (a stream copy, seconds) only when a chapter or the book tags
changed. The manifest (.audiobook/assembly.json) records what was built and what each
file measured; a re-run of a finished build rewrites nothing. Every file is written
under a temporary name and renamed when complete.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from pipeline.audio.analyze import Measured
from pipeline.audio.chapter import CHAPTER_FORMATS, ChapterJob, ChapterOutput, aac_path, build_chapter
from pipeline.audio.cover import usable_cover
from pipeline.audio.manifest import Manifest, combine, entry_measured
from pipeline.audio.names import book_stem, chapter_stems
from pipeline.audio.split import Parts, split_long
from pipeline.audio.stitch import ChapterInput
from pipeline.audio.tags import BookInfo, m3u
from pipeline.errors import UserError
from pipeline.fsio import atomic_target, remove_stale_parts, write_atomic
from pipeline.models import AudioSettings, Cover

log = logging.getLogger(__name__)

WORK_DIR = ".audiobook"
KNOWN_FORMATS = frozenset({*CHAPTER_FORMATS, "m4b", "book-mp3"})


class PackageProgress(Protocol):
    """Where packaging reports how far it is (a live display, or nothing)."""

    def package_started(self, chapters: int, clips: int) -> None: ...

    def chapter_packaged(self, clips: int, audio_seconds: float, rebuilt: bool) -> None: ...

    def package_step(self, what: str) -> None: ...


class NoPackageProgress:
    def package_started(self, chapters: int, clips: int) -> None:
        pass

    def chapter_packaged(self, clips: int, audio_seconds: float, rebuilt: bool) -> None:
        pass

    def package_step(self, what: str) -> None:
        pass


@dataclass(frozen=True)
class ChapterReport:
    index: int
    title: str
    frames: int
    rebuilt: bool
    clip_starts: tuple[int, ...] = ()  # only when rebuilt in this call
    loudness_lufs: float | None = None


@dataclass(frozen=True)
class PackageResult:
    chapter_files: tuple[Path, ...]
    m4b: Path | None
    playlist: Path | None
    rewritten: tuple[Path, ...]  # what this call (re)wrote
    chapters: tuple[ChapterReport, ...] = ()
    measured: dict[Path, Measured] = field(default_factory=dict)  # levels of every audio file
    clip_starts: dict[int, tuple[int, ...]] = field(default_factory=dict)  # chapter -> each clip's start frame
    frames: dict[int, int] = field(default_factory=dict)  # chapter -> its length in frames
    stems: dict[int, str] = field(default_factory=dict)  # chapter -> its files' name without the suffix
    parts: Parts = field(default_factory=dict)  # plan chapter -> its files' chapters (itself, or its parts)
    cover: Cover | None = None  # the cover the files embed (made once, for the proof page too)


def _digest(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _cover_digest(cover: Cover) -> str:
    return hashlib.sha256(cover.data).hexdigest()[:24]


def _chapter_fingerprint(ch: ChapterInput, stem: str, info: BookInfo, cover: Cover, s: AudioSettings) -> str:
    clips = []
    for clip in ch.clips:
        try:
            st = clip.path.stat()
        except OSError as exc:
            raise UserError(f"clip missing for chapter {ch.index}: {clip.path.name}") from exc
        clips.append((str(clip.path), st.st_size, st.st_mtime_ns, int(clip.boundary_after)))
    settings = asdict(s) | {"formats": sorted(f for f in s.formats if f in CHAPTER_FORMATS),
                            "m4b": "m4b" in s.formats}
    book = (info.title, info.authors, info.language, _cover_digest(cover))
    return _digest({"clips": clips, "settings": settings, "title": ch.title, "stem": stem, "book": book})


@dataclass(frozen=True)
class _Todo:
    job: ChapterJob
    fingerprint: str
    fresh: bool


def _plan(chapters: Sequence[ChapterInput], info: BookInfo, cover: Cover, s: AudioSettings, out: Path,
          manifest: Manifest) -> list[_Todo]:
    """Every chapter with its fingerprint and whether its files are already up to date."""
    first = 0 if chapters and chapters[0].index == 0 else 1  # opening credits (chapter 0) are "00 - ..."
    stems = chapter_stems([c.title for c in chapters], range(first, first + len(chapters)))
    todo = []
    for n, (ch, stem) in enumerate(zip(chapters, stems, strict=True), start=1):
        job = ChapterJob(ch, stem, n, len(chapters))
        fp = _chapter_fingerprint(ch, stem, info, cover, s)
        files = [out / f"{stem}.{f}" for f in CHAPTER_FORMATS if f in s.formats]
        files += [aac_path(out / WORK_DIR, ch.index)] if "m4b" in s.formats else []
        entry = manifest.chapter(ch.index)
        fresh = (entry.get("fingerprint") == fp and all(p.exists() for p in files) and entry_measured(entry, files)
                 and "clip_starts" in entry)  # builds before the proof page kept no clip times
        todo.append(_Todo(job, fp, fresh))
    return todo


def _return_large_frees_to_the_os() -> None:
    """Fix glibc's mmap threshold at 1 MiB (and cap its arenas).

    After a large free glibc raises the threshold, so the workers' per-chunk numpy
    arrays land in per-thread heap arenas that never shrink: peak RSS grew by tens of MB
    per worker. Elsewhere than glibc this does nothing.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


def workers_for(jobs: int) -> int:
    """One chapter per core. A chapter alone already keeps more than one core busy (its
    MP3 and AAC encoders, its meters and the mastering thread run at once), so the last
    chapter of a book does not leave a core idle; a worker more only added its encoder
    processes to peak memory (Carol: 3 workers 386 MB, 2 workers 295 MB, same wall time)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(jobs, cores))


def _run_parallel(todo: Sequence[_Todo], info: BookInfo, cover: Cover, s: AudioSettings, out: Path,
                  manifest: Manifest, progress: PackageProgress) -> dict[int, ChapterOutput]:
    """Build the stale chapters on a pool; the manifest is saved as each one lands."""
    stale = sorted((t for t in todo if not t.fresh), key=lambda t: -len(t.job.chapter.clips))  # longest first
    built: dict[int, ChapterOutput] = {}
    if not stale:
        return built
    work = out / WORK_DIR
    _return_large_frees_to_the_os()
    pool = ThreadPoolExecutor(max_workers=workers_for(len(stale)), thread_name_prefix="package")
    try:
        futures: dict[Future[ChapterOutput], _Todo] = {
            pool.submit(build_chapter, t.job, info, cover, s, out, work): t for t in stale}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                t = futures[fut]
                result = fut.result()  # the first failure propagates; the rest are cancelled
                built[t.job.chapter.index] = result
                manifest.record_chapter(t.job, t.fingerprint, result)
                manifest.save()  # a crash after this chapter keeps its work
                progress.chapter_packaged(len(t.job.chapter.clips), result.frames / s.sample_rate, True)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return built


def assemble_book(
    chapters: Sequence[ChapterInput], info: BookInfo, settings: AudioSettings, out_dir: Path,
    *, progress: PackageProgress | None = None,
) -> PackageResult:
    """Stitch, master and package `chapters` into `out_dir`; redo only what changed."""
    unknown = set(settings.formats) - KNOWN_FORMATS
    if unknown:
        raise UserError(f"unknown output format(s): {', '.join(sorted(unknown))}")
    if not chapters:
        raise UserError("nothing to assemble: no chapter has audio")
    progress = progress or NoPackageProgress()
    chapters, parts = split_long(chapters, settings)  # over output.max_minutes: parts, cut at paragraphs
    work = _prepare_dirs(out_dir)
    manifest = Manifest.load(work)
    cover = usable_cover(info.cover, info.title, info.authors)
    todo = _plan(chapters, info, cover, settings, out_dir, manifest)
    progress.package_started(len(chapters), sum(len(c.clips) for c in chapters))
    for t in (t for t in todo if t.fresh):
        ch = t.job.chapter
        progress.chapter_packaged(len(ch.clips), manifest.frames(ch.index) / settings.sample_rate, False)
    built = _run_parallel(todo, info, cover, settings, out_dir, manifest, progress)
    manifest.drop_others([c.index for c in chapters], out_dir)
    rewritten = [p for b in built.values() for f, p in b.files.items() if f != "aac"]
    m4b = _package_m4b(chapters, info, cover, settings, out_dir, manifest, rewritten, progress)
    book_mp3 = _package_book_mp3(chapters, info, cover, settings, out_dir, manifest, rewritten, progress)
    sample = _package_sample(chapters, settings, out_dir, manifest, rewritten) if settings.profile == "acx" else None
    playlist = _package_playlist(chapters, info, settings, out_dir, manifest, m4b, rewritten)
    manifest.save()
    chapter_files = tuple(out_dir / f"{manifest.stem(c.index)}.{f}"
                          for c in chapters for f in CHAPTER_FORMATS if f in settings.formats)
    chapter_files += tuple(p for p in (book_mp3, sample) if p)
    reports = tuple(_report(t, built, manifest) for t in todo)
    measured = manifest.measured_files(out_dir, [*chapter_files, *([m4b] if m4b else [])])
    starts = {c.index: manifest.clip_starts(c.index) for c in chapters}
    return PackageResult(chapter_files, m4b, playlist, tuple(rewritten), reports, measured, starts,
                         {c.index: manifest.frames(c.index) for c in chapters},
                         {c.index: manifest.stem(c.index) for c in chapters}, parts, cover)


def _prepare_dirs(out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    work = out_dir / WORK_DIR
    for directory in (out_dir, work, work / "aac", work / "tmp"):
        directory.mkdir(parents=True, exist_ok=True)
        remove_stale_parts(directory)
    shutil.rmtree(work / "pcm", ignore_errors=True)  # mastered WAVs of builds before the AAC pieces
    return work


def _report(t: _Todo, built: dict[int, ChapterOutput], manifest: Manifest) -> ChapterReport:
    ch = t.job.chapter
    b = built.get(ch.index)
    if b is None:
        return ChapterReport(ch.index, ch.title, manifest.frames(ch.index), False)
    return ChapterReport(ch.index, ch.title, b.frames, True, b.clip_starts, b.loudness_lufs)


def _package_m4b(chapters: Sequence[ChapterInput], info: BookInfo, cover: Cover, s: AudioSettings, out: Path,
                 manifest: Manifest, rewritten: list[Path], progress: PackageProgress) -> Path | None:
    from pipeline.audio.m4b import M4bPiece, build_m4b

    if "m4b" not in s.formats:
        return None
    path = out / f"{book_stem(info.title)}.m4b"
    fp = _digest([[manifest.chapter(c.index)["fingerprint"] for c in chapters], s.m4b_bitrate,
                  info.title, info.authors, _cover_digest(cover)])
    if manifest.m4b_fingerprint() != fp or not path.exists():
        progress.package_step("M4B")
        part = atomic_target(path)
        try:
            pieces = [M4bPiece(c.title, aac_path(out / WORK_DIR, c.index)) for c in chapters]
            build_m4b(path, part, info, cover, s.sample_rate, pieces, out / WORK_DIR)
            os.replace(part, path)
        finally:
            part.unlink(missing_ok=True)
        rewritten.append(path)
    manifest.record_m4b(fp, path, combine([manifest.measured(c.index, "aac") for c in chapters]))
    return path


def _package_book_mp3(chapters: Sequence[ChapterInput], info: BookInfo, cover: Cover, s: AudioSettings, out: Path,
                      manifest: Manifest, rewritten: list[Path], progress: PackageProgress) -> Path | None:
    """`book-mp3`: the chapter MP3s' frames in one file with ID3 chapters (checked by
    decoding it: its figures are not combined from the chapters')."""
    from pipeline.audio.book_mp3 import build_book_mp3

    if "book-mp3" not in s.formats:
        return None
    path = out / f"{book_stem(info.title)}.mp3"
    fp = _digest([[manifest.chapter(c.index)["fingerprint"] for c in chapters], info.title, info.authors,
                  _cover_digest(cover)])
    if manifest.product_fingerprint("book-mp3") != fp or not path.exists():
        progress.package_step("book MP3")
        part = atomic_target(path)
        try:
            build_book_mp3(part, info, cover, [(c.title, out / f"{manifest.stem(c.index)}.mp3") for c in chapters])
            os.replace(part, path)
        finally:
            part.unlink(missing_ok=True)
        rewritten.append(path)
    manifest.record_product("book-mp3", fp)
    return path


def _package_sample(chapters: Sequence[ChapterInput], s: AudioSettings, out: Path, manifest: Manifest,
                    rewritten: list[Path]) -> Path | None:
    """ACX's retail sample from the first chapter after the opening credits that has one."""
    from pipeline.audio.sample import SAMPLE_NAME, sample_span, write_sample

    for ch in (c for c in chapters if c.index > 0):
        span = sample_span(ch, manifest.clip_starts(ch.index), manifest.frames(ch.index), s.sample_rate)
        if span is None:
            continue
        path = out / SAMPLE_NAME
        fp = _digest([manifest.chapter(ch.index)["fingerprint"], span])
        if manifest.product_fingerprint("sample") != fp or not path.exists():
            write_sample(out, out / f"{manifest.stem(ch.index)}.mp3", span, s)
            rewritten.append(path)
        manifest.record_product("sample", fp)
        return path
    log.warning("no chapter has a minute of text from a paragraph to a sentence end: no retail sample")
    return None


def _write_if_changed(path: Path, data: bytes) -> bool:
    try:
        if path.read_bytes() == data:
            return False
    except OSError:
        pass
    write_atomic(path, data)
    return True


def _package_playlist(chapters: Sequence[ChapterInput], info: BookInfo, s: AudioSettings, out: Path,
                      manifest: Manifest, m4b: Path | None, rewritten: list[Path]) -> Path | None:
    fmt = next((f for f in CHAPTER_FORMATS if f in s.formats), None)
    items = [(f"{manifest.stem(c.index)}.{fmt}", manifest.frames(c.index) / s.sample_rate, c.title)
             for c in chapters] if fmt else []
    if not items and m4b is not None:
        total = sum(manifest.frames(c.index) for c in chapters) / s.sample_rate
        items = [(m4b.name, total, info.title)]
    if not items:
        return None
    path = out / f"{book_stem(info.title)}.m3u"
    if _write_if_changed(path, m3u(items).encode("utf-8")):
        rewritten.append(path)
    return path
