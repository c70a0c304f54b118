"""Measure one delivered audio file, streaming (an hour of audio never sits in memory).

There is no ffprobe: stream facts come from `ffmpeg -i` stderr, MP3 bitrate mode from
walking frame headers, loudness from the streaming BS.1770 meter.
"""

from __future__ import annotations

import math
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.audio.ffmpeg import BASE_ARGS, detect_format, ffmpeg_exe, ffmpeg_info
from pipeline.audio.loudness import LoudnessMeter, lin_to_db, true_peak_envelope
from pipeline.audio.mp3frames import scan_mp3
from pipeline.errors import UserError

_AUDIO = re.compile(r"Stream #\S+.*?Audio: ([^,\s]+)[^,]*, (\d+) Hz, ([^,]+)")
_CHAPTER = re.compile(r"Chapter #\S+ start ([\d.]+), end ([\d.]+)\s*\n\s*Metadata:\s*\n\s*title\s*: (.*)")
_BITRATE = re.compile(r"Audio: .*?(\d+) kb/s")
WINDOW_S = 0.5
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


@dataclass
class _Acc:
    """Running measurements over decoded chunks."""

    rate: int
    channels: int
    meter: LoudnessMeter = field(init=False)
    sum_sq: float = 0.0
    frames: int = 0
    peak: float = 0.0
    windows: list[float] = field(default_factory=list)
    head: np.ndarray | None = None
    tail: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        self.meter = LoudnessMeter(self.rate, self.channels)

    def feed(self, x: np.ndarray) -> None:
        self.meter.feed(x)
        self.sum_sq += float(np.square(x).sum())
        self.frames += len(x)
        for c in range(self.channels):
            self.peak = max(self.peak, float(true_peak_envelope(x[:, c]).max(initial=0.0)))
        win = int(self.rate * WINDOW_S)
        n = len(x) // win
        if n:
            ms = np.square(x[: n * win]).mean(axis=1).reshape(n, win).mean(axis=1)
            self.windows.extend(ms.tolist())
        if self.head is None:
            self.head = x[:win].copy()
        self.tail = np.concatenate([self.tail.reshape(-1, self.channels), x])[-win:]


def _rms_db(x: np.ndarray | None) -> float:
    if x is None or x.size == 0:
        return -math.inf
    return 10 * math.log10(float(np.square(x).mean())) if np.any(x) else -math.inf


def _measure(path: Path, rate: int, channels: int) -> _Acc:
    argv = [ffmpeg_exe(), *BASE_ARGS, "-i", str(path), "-vn", "-f", "s16le", "-acodec", "pcm_s16le", "pipe:1"]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    acc = _Acc(rate, channels)
    assert proc.stdout is not None and proc.stderr is not None
    size = rate * CHUNK_S * channels * 2
    while data := proc.stdout.read(size):
        data = data[: len(data) - len(data) % (2 * channels)]
        acc.feed(np.frombuffer(data, "<i2").astype(np.float64).reshape(-1, channels) / 32768.0)
    err = proc.stderr.read().decode("utf-8", "replace")
    if proc.wait() != 0 or acc.frames == 0:
        last = err.strip().splitlines()[-1] if err.strip() else "no audio decoded"
        raise UserError(f"cannot read audio file {path.name}: {last}")
    return acc


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


def analyze_file(path: Path) -> FileFacts:
    """All facts `audiobook check` judges, for one file."""
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
    acc = _measure(path, rate, channels)
    scan = scan_mp3(path.read_bytes()) if fmt == "mp3" else None
    br = _BITRATE.search(info)
    bitrate = scan.bitrate_kbps if scan else (int(br.group(1)) if br else None)
    tags, cover = _tags_and_cover(path, info)
    chapters = tuple((float(a), float(b), t.strip()) for a, b, t in _CHAPTER.findall(info))
    floor = min(acc.windows) if acc.windows else acc.sum_sq / max(1, acc.frames * channels)
    return FileFacts(
        path=path, format=fmt, codec=codec, duration_s=acc.frames / rate, sample_rate=rate,
        channels=channels, bitrate_kbps=bitrate, vbr=scan.is_vbr if scan else None,
        loudness_lufs=acc.meter.integrated(),
        rms_db=10 * math.log10(acc.sum_sq / (acc.frames * channels)) if acc.sum_sq > 0 else -math.inf,
        true_peak_db=lin_to_db(acc.peak), noise_floor_db=10 * math.log10(floor) if floor > 0 else -math.inf,
        head_db=_rms_db(acc.head), tail_db=_rms_db(acc.tail), chapters=chapters, tags=tags, cover=cover,
    )
