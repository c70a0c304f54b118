"""Measure one delivered audio file, streaming (an hour of audio never sits in memory).

There is no ffprobe: stream facts come from `ffmpeg -i` stderr, MP3 bitrate mode from
walking frame headers, loudness from the streaming BS.1770 meter.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.audio.ffmpeg import DecodeStream, detect_format, ffmpeg_info
from pipeline.audio.loudness import LoudnessMeter, db_to_lin, lin_to_db
from pipeline.audio.mp3frames import scan_mp3
from pipeline.errors import FFmpegError, UserError

_AUDIO = re.compile(r"Stream #\S+.*?Audio: ([^,\s]+)[^,]*, (\d+) Hz, ([^,]+)")
_CHAPTER = re.compile(r"Chapter #\S+ start ([\d.]+), end ([\d.]+)\s*\n\s*Metadata:\s*\n\s*title\s*: (.*)")
_BITRATE = re.compile(r"Audio: .*?(\d+) kb/s")
WINDOW_S = 0.5  # head and tail room tone
FLOOR_WINDOW_S = 0.4  # the noise floor: the quietest 0.4 s, as ACX's checker takes it
CHUNK_S = 10


@dataclass(frozen=True)
class FileFacts:
    path: Path
    format: str
    codec: str
    duration_s: float
    sample_rate: int
    channels: int
    bitrate_kbps: int | None
    vbr: bool | None  # None: not an MP3
    loudness_lufs: float
    rms_db: float
    true_peak_db: float
    sample_peak_db: float
    noise_floor_db: float
    head_db: float  # RMS of the first 0.5 s
    tail_db: float  # RMS of the last 0.5 s
    chapters: tuple[tuple[float, float, str], ...]
    tags: dict[str, str] = field(default_factory=dict)
    cover: bool = False


def _channels(text: str) -> int:
    text = text.strip()
    if text == "mono":
        return 1
    if text == "stereo":
        return 2
    m = re.match(r"(\d+)", text)
    return int(m.group(1)) if m else 2


@dataclass(frozen=True)
class Measured:
    """What decoding a file once tells: every level `check` judges, and its hop energies.

    Taken once per delivered chapter file right after it is encoded; the M4B's figures
    are combined from its chapters' (it is their AAC frames, copied), so nothing is
    decoded twice.
    """

    frames: int
    loudness_lufs: float
    sum_sq: float
    true_peak: float  # linear, from ffmpeg's ebur128 meter (0.1 dB steps)
    floor_ms: float  # mean square of the quietest 0.4 s window
    head_db: float
    tail_db: float
    hop_energies: np.ndarray = field(repr=False, compare=False)
    sample_peak: float = 0.0  # linear, the largest sample (ACX judges its peak by it)

    def rms_db(self, channels: int) -> float:
        return 10 * math.log10(self.sum_sq / (self.frames * channels)) if self.sum_sq > 0 else -math.inf


@dataclass
class LevelStats:
    """Running RMS, sample peak, quietest 0.4 s window and head/tail levels over chunks of frames.

    Fed by the decoder in `check`, and by the mastering pass while it feeds the encoders
    (a lossy codec keeps these levels; only its true peak and loudness need the file).
    """

    rate: int
    channels: int
    sum_sq: float = 0.0
    frames: int = 0
    peak: float = 0.0
    windows: list[float] = field(default_factory=list)
    rest: np.ndarray = field(default_factory=lambda: np.zeros((0, 1), dtype=np.float32))  # frames short of a window
    head: np.ndarray | None = None
    tail: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))

    def feed(self, x: np.ndarray) -> None:
        """Add frames x channels (float, full scale 1.0)."""
        self.sum_sq += float(np.square(x, dtype=np.float64).sum())
        self.frames += len(x)
        if len(x):
            self.peak = max(self.peak, float(np.abs(x).max()))
        win = int(self.rate * FLOOR_WINDOW_S)
        y = np.concatenate([self.rest, x]) if self.rest.size else x  # windows run on across chunks
        n = len(y) // win
        if n:
            ms = np.square(y[: n * win], dtype=np.float64).mean(axis=1).reshape(n, win).mean(axis=1)
            self.windows.extend(ms.tolist())
        self.rest = y[n * win:].copy()
        win = int(self.rate * WINDOW_S)
        if self.head is None:
            self.head = x[:win].copy()
        self.tail = np.concatenate([self.tail.reshape(-1, self.channels), x])[-win:]

    def measured(self, loudness_lufs: float, true_peak_db: float, energies: np.ndarray,
                 sample_peak_db: float | None = None) -> Measured:
        """The figures; an encoded file's sample peak is its own (`sample_peak_db`), not the PCM's."""
        floor = min(self.windows) if self.windows else self.sum_sq / max(1, self.frames * self.channels)
        peak = db_to_lin(sample_peak_db) if sample_peak_db is not None else self.peak
        return Measured(self.frames, loudness_lufs, self.sum_sq, db_to_lin(true_peak_db), floor,
                        _rms_db(self.head), _rms_db(self.tail), energies, peak)


def _rms_db(x: np.ndarray | None) -> float:
    if x is None or x.size == 0:
        return -math.inf
    return 10 * math.log10(float(np.square(x, dtype=np.float64).mean())) if np.any(x) else -math.inf


def measure_file(path: Path, rate: int, channels: int) -> Measured:
    """Decode `path` once (one ffmpeg process, 10 s chunks) and measure it."""
    stats, meter = LevelStats(rate, channels), LoudnessMeter(rate, channels)
    stream = DecodeStream(path, rate * CHUNK_S, channels)
    try:
        for data in stream:
            data = data[: len(data) - len(data) % (2 * channels)]
            x = np.frombuffer(data, "<i2").reshape(-1, channels) * np.float32(1.0 / 32768.0)
            stats.feed(x)
            meter.feed(x)
    except FFmpegError as exc:
        raise UserError(f"cannot read audio file {path.name}: {exc.message}") from None
    if stats.frames == 0:
        raise UserError(f"cannot read audio file {path.name}: no audio decoded")
    return stats.measured(meter.integrated(), stream.true_peak_db, meter.energies())


def _tags_and_cover(path: Path, info: str) -> tuple[dict[str, str], bool]:
    import mutagen

    try:
        f = mutagen.File(path)
    except Exception:  # noqa: BLE001 - a tag parser error is a finding, not a crash
        f = None
    tags: dict[str, str] = {}
    cover = "(attached pic)" in info
    if f is not None and f.tags is not None:
        for key, value in f.tags.items():
            if key.startswith("APIC") or key == "covr":
                cover = True
                continue
            text = value.text if hasattr(value, "text") else value
            tags[str(key)] = "; ".join(map(str, text)) if isinstance(text, list) else str(text)[:200]
    return tags, cover


def analyze_file(path: Path, measured: Measured | None = None) -> FileFacts:
    """All facts `audiobook check` judges, for one file (`measured`: its levels, known)."""
    try:
        head = path.read_bytes()[:65536] if path.is_file() else b""
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from exc
    fmt = detect_format(head)
    info = ffmpeg_info(path)
    m = _AUDIO.search(info)
    if fmt is None or m is None:
        raise UserError(f"not an audio file: {path.name}")
    codec, rate, channels = m.group(1), int(m.group(2)), _channels(m.group(3))
    acc = measured if measured is not None else measure_file(path, rate, channels)
    scan = scan_mp3(path.read_bytes()) if fmt == "mp3" else None
    br = _BITRATE.search(info)
    bitrate = scan.bitrate_kbps if scan else (int(br.group(1)) if br else None)
    tags, cover = _tags_and_cover(path, info)
    chapters = tuple((float(a), float(b), t.strip()) for a, b, t in _CHAPTER.findall(info))
    return FileFacts(
        path=path, format=fmt, codec=codec, duration_s=acc.frames / rate, sample_rate=rate,
        channels=channels, bitrate_kbps=bitrate, vbr=scan.is_vbr if scan else None,
        loudness_lufs=acc.loudness_lufs, rms_db=acc.rms_db(channels), true_peak_db=lin_to_db(acc.true_peak),
        sample_peak_db=lin_to_db(acc.sample_peak),
        noise_floor_db=10 * math.log10(acc.floor_ms) if acc.floor_ms > 0 else -math.inf,
        head_db=acc.head_db, tail_db=acc.tail_db, chapters=chapters, tags=tags, cover=cover,
    )
