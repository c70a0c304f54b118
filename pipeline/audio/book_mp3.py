"""One MP3 for the whole book, with ID3v2 chapters (CHAP frames and a CTOC), for the
players and podcast apps that take a single file.

Made from the chapter MP3s without re-encoding: their audio frames are copied one after
another (each file's ID3 tag and Xing/Info frame left out; all share rate, channels and
CBR bitrate), so the book sounds exactly as the chapters do. A chapter starts where its
first frame starts, at the sum of the frames before it × samples per frame: sample-exact
on the frame grid the decoder plays. Each chapter keeps its own encoder delay (about
25 ms of silence, inside its 2 s of room tone at the chapter's end).
"""

from __future__ import annotations

import io
import mmap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mutagen.id3 import APIC, CHAP, CTOC, ID3, TALB, TCON, TIT2, TLAN, TPE1, CTOCFlags

from pipeline.audio.mp3frames import id3_size, is_tag_frame, parse_header
from pipeline.audio.tags import GENRE, BookInfo, iso639_2
from pipeline.errors import UserError
from pipeline.models import Cover

COPY_CHUNK = 1 << 20
NO_OFFSET = 0xFFFFFFFF  # CHAP byte offsets "not given": players use the times


@dataclass(frozen=True)
class Mp3Run:
    """Where a chapter file's audio frames are, and how many samples they hold."""

    start: int  # byte offset of the first audio frame
    end: int  # byte offset after the last one
    samples: int
    sample_rate: int
    channels: int
    bitrate_kbps: int


def audio_frames(data: bytes | mmap.mmap) -> Mp3Run:
    """The run of audio frames in an MP3 (tags and the Xing/Info frame excluded)."""
    pos = id3_size(bytes(data[:10]))
    first = parse_header(data, pos)  # type: ignore[arg-type]
    if first is None:
        raise UserError("a chapter MP3 has no MPEG audio frame where it should start")
    if is_tag_frame(bytes(data[pos:pos + first.length])):
        pos += first.length
    start, samples, bitrates = pos, 0, set()
    while (hdr := parse_header(data, pos)) is not None and pos + hdr.length <= len(data):  # type: ignore[arg-type]
        samples += hdr.samples
        bitrates.add(hdr.bitrate_kbps)
        pos += hdr.length
    if len(bitrates) > 1:
        raise UserError("a chapter MP3 is VBR: the book MP3 is made from CBR chapters")
    return Mp3Run(start, pos, samples, first.sample_rate, first.channels, first.bitrate_kbps)


def build_book_mp3(part: Path, info: BookInfo, cover: Cover, chapters: Sequence[tuple[str, Path]]) -> list[int]:
    """Write the book MP3 to `part`; return each chapter's start in samples (and the end)."""
    tag_room = 64 * 1024 + len(cover.data) + 200 * len(chapters)
    starts: list[int] = [0]
    runs: list[Mp3Run] = []
    with part.open("wb") as out:
        out.write(b"\0" * tag_room)  # the tag is written over this once the times are known
        for _, path in chapters:
            with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                run = audio_frames(data)
                if runs and (run.sample_rate, run.channels, run.bitrate_kbps) != (
                        runs[0].sample_rate, runs[0].channels, runs[0].bitrate_kbps):
                    raise UserError(f"{path.name}: its rate, channels or bitrate differ from the first chapter's")
                for at in range(run.start, run.end, COPY_CHUNK):
                    out.write(data[at:min(at + COPY_CHUNK, run.end)])
            runs.append(run)
            starts.append(starts[-1] + run.samples)
    tag = _tag(info, cover, [t for t, _ in chapters], starts, runs[0].sample_rate)
    if len(tag) > tag_room:
        raise UserError("the book MP3's tag is larger than the room left for it")
    with part.open("r+b") as out:
        out.write(_padded(tag, tag_room))
    return starts


def _tag(info: BookInfo, cover: Cover, titles: Sequence[str], starts: Sequence[int], rate: int) -> bytes:
    """The ID3v2.3 tag: book metadata, cover, a CHAP per chapter and the CTOC."""
    tags = ID3()
    artist = "; ".join(info.authors) or "Unknown"
    for frame in (TIT2(encoding=3, text=info.title), TPE1(encoding=3, text=artist), TALB(encoding=3, text=info.title),
                  TLAN(encoding=3, text=iso639_2(info.language)), TCON(encoding=3, text=GENRE)):
        tags.add(frame)
    tags.add(APIC(encoding=3, mime=cover.media_type, type=3, desc="Cover", data=cover.data))
    ids = [f"chp{n}" for n in range(len(titles))]
    tags.add(CTOC(element_id="toc", flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED, child_element_ids=ids,
                  sub_frames=[TIT2(encoding=3, text=info.title)]))
    for n, title in enumerate(titles):
        tags.add(CHAP(element_id=ids[n], start_time=_ms(starts[n], rate), end_time=_ms(starts[n + 1], rate),
                      start_offset=NO_OFFSET, end_offset=NO_OFFSET, sub_frames=[TIT2(encoding=3, text=title)]))
    buf = io.BytesIO()
    tags.save(buf, v2_version=3, padding=lambda _info: 0)
    return buf.getvalue()


def _ms(samples: int, rate: int) -> int:
    return (samples * 1000 + rate // 2) // rate


def _padded(tag: bytes, room: int) -> bytes:
    """The tag grown to exactly `room` bytes with ID3 padding (zeros inside the tag)."""
    size = room - 10
    header = tag[:6] + bytes(((size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F))
    return header + tag[10:] + b"\0" * (room - len(tag))
