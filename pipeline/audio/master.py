"""Mastering: gain a stitched chapter to the target loudness under a true-peak ceiling.

One streaming pass over the raw chapter: gain, a look-ahead limiter only where a
100 ms hop could reach the ceiling, a very low room-tone noise floor, then s16 out
to the mastered WAV and to ffmpeg encoders running concurrently (the encode is the
slow part; Python work overlaps it on the second core). Loudness after limiting is
predicted from the stitcher's hop energies; if the prediction misses the target by
more than MAX_MISS_LU the pass runs again with a corrected gain.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.audio.ffmpeg import BASE_ARGS, atomic_target, encode_args, ffmpeg_exe, wav_header
from pipeline.audio.loudness import db_to_lin, gated_loudness, limiter_gain, lin_to_db
from pipeline.audio.stitch import StitchedChapter
from pipeline.errors import FFmpegError

log = logging.getLogger(__name__)

LOSSY_HEADROOM_DB = 1.0  # MP3/AAC encoding overshoots peaks: limit this much lower
LIMIT_RADIUS_MS = 8  # limiter ramps take ~2x this
CANDIDATE_MARGIN = 1.6  # hops whose gained sample peak is within ~4 dB of the ceiling
ROOM_TONE_DB = -78.0  # RMS of the noise floor under everything (ACX: <= -60 dB)
HOPS_PER_CHUNK = 60
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
    wav_path: Path
    frames: int
    gain_db: float
    loudness_lufs: float  # predicted from hop energies after gain and limiting
    sample_peak_db: float
    limited_hops: int


class _Encoder:
    """An ffmpeg process fed s16le on stdin, writing `target.path`."""

    def __init__(self, target: EncodeTarget, rate: int, channels: int) -> None:
        argv = [
            ffmpeg_exe(), *BASE_ARGS, "-f", "s16le", "-ar", str(rate), "-ac", str(channels),
            "-i", "pipe:0", *encode_args(target.fmt, target.bitrate), "-y", str(target.path),
        ]
        log.debug("ffmpeg argv: %s", argv)
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stderr=subprocess.PIPE)

    def write(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(data)
        except BrokenPipeError:
            self.finish()  # raises with ffmpeg's message

    def finish(self) -> None:
        assert self.proc.stdin is not None and self.proc.stderr is not None
        if not self.proc.stdin.closed:
            self.proc.stdin.close()
        err = self.proc.stderr.read()
        if self.proc.wait() != 0:
            lines = [ln for ln in err.decode("utf-8", "replace").splitlines() if ln.strip()]
            raise FFmpegError(f"ffmpeg exited {self.proc.returncode}: {lines[-1] if lines else '?'}")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


def _room_tone(rate: int, channels: int, frames: int, seed: int) -> np.ndarray:
    """A deterministic noise buffer at ROOM_TONE_DB RMS (full scale 1.0)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((frames, channels)) * db_to_lin(ROOM_TONE_DB)


def _read(fh: object, start: int, stop: int, channels: int) -> np.ndarray:
    fh.seek(start * 2 * channels)  # type: ignore[attr-defined]
    raw = fh.read((stop - start) * 2 * channels)  # type: ignore[attr-defined]
    return np.frombuffer(raw, dtype="<i2").astype(np.float64).reshape(-1, channels) / 32768.0


@dataclass
class _PassState:
    energies: np.ndarray
    peak: float = 0.0
    limited: int = 0


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index runs where `flags` is true."""
    edges = np.flatnonzero(np.diff(np.r_[0, flags.astype(np.int8), 0]))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _process_chunk(
    st: StitchedChapter, fh: object, k: int, gain: float, ceiling: float, state: _PassState
) -> np.ndarray:
    """Gained frames of chunk k, limited only around hops that could reach the ceiling.

    The 4x oversampling is the expensive part, so it runs on those hops (plus the
    limiter's reach) rather than on the whole chunk.
    """
    chunk, radius = st.hop * HOPS_PER_CHUNK, st.rate * LIMIT_RADIUS_MS // 1000
    start, stop = k * chunk, min(st.frames, (k + 1) * chunk)
    margin = 4 * radius + 64
    lo, hi = max(0, start - margin), min(st.frames, stop + margin)
    ext = _read(fh, lo, hi, st.channels) * gain
    h0 = k * HOPS_PER_CHUNK
    p0 = max(0, h0 - 1)  # a peak just before the chunk ramps the gain into it
    peaks = st.hop_peaks[p0 : h0 + HOPS_PER_CHUNK + 1]
    x = ext[start - lo : stop - lo]
    g = np.ones((len(ext), 1))
    for a, b in _runs(peaks * gain * CANDIDATE_MARGIN >= ceiling):
        s0 = max(0, (p0 + a) * st.hop - lo - margin)
        s1 = min(len(ext), (p0 + b) * st.hop - lo + margin)
        g[s0:s1, 0] = np.minimum(g[s0:s1, 0], limiter_gain(ext[s0:s1], ceiling, radius))
    g = g[start - lo : stop - lo]
    if g.min() < 1.0:
        state.limited += 1
        _adjust_energies(state.energies, x, g, st.hop, h0)
        return x * g
    return x


def _adjust_energies(energies: np.ndarray, x: np.ndarray, g: np.ndarray, hop: int, h0: int) -> None:
    """Scale each hop's K-weighted energy by the limiter's energy ratio on that hop."""
    n = min(len(x) // hop, len(energies) - h0)
    if n <= 0:
        return
    before = np.square(x[: n * hop]).sum(axis=1).reshape(n, hop).sum(axis=1)
    after = np.square(x[: n * hop] * g[: n * hop]).sum(axis=1).reshape(n, hop).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(before > 0, after / before, 1.0)
    energies[h0 : h0 + n] *= ratio


def _one_pass(
    st: StitchedChapter, gain: float, ceiling: float, sinks: Sequence[object], seed: int
) -> _PassState:
    state = _PassState(energies=st.hop_energies * gain * gain)
    chunk = st.hop * HOPS_PER_CHUNK
    tone = _room_tone(st.rate, st.channels, chunk, seed)
    with open(st.pcm_path, "rb") as fh:
        for k in range((st.frames + chunk - 1) // chunk):
            y = _process_chunk(st, fh, k, gain, ceiling, state)
            y += tone[: len(y)]
            state.peak = max(state.peak, float(np.abs(y).max(initial=0.0)))
            data = np.clip(np.round(y * 32768.0), -32768, 32767).astype("<i2").tobytes()
            for sink in sinks:
                sink.write(data)  # type: ignore[attr-defined]
    return state


def master_chapter(
    st: StitchedChapter,
    wav_out: Path,
    *,
    target_lufs: float,
    true_peak_db: float,
    encodes: Sequence[EncodeTarget] = (),
    seed: int = 0,
) -> MasterResult:
    """Write the mastered chapter to `wav_out` (atomically) and encode `encodes` alongside."""
    ceiling = db_to_lin(true_peak_db - LOSSY_HEADROOM_DB)
    gain_db = target_lufs - st.loudness_lufs if np.isfinite(st.loudness_lufs) else 0.0
    wav_out.parent.mkdir(parents=True, exist_ok=True)
    part = atomic_target(wav_out)
    for attempt in range(MAX_PASSES):
        encoders = [_Encoder(t, st.rate, st.channels) for t in encodes]
        try:
            with open(part, "wb") as wav:
                wav.write(wav_header(st.frames * 2 * st.channels, st.rate, st.channels))
                state = _one_pass(st, db_to_lin(gain_db), ceiling, [wav, *encoders], seed)
            for enc in encoders:
                enc.finish()
        except BaseException:
            for enc in encoders:
                enc.kill()
            part.unlink(missing_ok=True)
            raise
        lufs = gated_loudness(state.energies, st.hop)
        miss = target_lufs - lufs
        if not np.isfinite(lufs) or abs(miss) <= MAX_MISS_LU or attempt == MAX_PASSES - 1:
            break
        log.debug("chapter loudness %.2f LUFS after limiting; pass %d again", lufs, attempt + 2)
        gain_db += miss
    os.replace(part, wav_out)
    return MasterResult(wav_out, st.frames, gain_db, lufs, lin_to_db(state.peak), state.limited)
