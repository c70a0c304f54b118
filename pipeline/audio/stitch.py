"""Chapter stitching: decode each clip, trim its silence, join with boundary pauses.

Linear and bounded: clips stream one at a time into a raw s16 file on disk while a
streaming BS.1770 meter measures them (never `AudioSegment +=`, which is quadratic:
27.7 s and 510 MB for an hour). The result records where every clip landed, in
samples, so seams and pauses can be verified and chapter marks are exact.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.audio.ffmpeg import decode_to_pcm
from pipeline.audio.loudness import LoudnessMeter
from pipeline.errors import BadAudioError, CorruptClipError
from pipeline.models import Boundary, Pauses

TRIM_THRESHOLD_DB = -40.0  # relative to the clip's loudest 10 ms window
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


def _load_pcm16(path: Path, rate: int, channels: int) -> np.ndarray:
    """Decode a clip to int16 frames x channels (a plain WAV at our format: no ffmpeg).

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
    return np.frombuffer(pcm[: len(pcm) - len(pcm) % (2 * channels)], dtype="<i2").reshape(-1, channels)


def load_clip(path: Path, rate: int, channels: int) -> np.ndarray:
    """Decode a clip to float32 frames x channels (full scale 1.0)."""
    return _load_pcm16(path, rate, channels) * np.float32(1.0 / 32768.0)


def trim_bounds(x: np.ndarray, rate: int) -> tuple[int, int]:
    """[start, end) of the clip's sound: windows within TRIM_THRESHOLD_DB of its loudest.

    Relative, not absolute: a quiet voice is trimmed as well as a loud one.
    """
    win = max(1, rate * WINDOW_MS // 1000)
    n = len(x) // win
    if n == 0:
        return 0, len(x)
    w = np.ascontiguousarray(x[: n * win], dtype=np.float32).reshape(n, -1)
    power = np.einsum("ij,ij->i", w, w)  # per-window energy; the threshold is relative
    top = float(power.max())
    if top <= 0.0:
        return 0, 0  # digital silence: nothing to keep
    loud = np.flatnonzero(power >= top * 10.0 ** (TRIM_THRESHOLD_DB / 10.0))
    start = max(0, int(loud[0]) * win - rate * KEEP_HEAD_MS // 1000)
    end = min(len(x), (int(loud[-1]) + 1) * win + rate * KEEP_TAIL_MS // 1000)
    return start, end


def _fade(y: np.ndarray, rate: int) -> int:
    """Short linear fades in place at both ends of `y`; returns their length."""
    fade = min(len(y) // 2, rate * FADE_MS // 1000)
    if fade > 0:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)[:, None]
        y[:fade] *= ramp
        y[-fade:] *= ramp[::-1]
    return fade


def trim_clip(x: np.ndarray, rate: int) -> np.ndarray:
    """The clip's sound with short fades at both cut points."""
    start, end = trim_bounds(x, rate)
    y = np.array(x[start:end], dtype=np.float32)
    _fade(y, rate)
    return y


def _to_s16(y: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(y * 32768.0), -32768, 32767).astype("<i2")


def trimmed_clip16(x16: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(int16, float32) of the trimmed, faded clip.

    Only the fades are requantised: everything between them is the clip's own samples,
    so the s16 output needs no float round trip.
    """
    xf = x16 * np.float32(1.0 / 32768.0)
    start, end = trim_bounds(xf, rate)
    y = xf[start:end]
    out = x16[start:end].copy()
    fade = _fade(y, rate)
    if fade > 0:
        out[:fade] = _to_s16(y[:fade])
        out[-fade:] = _to_s16(y[-fade:])
    return out, y


def pause_frames(pauses: Pauses, boundary: Boundary, rate: int, last: bool) -> int:
    """Silence after a clip: the boundary's pause (the tail after the last clip).

    Between clips the kept trim margins count toward the pause, so the heard gap
    (sound to sound) equals the configured pause.
    """
    if last:
        return rate * pauses.tail // 1000
    return rate * max(0, pauses.after(boundary) - KEEP_HEAD_MS - KEEP_TAIL_MS) // 1000


class _RawWriter:
    """Appends s16 frames to a file and feeds their float twin to the loudness meter."""

    def __init__(self, path: Path, rate: int, channels: int) -> None:
        self.fh = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.meter = LoudnessMeter(rate, channels)
        self.channels = channels
        self.frames = 0

    def write(self, s16: np.ndarray, y: np.ndarray) -> None:
        self.meter.feed(y)
        self.fh.write(s16.tobytes())
        self.frames += len(s16)

    def silence(self, frames: int) -> None:
        if frames <= 0:
            return
        self.meter.feed_silence(frames)
        self.fh.write(bytes(frames * 2 * self.channels))
        self.frames += frames

    def close(self) -> None:
        self.fh.close()


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
        writer.silence(rate * pauses.head // 1000)
        for i, clip in enumerate(clips):
            s16, y = trimmed_clip16(_load_pcm16(clip.path, rate, channels), rate)
            spans.append((writer.frames, writer.frames + len(s16)))
            writer.write(s16, y)
            writer.silence(pause_frames(pauses, clip.boundary_after, rate, i == len(clips) - 1))
    finally:
        writer.close()
    meter = writer.meter
    return StitchedChapter(
        pcm_path=pcm_path,
        frames=writer.frames,
        rate=rate,
        channels=channels,
        clip_spans=tuple(spans),
        loudness_lufs=meter.integrated(),
        hop=meter.hop,
        hop_energies=meter.energies(),
        hop_peaks=meter.peaks(),
    )
