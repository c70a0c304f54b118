"""Chapter stitching with pydub: decode each clip, trim its silence, join with pauses.

Every clip becomes a pydub `AudioSegment` (decoded to PCM first: the ffmpeg wheel has no
ffprobe, so pydub's own loaders cannot be used); pydub trims it (silence detection
relative to the clip's own peak), fades both cut points, and makes the pauses
(`AudioSegment.silent`). The chapter is never built with `+` (quadratic: 27.7 s and
510 MB for an hour): each piece's `raw_data` streams into a raw s16 file on disk while a
streaming BS.1770 meter measures it. The result records where every clip landed, in
samples, so seams and pauses can be verified and chapter marks are exact.
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

with warnings.catch_warnings():  # pydub looks for an ffmpeg on PATH at import; we never use it
    warnings.simplefilter("ignore", RuntimeWarning)
    warnings.simplefilter("ignore", DeprecationWarning)  # audioop on 3.12 (audioop-lts on 3.13)
    from pydub import AudioSegment
    from pydub.silence import detect_leading_silence

from pipeline.audio.ffmpeg import decode_to_pcm
from pipeline.audio.loudness import LoudnessMeter
from pipeline.errors import BadAudioError, CorruptClipError
from pipeline.models import Boundary, Pauses

TRIM_BELOW_PEAK_DB = 45.0  # a 10 ms window this far under the clip's peak is silence
WINDOW_MS = 10
KEEP_HEAD_MS = 5  # kept before the first window above threshold
KEEP_TAIL_MS = 20  # kept after the last one: decays are not cut
FADE_MS = 5  # at both trim points, against clicks


@dataclass(frozen=True)
class ClipRef:
    """A downloaded clip (any format) and the seam after it."""

    path: Path
    boundary_after: Boundary


@dataclass(frozen=True)
class ChapterInput:
    index: int
    title: str
    clips: tuple[ClipRef, ...]


@dataclass(frozen=True, eq=False)
class StitchedChapter:
    """A chapter assembled (before gain) into `pcm_path` as raw s16le frames."""

    pcm_path: Path
    frames: int
    rate: int
    channels: int
    clip_spans: tuple[tuple[int, int], ...]  # [start, end) frame of each trimmed clip
    loudness_lufs: float
    hop: int
    hop_energies: np.ndarray = field(repr=False)  # K-weighted energy per 100 ms
    hop_peaks: np.ndarray = field(repr=False)  # sample peak per 100 ms

    @property
    def clip_starts(self) -> tuple[int, ...]:
        return tuple(s for s, _ in self.clip_spans)


def _wav_fast_path(data: bytes, rate: int, channels: int) -> bytes | None:
    """PCM of a plain 16-bit WAV already at our rate/channels: no ffmpeg process needed."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos, fmt_ok = 12, False
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = data[pos + 8 : pos + 8 + size]
        if cid == b"fmt ":
            tag, ch, sr, _, _, bits = struct.unpack("<HHIIHH", body[:16])
            fmt_ok = tag == 1 and ch == channels and sr == rate and bits == 16
        elif cid == b"data":
            if not fmt_ok or size in (0, 0xFFFFFFFF) or pos + 8 + size > len(data):
                return None  # odd or truncated: let ffmpeg and its checks decide
            return body
        pos += 8 + size + (size & 1)
    return None


def load_segment(path: Path, rate: int, channels: int) -> AudioSegment:
    """A clip as a pydub segment of s16 frames (a plain WAV at our format needs no ffmpeg).

    A clip that cannot be read or decoded raises CorruptClipError naming it, so the build
    can move it aside and fetch it again instead of failing the same way on every run.
    """
    try:
        data = path.read_bytes()
        pcm = _wav_fast_path(data, rate, channels)
        if pcm is None:
            pcm = decode_to_pcm(data, rate, channels)
        if len(pcm) < 2 * channels:
            raise BadAudioError("it holds no samples")
    except (BadAudioError, FileNotFoundError) as exc:
        reason = exc.message if isinstance(exc, BadAudioError) else "it is missing"
        raise CorruptClipError(f"clip {path} is damaged: {reason}", path=str(path),
                               key=path.name.split(".")[0]) from None
    return AudioSegment(data=pcm[: len(pcm) - len(pcm) % (2 * channels)], sample_width=2,
                        frame_rate=rate, channels=channels)


def trim_bounds(seg: AudioSegment) -> tuple[int, int]:
    """[start, end) in ms of the clip's sound, found by pydub's silence detection.

    The threshold is relative to the clip's own peak, so a quiet voice is trimmed as
    well as a loud one; digital silence keeps nothing.
    """
    if seg.max == 0:
        return 0, 0
    threshold = seg.max_dBFS - TRIM_BELOW_PEAK_DB
    lead = detect_leading_silence(seg, threshold, WINDOW_MS)
    trail = detect_leading_silence(seg.reverse(), threshold, WINDOW_MS)
    length = len(seg)
    start = max(0, lead - KEEP_HEAD_MS)
    end = min(length, max(start, length - trail + KEEP_TAIL_MS))
    return start, end


def trim_clip(seg: AudioSegment) -> AudioSegment:
    """The clip's sound with short pydub fades at both cut points."""
    start, end = trim_bounds(seg)
    sound = seg[start:end]
    fade = min(FADE_MS, len(sound) // 2)
    return sound.fade_in(fade).fade_out(fade) if fade > 0 else sound


def pause_ms(pauses: Pauses, boundary: Boundary, last: bool) -> int:
    """Silence after a clip: the boundary's pause (the tail after the last clip).

    Between clips the kept trim margins count toward the pause, so the heard gap
    (sound to sound) equals the configured pause.
    """
    if last:
        return pauses.tail
    return max(0, pauses.after(boundary) - KEEP_HEAD_MS - KEEP_TAIL_MS)


def silence(ms: int, rate: int, channels: int) -> AudioSegment:
    """A pause of `ms` as a pydub segment at the chapter's format."""
    quiet = AudioSegment.silent(duration=ms, frame_rate=rate)
    return quiet if channels == 1 else quiet.set_channels(channels)


class _RawWriter:
    """Appends pydub segments' frames to a file and feeds them to the loudness meter."""

    def __init__(self, path: Path, rate: int, channels: int) -> None:
        self.fh = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.meter = LoudnessMeter(rate, channels)
        self.channels = channels
        self.frames = 0

    def write(self, seg: AudioSegment) -> None:
        raw = seg.raw_data
        n = len(raw) // (2 * self.channels)
        if n == 0:
            return
        if seg.max == 0:
            self.meter.feed_silence(n)
        else:
            x = np.frombuffer(raw, dtype="<i2").reshape(-1, self.channels)
            self.meter.feed(x * np.float32(1.0 / 32768.0))
        self.fh.write(raw)
        self.frames += n

    def close(self) -> None:
        self.fh.close()


def _decoded(clips: Sequence[ClipRef], rate: int, channels: int) -> Iterator[AudioSegment]:
    """Each clip as a segment, in order; the next one decodes (its ffmpeg process runs)
    while this one is trimmed and written, so the two overlap."""
    if not clips:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="clip-decode") as pool:
        ahead = pool.submit(load_segment, clips[0].path, rate, channels)
        for k in range(1, len(clips) + 1):
            seg = ahead.result()
            if k < len(clips):
                ahead = pool.submit(load_segment, clips[k].path, rate, channels)
            yield seg


def stitch_chapter(
    clips: Sequence[ClipRef], pauses: Pauses, pcm_path: Path, rate: int = 44100, channels: int = 1
) -> StitchedChapter:
    """Decode, trim and join `clips` into raw s16le `pcm_path` with head/seam/tail pauses."""
    if not clips:
        raise BadAudioError("a chapter needs at least one clip")
    pcm_path.parent.mkdir(parents=True, exist_ok=True)
    writer = _RawWriter(pcm_path, rate, channels)
    spans: list[tuple[int, int]] = []
    try:
        writer.write(silence(pauses.head, rate, channels))
        for i, (clip, seg) in enumerate(zip(clips, _decoded(clips, rate, channels), strict=True)):
            sound = trim_clip(seg)
            start = writer.frames
            writer.write(sound)
            spans.append((start, writer.frames))
            writer.write(silence(pause_ms(pauses, clip.boundary_after, i == len(clips) - 1), rate, channels))
    finally:
        writer.close()
    meter = writer.meter
    return StitchedChapter(
        pcm_path=pcm_path, frames=writer.frames, rate=rate, channels=channels, clip_spans=tuple(spans),
        loudness_lufs=meter.integrated(), hop=meter.hop, hop_energies=meter.energies(), hop_peaks=meter.peaks(),
    )
