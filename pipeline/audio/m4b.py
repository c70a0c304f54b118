"""The M4B: the chapters' own AAC frames, copied into one file with exact chapter marks.

Each chapter is encoded to ADTS AAC once, in parallel with its MP3, while it is
mastered. The book is then a stream copy of those frames (seconds, not the minutes a
whole-book encode takes), and a changed chapter re-encodes only itself. ADTS frames
concatenate cleanly; the file has no edit list, so every chapter's encoder priming
(AAC_DELAY samples, silence inside the chapter's head pause) stays in the timeline,
and the marks are placed where each chapter's first sample really decodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.audio.cover import cover_extension
from pipeline.audio.ffmpeg import run_ffmpeg_streaming
from pipeline.audio.tags import BookInfo, ffmetadata
from pipeline.errors import BadAudioError
from pipeline.fsio import write_atomic
from pipeline.models import Cover

AAC_FRAME = 1024  # samples per AAC frame
AAC_DELAY = 1024  # priming samples ffmpeg's native AAC encoder puts before the audio
COPY_BYTES = 1 << 20


@dataclass(frozen=True)
class M4bPiece:
    title: str
    aac: Path  # the chapter's ADTS stream


def adts_frames(path: Path) -> int:
    """Number of AAC frames in an ADTS file (walking its headers; no decode)."""
    data = path.read_bytes()
    pos = frames = 0
    while pos + 7 <= len(data):
        if data[pos] != 0xFF or data[pos + 1] & 0xF6 != 0xF0:
            raise BadAudioError(f"{path.name}: not an ADTS stream at byte {pos}")
        size = ((data[pos + 3] & 3) << 11) | (data[pos + 4] << 3) | (data[pos + 5] >> 5)
        if size < 7:
            raise BadAudioError(f"{path.name}: broken ADTS frame at byte {pos}")
        pos += size
        frames += 1
    if pos != len(data) or frames == 0:
        raise BadAudioError(f"{path.name}: truncated ADTS stream")
    return frames


def chapter_lengths(frame_counts: Sequence[int]) -> list[int]:
    """Each chapter's length in samples on the M4B timeline, marks at true first samples.

    Chapter k's audio starts AAC_DELAY samples into its own frames; the first chapter
    also owns the very start of the file, the last one its trailing padding.
    """
    starts = [0] + [sum(frame_counts[:k]) * AAC_FRAME + AAC_DELAY for k in range(1, len(frame_counts))]
    total = sum(frame_counts) * AAC_FRAME
    return [b - a for a, b in zip(starts, [*starts[1:], total])]


def build_m4b(path: Path, part: Path, info: BookInfo, cover: Cover, rate: int, pieces: Sequence[M4bPiece],
              work: Path) -> None:
    """Write the M4B to `part` (the caller renames it): frames copied, chapters, cover, tags."""
    counts = [adts_frames(p.aac) for p in pieces]
    meta = ffmetadata(info, [(p.title, n) for p, n in zip(pieces, chapter_lengths(counts), strict=True)], rate)
    write_atomic(work / "chapters.ffmeta", meta.encode("utf-8"))
    cover_path = work / f"cover.{cover_extension(cover)}"
    write_atomic(cover_path, cover.data)
    argv = [
        "-f", "aac", "-i", "pipe:0", "-i", str(work / "chapters.ffmeta"), "-i", str(cover_path),
        "-map", "0:a", "-map", "2:v", "-map_metadata", "1", "-map_chapters", "1",
        "-c:a", "copy", "-c:v", "copy", "-disposition:v:0", "attached_pic",
        "-metadata", "media_type=2", "-movflags", "+faststart", "-f", "ipod", "-y", str(part),
    ]
    with run_ffmpeg_streaming(argv) as sink:
        for piece in pieces:
            with open(piece.aac, "rb") as fh:
                while chunk := fh.read(COPY_BYTES):
                    sink.write(chunk)
