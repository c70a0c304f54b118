"""Delivery: chapter files (MP3 + optional WAV/FLAC), one M4B, an M3U playlist.

Incremental by fingerprint: a chapter is re-stitched only when its clips (path, size,
mtime), its title, the book tags or the audio settings changed; the M4B only when a
chapter or the book tags changed. The manifest (.audiobook/assembly.json) records
what was built; a re-run of a finished build rewrites nothing. Every file is written
under a temporary name and renamed when complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.audio.cover import cover_extension, usable_cover
from pipeline.audio.ffmpeg import run_ffmpeg
from pipeline.audio.master import EncodeTarget, master_chapter
from pipeline.audio.names import book_stem, chapter_stems
from pipeline.audio.stitch import ChapterInput, StitchedChapter, stitch_chapter
from pipeline.audio.tags import BookInfo, ffmetadata, m3u, tag_mp3
from pipeline.errors import UserError
from pipeline.fsio import atomic_target, remove_stale_parts, write_atomic
from pipeline.models import AudioSettings, Cover

log = logging.getLogger(__name__)

WORK_DIR = ".audiobook"
MANIFEST = "assembly.json"
MANIFEST_VERSION = 1
CHAPTER_FORMATS = ("mp3", "wav", "flac")
KNOWN_FORMATS = frozenset({*CHAPTER_FORMATS, "m4b"})


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
    settings = asdict(s) | {"formats": sorted(f for f in s.formats if f in CHAPTER_FORMATS)}
    book = (info.title, info.authors, info.language, _cover_digest(cover))
    return _digest({"clips": clips, "settings": settings, "title": ch.title, "stem": stem, "book": book})


def _load_manifest(work: Path) -> dict:
    try:
        data = json.loads((work / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if data.get("version") == MANIFEST_VERSION else {}


def _save_manifest(work: Path, manifest: dict) -> None:
    text = json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False)
    write_atomic(work / MANIFEST, text.encode("utf-8"))


@dataclass(frozen=True)
class _Job:
    chapter: ChapterInput
    stem: str
    number: int
    total: int


def _raw_path(work: Path, index: int) -> Path:
    return work / "tmp" / f"{index:04d}.raw"


class _Prestitcher:
    """Stitches the next chapter on a worker thread while the current one encodes.

    A chapter's gain needs its whole loudness, so its own stitch cannot overlap its
    encode; the next chapter's can (the encoder holds one core, stitching the other).
    """

    def __init__(self, s: AudioSettings, work: Path) -> None:
        self.s, self.work = s, work
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prestitch")
        self.pending: dict[int, Future[StitchedChapter]] = {}

    def start(self, ch: ChapterInput) -> None:
        if ch.index not in self.pending:
            s = self.s
            self.pending[ch.index] = self.pool.submit(
                stitch_chapter, ch.clips, s.pauses, _raw_path(self.work, ch.index), s.sample_rate, s.channels)

    def take(self, ch: ChapterInput) -> StitchedChapter:
        self.start(ch)
        return self.pending.pop(ch.index).result()

    def close(self) -> None:
        """Wait for stitches nobody took (a build failed) and drop their raw files."""
        for index, fut in self.pending.items():
            fut.exception()
            _raw_path(self.work, index).unlink(missing_ok=True)
        self.pool.shutdown()


def _build_chapter(job: _Job, info: BookInfo, cover: Cover, s: AudioSettings, out: Path, work: Path,
                   stitcher: _Prestitcher | None = None, after: ChapterInput | None = None,
                   ) -> tuple[list[Path], ChapterReport]:
    """Stitch, master, encode and tag one chapter; return the files written.

    With `stitcher`, the stitch may come from the worker and `after` (the next chapter
    to build) starts stitching as soon as this one's is in hand.
    """
    ch = job.chapter
    raw = _raw_path(work, ch.index)
    finals = {fmt: out / f"{job.stem}.{fmt}" for fmt in CHAPTER_FORMATS if fmt in s.formats}
    parts = {fmt: atomic_target(path) for fmt, path in finals.items()}
    encodes = [EncodeTarget(fmt, parts[fmt], s.mp3_bitrate if fmt == "mp3" else None)
               for fmt in ("mp3", "flac") if fmt in finals]
    try:
        if stitcher is None:
            st = stitch_chapter(ch.clips, s.pauses, raw, s.sample_rate, s.channels)
        else:
            st = stitcher.take(ch)
            if after is not None:
                stitcher.start(after)
        mastered = master_chapter(
            st, _master_wav(work, ch.index) if _needs_master_wav(s) else None,
            target_lufs=s.loudness_lufs, true_peak_db=s.true_peak_db, encodes=encodes, seed=ch.index,
        )
        if "mp3" in parts:
            tag_mp3(parts["mp3"], title=ch.title, info=info, track=job.number, total=job.total, cover=cover)
        if "wav" in parts and mastered.wav_path is not None:
            _link_or_copy(mastered.wav_path, parts["wav"])
        for fmt, part in parts.items():
            os.replace(part, finals[fmt])
    finally:
        raw.unlink(missing_ok=True)
        for part in parts.values():
            part.unlink(missing_ok=True)
    report = ChapterReport(ch.index, ch.title, st.frames, True, st.clip_starts, mastered.loudness_lufs)
    log.info("chapter %d: %.1f s, %.1f LUFS", ch.index, st.frames / s.sample_rate, mastered.loudness_lufs)
    return [*finals.values(), *([mastered.wav_path] if mastered.wav_path else [])], report


def _master_wav(work: Path, index: int) -> Path:
    return work / "pcm" / f"{index:04d}.wav"


def _needs_master_wav(s: AudioSettings) -> bool:
    """The mastered WAV feeds the M4B and the WAV output; an MP3-only build skips it."""
    return "m4b" in s.formats or "wav" in s.formats


def _link_or_copy(src: Path, dst: Path) -> None:
    """A hard link: the mastered WAV is only ever replaced by rename, never rewritten."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _build_m4b(path: Path, info: BookInfo, cover: Cover, s: AudioSettings, work: Path,
               chapters: Sequence[tuple[str, int, Path]]) -> None:
    """Concat the mastered chapter WAVs into one AAC M4B with exact chapter marks."""
    listing = "".join(f"file '{str(wav).replace(chr(39), chr(39) + chr(92) + chr(39) + chr(39))}'\n"
                      for _, _, wav in chapters)
    write_atomic(work / "m4b_list.txt", listing.encode("utf-8"))
    meta = ffmetadata(info, [(t, f) for t, f, _ in chapters], s.sample_rate)
    write_atomic(work / "chapters.ffmeta", meta.encode("utf-8"))
    cover_path = work / f"cover.{cover_extension(cover)}"
    write_atomic(cover_path, cover.data)
    part = atomic_target(path)
    try:
        run_ffmpeg([
            "-f", "concat", "-safe", "0", "-i", str(work / "m4b_list.txt"),
            "-i", str(work / "chapters.ffmeta"), "-i", str(cover_path),
            "-map", "0:a", "-map", "2:v", "-map_metadata", "1", "-map_chapters", "1",
            "-c:a", "aac", "-b:a", s.m4b_bitrate, "-c:v", "copy", "-disposition:v:0", "attached_pic",
            "-metadata", "media_type=2", "-movflags", "+faststart", "-f", "ipod", "-y", str(part),
        ])
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)


def _write_if_changed(path: Path, data: bytes) -> bool:
    try:
        if path.read_bytes() == data:
            return False
    except OSError:
        pass
    write_atomic(path, data)
    return True


def _plan(chapters: Sequence[ChapterInput], stems: Sequence[str], info: BookInfo, cover: Cover,
          s: AudioSettings, out_dir: Path, old: dict) -> list[tuple[ChapterInput, str, str, bool]]:
    """(chapter, stem, fingerprint, up to date) for every chapter, before any work starts."""
    todo = []
    for ch, stem in zip(chapters, stems, strict=True):
        fp = _chapter_fingerprint(ch, stem, info, cover, s)
        files = [out_dir / f"{stem}.{f}" for f in CHAPTER_FORMATS if f in s.formats]
        needed = [*files, *([_master_wav(out_dir / WORK_DIR, ch.index)] if _needs_master_wav(s) else [])]
        fresh = old.get(str(ch.index), {}).get("fingerprint") == fp and all(p.exists() for p in needed)
        todo.append((ch, stem, fp, fresh))
    return todo


def assemble_book(
    chapters: Sequence[ChapterInput], info: BookInfo, settings: AudioSettings, out_dir: Path
) -> PackageResult:
    """Stitch, master and package `chapters` into `out_dir`; redo only what changed."""
    unknown = set(settings.formats) - KNOWN_FORMATS
    if unknown:
        raise UserError(f"unknown output format(s): {', '.join(sorted(unknown))}")
    if not chapters:
        raise UserError("nothing to assemble: no chapter has audio")
    out_dir.mkdir(parents=True, exist_ok=True)
    work = out_dir / WORK_DIR
    for directory in (out_dir, work, work / "pcm", work / "tmp"):
        remove_stale_parts(directory)
    manifest = _load_manifest(work)
    old = manifest.get("chapters", {})
    cover = usable_cover(info.cover, info.title, info.authors)
    stems = chapter_stems([c.title for c in chapters])  # 01..N: the listener's track numbers
    todo = _plan(chapters, stems, info, cover, settings, out_dir, old)
    rewritten: list[Path] = []
    reports: list[ChapterReport] = []
    entries: dict[str, dict] = {}
    rebuild = [ch for ch, _, _, fresh in todo if not fresh]
    after_of = {a.index: b for a, b in zip(rebuild, rebuild[1:])}
    stitcher = _Prestitcher(settings, work)
    try:
        for n, (ch, stem, fp, fresh) in enumerate(todo, start=1):
            if fresh:
                reports.append(ChapterReport(ch.index, ch.title, int(old[str(ch.index)]["frames"]), False))
            else:
                written, report = _build_chapter(_Job(ch, stem, n, len(chapters)), info, cover, settings,
                                                 out_dir, work, stitcher, after_of.get(ch.index))
                rewritten += [p for p in written if p.parent == out_dir]
                reports.append(report)
            entries[str(ch.index)] = {"fingerprint": fp, "frames": reports[-1].frames, "stem": stem,
                                      "title": ch.title}
            manifest["chapters"] = {**old, **entries}
            manifest["version"] = MANIFEST_VERSION
            _save_manifest(work, manifest)  # a crash after this chapter keeps its work
    finally:
        stitcher.close()
    _remove_stale(out_dir, old, entries)
    manifest["chapters"] = entries
    m4b = _package_m4b(chapters, entries, info, cover, settings, out_dir, manifest, rewritten)
    playlist = _package_playlist(chapters, entries, info, settings, out_dir, m4b, rewritten)
    _save_manifest(work, manifest)
    chapter_files = tuple(out_dir / f"{entries[str(c.index)]['stem']}.{f}"
                          for c in chapters for f in CHAPTER_FORMATS if f in settings.formats)
    return PackageResult(chapter_files, m4b, playlist, tuple(rewritten), tuple(reports))


def _remove_stale(out: Path, old: dict[str, dict], current: dict[str, dict]) -> None:
    """Delete chapter files an earlier build wrote under names no chapter has now."""
    keep = {e["stem"] for e in current.values()}
    for entry in old.values():
        stem = entry.get("stem")
        if stem and stem not in keep:
            for fmt in CHAPTER_FORMATS:
                (out / f"{stem}.{fmt}").unlink(missing_ok=True)


def _package_m4b(chapters: Sequence[ChapterInput], entries: dict[str, dict], info: BookInfo, cover: Cover,
                 s: AudioSettings, out: Path, manifest: dict, rewritten: list[Path]) -> Path | None:
    if "m4b" not in s.formats:
        return None
    path = out / f"{book_stem(info.title)}.m4b"
    fp = _digest([[entries[str(c.index)]["fingerprint"] for c in chapters], s.m4b_bitrate,
                  info.title, info.authors, _cover_digest(cover)])
    if manifest.get("m4b") != fp or not path.exists():
        parts = [(c.title, int(entries[str(c.index)]["frames"]), _master_wav(out / WORK_DIR, c.index))
                 for c in chapters]
        _build_m4b(path, info, cover, s, out / WORK_DIR, parts)
        rewritten.append(path)
        manifest["m4b"] = fp
    return path


def _package_playlist(chapters: Sequence[ChapterInput], entries: dict[str, dict], info: BookInfo,
                      s: AudioSettings, out: Path, m4b: Path | None, rewritten: list[Path]) -> Path | None:
    fmt = next((f for f in CHAPTER_FORMATS if f in s.formats), None)
    items = [(f"{entries[str(c.index)]['stem']}.{fmt}", entries[str(c.index)]["frames"] / s.sample_rate, c.title)
             for c in chapters] if fmt else []
    if not items and m4b is not None:
        total = sum(int(e["frames"]) for e in entries.values()) / s.sample_rate
        items = [(m4b.name, total, info.title)]
    if not items:
        return None
    path = out / f"{book_stem(info.title)}.m3u"
    if _write_if_changed(path, m3u(items).encode("utf-8")):
        rewritten.append(path)
    return path
