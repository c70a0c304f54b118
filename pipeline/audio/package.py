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
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.audio.cover import cover_extension, usable_cover
from pipeline.audio.ffmpeg import atomic_target, run_ffmpeg, write_atomic
from pipeline.audio.master import EncodeTarget, master_chapter
from pipeline.audio.names import book_stem, chapter_stems
from pipeline.audio.stitch import ChapterInput, stitch_chapter
from pipeline.audio.tags import BookInfo, ffmetadata, m3u, tag_mp3
from pipeline.errors import UserError
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


def _build_chapter(job: _Job, info: BookInfo, cover: Cover, s: AudioSettings, out: Path, work: Path) -> tuple[list[Path], ChapterReport]:
    """Stitch, master, encode and tag one chapter; return the files written."""
    ch = job.chapter
    raw = work / "tmp" / f"{ch.index:04d}.raw"
    finals = {fmt: out / f"{job.stem}.{fmt}" for fmt in CHAPTER_FORMATS if fmt in s.formats}
    parts = {fmt: atomic_target(path) for fmt, path in finals.items()}
    encodes = [EncodeTarget(fmt, parts[fmt], s.mp3_bitrate if fmt == "mp3" else None)
               for fmt in ("mp3", "flac") if fmt in finals]
    try:
        st = stitch_chapter(ch.clips, s.pauses, raw, s.sample_rate, s.channels)
        mastered = master_chapter(
            st, work / "pcm" / f"{ch.index:04d}.wav", target_lufs=s.loudness_lufs,
            true_peak_db=s.true_peak_db, encodes=encodes, seed=ch.index,
        )
        if "mp3" in parts:
            tag_mp3(parts["mp3"], title=ch.title, info=info, track=job.number, total=job.total, cover=cover)
        if "wav" in parts:
            shutil.copyfile(mastered.wav_path, parts["wav"])
        for fmt, part in parts.items():
            os.replace(part, finals[fmt])
    finally:
        raw.unlink(missing_ok=True)
        for part in parts.values():
            part.unlink(missing_ok=True)
    report = ChapterReport(ch.index, ch.title, st.frames, True, st.clip_starts, mastered.loudness_lufs)
    log.info("chapter %d: %.1f s, %.1f LUFS", ch.index, st.frames / s.sample_rate, mastered.loudness_lufs)
    return [*finals.values(), mastered.wav_path], report


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
    manifest = _load_manifest(work)
    old = manifest.get("chapters", {})
    cover = usable_cover(info.cover, info.title, info.authors)
    stems = chapter_stems([c.title for c in chapters], [c.index for c in chapters])
    rewritten: list[Path] = []
    reports: list[ChapterReport] = []
    entries: dict[str, dict] = {}
    for n, (ch, stem) in enumerate(zip(chapters, stems, strict=True), start=1):
        fp = _chapter_fingerprint(ch, stem, info, cover, settings)
        prev = old.get(str(ch.index), {})
        files = [out_dir / f"{stem}.{f}" for f in CHAPTER_FORMATS if f in settings.formats]
        wav = work / "pcm" / f"{ch.index:04d}.wav"
        if prev.get("fingerprint") == fp and all(p.exists() for p in [*files, wav]):
            reports.append(ChapterReport(ch.index, ch.title, int(prev["frames"]), False))
        else:
            written, report = _build_chapter(_Job(ch, stem, n, len(chapters)), info, cover, settings, out_dir, work)
            rewritten += [p for p in written if p.parent == out_dir]
            reports.append(report)
        entries[str(ch.index)] = {"fingerprint": fp, "frames": reports[-1].frames, "stem": stem,
                                  "title": ch.title}
        manifest["chapters"] = {**old, **entries}
        manifest["version"] = MANIFEST_VERSION
        _save_manifest(work, manifest)  # a crash after this chapter keeps its work
    manifest["chapters"] = entries
    m4b = _package_m4b(chapters, entries, info, cover, settings, out_dir, manifest, rewritten)
    playlist = _package_playlist(chapters, entries, info, settings, out_dir, m4b, rewritten)
    _save_manifest(work, manifest)
    chapter_files = tuple(out_dir / f"{entries[str(c.index)]['stem']}.{f}"
                          for c in chapters for f in CHAPTER_FORMATS if f in settings.formats)
    return PackageResult(chapter_files, m4b, playlist, tuple(rewritten), tuple(reports))


def _package_m4b(chapters: Sequence[ChapterInput], entries: dict[str, dict], info: BookInfo, cover: Cover,
                 s: AudioSettings, out: Path, manifest: dict, rewritten: list[Path]) -> Path | None:
    if "m4b" not in s.formats:
        return None
    path = out / f"{book_stem(info.title)}.m4b"
    fp = _digest([[entries[str(c.index)]["fingerprint"] for c in chapters], s.m4b_bitrate,
                  info.title, info.authors, _cover_digest(cover)])
    if manifest.get("m4b") != fp or not path.exists():
        parts = [(c.title, int(entries[str(c.index)]["frames"]), out / WORK_DIR / "pcm" / f"{c.index:04d}.wav")
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
