"""Mastering: gain a stitched chapter to the target loudness under a true-peak ceiling.

One streaming pass over the raw chapter into ffmpeg encoders reading stdin. Most 5 s
chunks are far from the ceiling: pydub gains them and lays the room tone under them
(`apply_gain`, `overlay`: C loops over s16, no float round trip). Chunks where a 100 ms
hop could reach the ceiling go through numpy instead: gain, then a look-ahead limiter
(4x oversampled on just the samples whose true peak may pass the ceiling). Finished chunks reach the encoders through a
writer thread and a bounded queue, so ffmpeg never waits on a chunk being computed.
Loudness after limiting is predicted from the stitcher's hop energies; if the
prediction misses the target by more than MAX_MISS_LU the pass runs again with a
corrected gain. Lossy encoders overshoot peaks: the limiter aims `headroom_db` under
the delivery ceiling, and the packager measures the encoded files and re-masters a
chapter with more headroom if one still overshoots.
"""

from __future__ import annotations

import logging
import queue
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

with warnings.catch_warnings():  # pydub looks for an ffmpeg on PATH at import; we never use it
    warnings.simplefilter("ignore", RuntimeWarning)
    warnings.simplefilter("ignore", DeprecationWarning)  # audioop on 3.12 (audioop-lts on 3.13)
    from pydub import AudioSegment

from pipeline.audio.analyze import LevelStats
from pipeline.audio.ffmpeg import EncoderPipe
from pipeline.audio.loudness import db_to_lin, gated_loudness, limiter_gain, lin_to_db
from pipeline.audio.stitch import StitchedChapter
from pipeline.errors import FFmpegError

log = logging.getLogger(__name__)

LOSSY_HEADROOM_DB = 1.2  # MP3/AAC overshoot peaks: the limiter aims this much lower
LIMIT_RADIUS_MS = 8  # limiter ramps take ~2x this
CANDIDATE_DB = 1.0  # inter-sample overshoot allowed for before a hop is oversampled
ROOM_TONE_DB = -78.0  # RMS of the noise floor under everything (ACX: <= -60 dB)
HOPS_PER_CHUNK = 50  # 5 s: per-chunk Python overhead stays negligible, temporaries small
QUEUE_CHUNKS = 8  # chunks buffered ahead of the encoders (~3.5 MB of s16 mono)
MAX_MISS_LU = 0.4  # an encode pass this far off is run again
DRY_MISS_LU = 0.15  # dry passes are cheap: aim closer
DRY_PASS_SHARE = 0.02  # limiter on more hops than this: settle the gain before encoding
DRY_STRIDE = 3  # a dry pass limits every third limited chunk and extrapolates
MAX_PASSES = 3


@dataclass(frozen=True)
class EncodeTarget:
    """One output file to encode while mastering (fmt: mp3, aac, flac, wav, m4a)."""

    fmt: str
    path: Path  # written as a temporary name; renamed by the caller when complete
    bitrate: str | None = None


@dataclass(frozen=True)
class MasterResult:
    """What the final pass fed the encoders: its levels and K-weighted hop energies."""

    levels: LevelStats
    energies: np.ndarray
    frames: int
    gain_db: float
    loudness_lufs: float  # predicted from hop energies after gain and limiting
    sample_peak_db: float
    limited_hops: int  # chunks in which the limiter reduced the gain


class _Feeder:
    """A thread writing queued chunks to the encoders, so computing never waits on a pipe."""

    def __init__(self, encoders: Sequence[EncoderPipe]) -> None:
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


@dataclass(frozen=True)
class _Tone:
    """The room-tone buffer of one chunk, as float (numpy path) and as a pydub segment."""

    f32: np.ndarray
    seg: AudioSegment

    @classmethod
    def make(cls, rate: int, channels: int, frames: int, seed: int) -> _Tone:
        """A deterministic noise buffer at ROOM_TONE_DB RMS (full scale 1.0)."""
        rng = np.random.default_rng(seed)
        noise = (rng.standard_normal((frames, channels)) * db_to_lin(ROOM_TONE_DB)).astype(np.float32)
        s16 = np.rint(noise * 32768.0).astype("<i2")
        seg = AudioSegment(data=s16.tobytes(), sample_width=2, frame_rate=rate, channels=channels)
        return cls(s16 * np.float32(1.0 / 32768.0), seg)


def _read_raw(fh: BinaryIO, start: int, stop: int, channels: int) -> bytes:
    fh.seek(start * 2 * channels)
    return fh.read((stop - start) * 2 * channels)


def _read(fh: BinaryIO, start: int, stop: int, channels: int, gain: float) -> np.ndarray:
    """Frames [start, stop) of the raw s16 chapter, gained, as float32."""
    raw = np.frombuffer(_read_raw(fh, start, stop, channels), dtype="<i2").reshape(-1, channels)
    return raw * np.float32(gain / 32768.0)


@dataclass
class _PassState:
    energies: np.ndarray
    levels: LevelStats
    peak: float = 0.0
    limited: int = 0


@dataclass(frozen=True)
class _Chunk:
    k: int
    start: int
    stop: int
    h0: int  # first hop of the chunk
    p0: int  # first hop whose peak can ramp the gain into the chunk


def _chunk(st: StitchedChapter, k: int) -> _Chunk:
    size = st.hop * HOPS_PER_CHUNK
    h0 = k * HOPS_PER_CHUNK
    return _Chunk(k, k * size, min(st.frames, (k + 1) * size), h0, max(0, h0 - 1))


def _pydub_chunk(st: StitchedChapter, fh: BinaryIO, c: _Chunk, gain_db: float, tone: _Tone,
                 state: _PassState) -> bytes:
    """A chunk far from the ceiling: pydub gain plus room tone, straight in s16."""
    raw = _read_raw(fh, c.start, c.stop, st.channels)
    seg = AudioSegment(data=raw, sample_width=2, frame_rate=st.rate, channels=st.channels)
    out = seg.apply_gain(gain_db).overlay(tone.seg)  # the tone is cut to the chunk
    state.peak = max(state.peak, out.max / 32768.0)
    return bytes(out.raw_data)


def _limited_chunk(st: StitchedChapter, fh: BinaryIO, c: _Chunk, gain: float, ceiling: float, tone: _Tone,
                   state: _PassState) -> bytes:
    """A chunk where a hop could reach the ceiling: numpy gain, then the look-ahead limiter.

    The chunk is read with the limiter's reach on both sides; the 4x oversampling (the
    expensive part) runs only on the samples whose true peak may pass the ceiling.
    """
    radius = st.rate * LIMIT_RADIUS_MS // 1000
    margin = 4 * radius + 64
    lo, hi = max(0, c.start - margin), min(st.frames, c.stop + margin)
    ext = _read(fh, lo, hi, st.channels, gain)
    x, g = ext[c.start - lo : c.stop - lo], limiter_gain(ext, ceiling, radius)[c.start - lo : c.stop - lo]
    y = x
    if g.min() < 1.0:
        state.limited += 1
        y = x * g[:, None]
        _adjust_energies(state.energies, x, y, g, st.hop, c.h0)
    y = y + tone.f32[: len(y)]
    state.peak = max(state.peak, float(y.max(initial=0.0)), -float(y.min(initial=0.0)))
    return _to_s16(y)


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


def _one_pass(st: StitchedChapter, gain_db: float, ceiling: float, feeder: _Feeder, seed: int) -> _PassState:
    state = _PassState(energies=st.hop_energies * db_to_lin(2 * gain_db), levels=LevelStats(st.rate, st.channels))
    gain = db_to_lin(gain_db)
    tone = _Tone.make(st.rate, st.channels, st.hop * HOPS_PER_CHUNK, seed)
    with open(st.pcm_path, "rb") as fh:
        for k in range(_chunk_count(st)):
            c = _chunk(st, k)
            if _candidates(st, c, gain, ceiling).any():
                data = _limited_chunk(st, fh, c, gain, ceiling, tone, state)
            else:
                data = _pydub_chunk(st, fh, c, gain_db, tone, state)
            if feeder.failed:
                break  # an encoder stopped reading: its exit status says why
            feeder.write(data)
            state.levels.feed(np.frombuffer(data, "<i2").reshape(-1, st.channels) * np.float32(1.0 / 32768.0))
    return state


def _encode_pass(st: StitchedChapter, gain_db: float, ceiling: float, encodes: Sequence[EncodeTarget],
                 seed: int) -> _PassState:
    """One mastering pass into every encoder; all or nothing (a failure leaves no file)."""
    encoders: list[EncoderPipe] = []
    feeder: _Feeder | None = None
    try:
        encoders = [EncoderPipe(t.fmt, t.bitrate, st.rate, st.channels, t.path) for t in encodes]
        feeder = _Feeder(encoders)
        state = _one_pass(st, gain_db, ceiling, feeder, seed)
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
        for t in encodes:
            t.path.unlink(missing_ok=True)
        raise
    return state


def _candidates(st: StitchedChapter, c: _Chunk, gain: float, ceiling: float) -> np.ndarray:
    """Per hop around chunk `c`: could its gained peak reach the ceiling?"""
    return st.hop_peaks[c.p0 : c.h0 + HOPS_PER_CHUNK + 1] * (gain * db_to_lin(CANDIDATE_DB)) >= ceiling


def _dry_loudness(st: StitchedChapter, gain_db: float, ceiling: float, seed: int) -> float:
    """Loudness after limiting, estimated without encoding from every DRY_STRIDE-th limited chunk.

    Chunks the limiter does not touch change exactly by the gain; the sampled limited
    chunks give the energy the limiter takes, applied to the unsampled ones' hops.
    """
    gain = db_to_lin(gain_db)
    state = _PassState(energies=st.hop_energies * gain * gain, levels=LevelStats(st.rate, st.channels))
    tone = _Tone.make(st.rate, st.channels, st.hop * HOPS_PER_CHUNK, seed)
    skipped: list[_Chunk] = []
    with open(st.pcm_path, "rb") as fh:
        chunks = [_chunk(st, k) for k in range(_chunk_count(st))]
        limited = [c for c in chunks if _candidates(st, c, gain, ceiling).any()]
        for i, c in enumerate(limited):
            if i % DRY_STRIDE:
                skipped.append(c)
                continue
            _limited_chunk(st, fh, c, gain, ceiling, tone, state)
    sampled = [c for i, c in enumerate(limited) if i % DRY_STRIDE == 0]
    before = sum(float(st.hop_energies[c.h0 : c.h0 + HOPS_PER_CHUNK].sum()) for c in sampled) * gain * gain
    after = sum(float(state.energies[c.h0 : c.h0 + HOPS_PER_CHUNK].sum()) for c in sampled)
    ratio = after / before if before > 0 else 1.0
    for c in skipped:
        state.energies[c.h0 : c.h0 + HOPS_PER_CHUNK] *= ratio
    return gated_loudness(state.energies, st.hop)


def _chunk_count(st: StitchedChapter) -> int:
    size = st.hop * HOPS_PER_CHUNK
    return (st.frames + size - 1) // size


def _limited_share(st: StitchedChapter, gain_db: float, ceiling: float) -> float:
    """Fraction of hops the limiter may touch at this gain."""
    if len(st.hop_peaks) == 0:
        return 0.0
    return float(np.mean(st.hop_peaks * db_to_lin(gain_db + CANDIDATE_DB) >= ceiling))


def _settle_gain(st: StitchedChapter, gain_db: float, ceiling: float, target_lufs: float, seed: int) -> float:
    """The gain that meets the target after limiting, found by dry passes (no encoding).

    Only worth it when the limiter has much to do: otherwise limiting hardly moves the
    loudness and the encode pass itself shows any miss.
    """
    if _limited_share(st, gain_db, ceiling) < DRY_PASS_SHARE:
        return gain_db
    for _ in range(MAX_PASSES):
        lufs = _dry_loudness(st, gain_db, ceiling, seed)
        miss = target_lufs - lufs
        if not np.isfinite(lufs) or abs(miss) <= DRY_MISS_LU:
            break
        log.debug("chapter loudness %.2f LUFS after limiting; gain %+.2f dB more", lufs, miss)
        gain_db += miss
    return gain_db


def master_chapter(
    st: StitchedChapter,
    *,
    target_lufs: float,
    true_peak_db: float,
    encodes: Sequence[EncodeTarget] = (),
    seed: int = 0,
    headroom_db: float = LOSSY_HEADROOM_DB,
) -> MasterResult:
    """Master `st` and encode it to every target (the caller renames them when done)."""
    ceiling = db_to_lin(true_peak_db - headroom_db)
    gain_db = target_lufs - st.loudness_lufs if np.isfinite(st.loudness_lufs) else 0.0
    gain_db = _settle_gain(st, gain_db, ceiling, target_lufs, seed)
    for attempt in range(MAX_PASSES):
        state = _encode_pass(st, gain_db, ceiling, encodes, seed)
        lufs = gated_loudness(state.energies, st.hop)
        miss = target_lufs - lufs
        if not np.isfinite(lufs) or abs(miss) <= MAX_MISS_LU or attempt == MAX_PASSES - 1:
            break
        log.debug("chapter loudness %.2f LUFS after limiting; pass %d again", lufs, attempt + 2)
        gain_db += miss
    return MasterResult(state.levels, state.energies, st.frames, gain_db, lufs, lin_to_db(state.peak), state.limited)
