"""Mastering: gain a stitched chapter to the target loudness under a true-peak ceiling.

One streaming pass over the raw chapter: gain, a look-ahead limiter only where a
100 ms hop could reach the ceiling, a very low room-tone noise floor, then s16 out
to the mastered WAV (only when something needs it) and to ffmpeg encoders reading
stdin. The encode is the slow part and runs on one core: the Python side stays cheap
(float32, 10 s chunks, 4x oversampling only on hops whose gained sample peak is
within CANDIDATE_DB of the ceiling) and hands finished chunks to a writer thread
through a bounded queue, so ffmpeg never waits on a chunk being computed.
Loudness after limiting is predicted from the stitcher's hop energies; if the
prediction misses the target by more than MAX_MISS_LU the pass runs again with a
corrected gain.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import queue
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from pipeline.audio.ffmpeg import BASE_ARGS, encode_args, ffmpeg_exe, wav_header
from pipeline.audio.loudness import db_to_lin, gated_loudness, limiter_gain, lin_to_db
from pipeline.audio.stitch import StitchedChapter
from pipeline.errors import FFmpegError
from pipeline.fsio import atomic_target

log = logging.getLogger(__name__)

LOSSY_HEADROOM_DB = 1.0  # MP3/AAC encoding overshoots peaks: limit this much lower
LIMIT_RADIUS_MS = 8  # limiter ramps take ~2x this
CANDIDATE_DB = 1.0  # inter-sample overshoot allowed for before a hop is oversampled
ROOM_TONE_DB = -78.0  # RMS of the noise floor under everything (ACX: <= -60 dB)
HOPS_PER_CHUNK = 100  # 10 s: per-chunk Python overhead stays negligible
QUEUE_CHUNKS = 6  # chunks buffered ahead of the encoders (~5 MB of s16 mono)
PIPE_BYTES = 1 << 20  # larger pipe: fewer wake-ups of ffmpeg and of the writer
MAX_MISS_LU = 0.4
MAX_PASSES = 3


@dataclass(frozen=True)
class EncodeTarget:
    """One output file to encode while mastering (fmt: mp3, m4a, flac)."""

    fmt: str
    path: Path  # written as a temporary name; renamed by the caller when complete
    bitrate: str | None = None


@dataclass(frozen=True)
class MasterResult:
    wav_path: Path | None
    frames: int
    gain_db: float
    loudness_lufs: float  # predicted from hop energies after gain and limiting
    sample_peak_db: float
    limited_hops: int  # chunks in which the limiter reduced the gain


def encoder_argv(fmt: str, bitrate: str | None, rate: int, channels: int, out: str) -> list[str]:
    """The exact ffmpeg command that encodes s16le from stdin (the bench runs it bare)."""
    return [
        ffmpeg_exe(), *BASE_ARGS, "-f", "s16le", "-ar", str(rate), "-ac", str(channels),
        "-i", "pipe:0", *encode_args(fmt, bitrate), "-y", out,
    ]


class _Encoder:
    """An ffmpeg process fed s16le on stdin, writing `target.path`."""

    def __init__(self, target: EncodeTarget, rate: int, channels: int) -> None:
        argv = encoder_argv(target.fmt, target.bitrate, rate, channels, str(target.path))
        log.debug("ffmpeg argv: %s", argv)
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError):
            fcntl.fcntl(self.proc.stdin.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)

    def write(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)

    def finish(self) -> None:
        assert self.proc.stdin is not None and self.proc.stderr is not None
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.close()
        err = self.proc.stderr.read()
        if self.proc.wait() != 0:
            lines = [ln for ln in err.decode("utf-8", "replace").splitlines() if ln.strip()]
            raise FFmpegError(f"ffmpeg exited {self.proc.returncode}: {lines[-1] if lines else '?'}")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


class _Feeder:
    """A thread writing queued chunks to the encoders, so computing never waits on a pipe."""

    def __init__(self, encoders: Sequence[_Encoder]) -> None:
        self.encoders = encoders
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUE_CHUNKS)
        self.failed = False
        self.thread = threading.Thread(target=self._run, name="ffmpeg-feeder", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (data := self.queue.get()) is not None:
            if self.failed:
                continue  # drain; the encoder's exit status explains the failure
            try:
                for enc in self.encoders:
                    enc.write(data)
            except OSError:
                self.failed = True

    def write(self, data: bytes) -> None:
        if not self.failed:
            self.queue.put(data)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()


def _room_tone(rate: int, channels: int, frames: int, seed: int) -> np.ndarray:
    """A deterministic noise buffer at ROOM_TONE_DB RMS (full scale 1.0)."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((frames, channels)) * db_to_lin(ROOM_TONE_DB)).astype(np.float32)


def _read(fh: BinaryIO, start: int, stop: int, channels: int, gain: float) -> np.ndarray:
    """Frames [start, stop) of the raw s16 chapter, gained, as float32."""
    fh.seek(start * 2 * channels)
    raw = np.frombuffer(fh.read((stop - start) * 2 * channels), dtype="<i2").reshape(-1, channels)
    return raw * np.float32(gain / 32768.0)


@dataclass
class _PassState:
    energies: np.ndarray
    peak: float = 0.0
    limited: int = 0


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index runs where `flags` is true."""
    edges = np.flatnonzero(np.diff(np.r_[0, flags.astype(np.int8), 0]))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _process_chunk(
    st: StitchedChapter, fh: BinaryIO, k: int, gain: float, ceiling: float, state: _PassState
) -> np.ndarray:
    """Gained frames of chunk k, limited only around hops that could reach the ceiling.

    The 4x oversampling is the expensive part, so it runs on those hops (plus the
    limiter's reach) rather than on the whole chunk; most chunks skip it entirely.
    """
    chunk, radius = st.hop * HOPS_PER_CHUNK, st.rate * LIMIT_RADIUS_MS // 1000
    start, stop = k * chunk, min(st.frames, (k + 1) * chunk)
    h0 = k * HOPS_PER_CHUNK
    p0 = max(0, h0 - 1)  # a peak just before the chunk ramps the gain into it
    peaks = st.hop_peaks[p0 : h0 + HOPS_PER_CHUNK + 1]
    cand = peaks * (gain * db_to_lin(CANDIDATE_DB)) >= ceiling
    if not cand.any():
        return _read(fh, start, stop, st.channels, gain)
    margin = 4 * radius + 64
    lo, hi = max(0, start - margin), min(st.frames, stop + margin)
    ext = _read(fh, lo, hi, st.channels, gain)
    g = np.ones(len(ext), dtype=np.float32)
    for a, b in _runs(cand):
        s0 = max(0, (p0 + a) * st.hop - lo - margin)
        s1 = min(len(ext), (p0 + b) * st.hop - lo + margin)
        g[s0:s1] = np.minimum(g[s0:s1], limiter_gain(ext[s0:s1], ceiling, radius))
    x, g = ext[start - lo : stop - lo], g[start - lo : stop - lo]
    if g.min() >= 1.0:
        return x
    state.limited += 1
    y = x * g[:, None]
    _adjust_energies(state.energies, x, y, g, st.hop, h0)
    return y


def _adjust_energies(energies: np.ndarray, x: np.ndarray, y: np.ndarray, g: np.ndarray, hop: int, h0: int) -> None:
    """Scale the K-weighted energy of each limited hop by the limiter's energy ratio there."""
    n = min(len(x) // hop, len(energies) - h0)
    if n <= 0:
        return
    hit = np.flatnonzero(g[: n * hop].reshape(n, hop).min(axis=1) < 1.0)
    xs = x[: n * hop].reshape(n, hop, -1)[hit].astype(np.float64)
    ys = y[: n * hop].reshape(n, hop, -1)[hit].astype(np.float64)
    before, after = np.square(xs).sum(axis=(1, 2)), np.square(ys).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(before > 0, after / before, 1.0)
    energies[h0 + hit] *= ratio


def _to_s16(y: np.ndarray) -> bytes:
    y *= 32768.0
    np.rint(y, out=y)
    np.clip(y, -32768.0, 32767.0, out=y)
    return y.astype("<i2").tobytes()


def _one_pass(
    st: StitchedChapter, gain: float, ceiling: float, wav: BinaryIO | None, feeder: _Feeder, seed: int
) -> _PassState:
    state = _PassState(energies=st.hop_energies * gain * gain)
    chunk = st.hop * HOPS_PER_CHUNK
    tone = _room_tone(st.rate, st.channels, chunk, seed)
    with open(st.pcm_path, "rb") as fh:
        for k in range((st.frames + chunk - 1) // chunk):
            y = _process_chunk(st, fh, k, gain, ceiling, state)
            y += tone[: len(y)]
            state.peak = max(state.peak, float(y.max(initial=0.0)), -float(y.min(initial=0.0)))
            data = _to_s16(y)
            if feeder.failed:
                break  # an encoder stopped reading: its exit status says why
            feeder.write(data)
            if wav is not None:
                wav.write(data)
    return state


def _encode_pass(
    st: StitchedChapter, gain_db: float, ceiling: float, part: Path | None,
    encodes: Sequence[EncodeTarget], seed: int,
) -> _PassState:
    """One mastering pass into `part` (if any) and every encoder; all or nothing."""
    encoders: list[_Encoder] = []
    feeder: _Feeder | None = None
    try:
        encoders = [_Encoder(t, st.rate, st.channels) for t in encodes]
        feeder = _Feeder(encoders)
        with open(part, "wb") if part is not None else contextlib.nullcontext() as wav:
            if wav is not None:
                wav.write(wav_header(st.frames * 2 * st.channels, st.rate, st.channels))
            state = _one_pass(st, db_to_lin(gain_db), ceiling, wav, feeder, seed)
        feeder.close()
        failed, feeder = feeder.failed, None
        for enc in encoders:
            enc.finish()
        if failed:
            raise FFmpegError("ffmpeg stopped reading its input")
    except BaseException:
        for enc in encoders:
            enc.kill()
        if feeder is not None:
            feeder.close()
        if part is not None:
            part.unlink(missing_ok=True)
        raise
    return state


def master_chapter(
    st: StitchedChapter,
    wav_out: Path | None,
    *,
    target_lufs: float,
    true_peak_db: float,
    encodes: Sequence[EncodeTarget] = (),
    seed: int = 0,
) -> MasterResult:
    """Write the mastered chapter to `wav_out` (atomically; None: no WAV) and encode `encodes`."""
    ceiling = db_to_lin(true_peak_db - LOSSY_HEADROOM_DB)
    gain_db = target_lufs - st.loudness_lufs if np.isfinite(st.loudness_lufs) else 0.0
    part = None
    if wav_out is not None:
        wav_out.parent.mkdir(parents=True, exist_ok=True)
        part = atomic_target(wav_out)
    for attempt in range(MAX_PASSES):
        state = _encode_pass(st, gain_db, ceiling, part, encodes, seed)
        lufs = gated_loudness(state.energies, st.hop)
        miss = target_lufs - lufs
        if not np.isfinite(lufs) or abs(miss) <= MAX_MISS_LU or attempt == MAX_PASSES - 1:
            break
        log.debug("chapter loudness %.2f LUFS after limiting; pass %d again", lufs, attempt + 2)
        gain_db += miss
    if part is not None and wav_out is not None:
        os.replace(part, wav_out)
    return MasterResult(wav_out, st.frames, gain_db, lufs, lin_to_db(state.peak), state.limited)
