"""Streaming ITU-R BS.1770-4 loudness, true peak and a look-ahead peak limiter.

pyloudnorm needs the whole chapter as one float64 array (1.2 GB for an hour of mono)
and loops in Python per block, so the stitcher measures while it streams: the
K-weighting filters (pyloudnorm's coefficients) run chunk by chunk with carried state
and keep only one energy per 100 ms hop; gating is done on those hops afterwards.
The filters run in the input's precision: float32 is 3x faster and, on speech, within
0.01 LU of float64 (tests check both against pyloudnorm). Silence skips the filters
once their state has decayed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pyloudnorm
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import firwin, sosfilt, upfirdn

ABS_GATE_LUFS = -70.0
REL_GATE_LU = -10.0
OVERSAMPLE = 4
SETTLE_HOPS = 2  # zeros after which the K filters' state is below 1e-15


def db_to_lin(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def lin_to_db(lin: float) -> float:
    return 20.0 * math.log10(lin) if lin > 0 else -math.inf


@lru_cache(maxsize=4)
def _k_sos(rate: int) -> np.ndarray:
    filters = pyloudnorm.Meter(rate)._filters  # noqa: SLF001 - reuse the reference coefficients
    rows = [np.r_[np.asarray(f.b) * f.passband_gain, f.a] for f in filters.values()]
    return np.vstack(rows).astype(np.float64)


@dataclass
class LoudnessMeter:
    """Feed float samples (frames x channels, full scale 1.0); read hop energies."""

    rate: int
    channels: int = 1
    hop: int = 0
    _zi: np.ndarray = field(init=False, repr=False)
    _energies: list[np.ndarray] = field(init=False, repr=False)
    _peaks: list[np.ndarray] = field(init=False, repr=False)
    _part: list[float] = field(init=False, repr=False)  # partial hop: [frames, energy, peak]
    _quiet: int = field(init=False, repr=False, default=0)  # zeros fed since the last sound

    def __post_init__(self) -> None:
        self.hop = self.hop or round(self.rate * 0.1)
        self._zi = np.zeros((_k_sos(self.rate).shape[0], 2, self.channels))
        self._energies, self._peaks = [], []
        self._part = [0, 0.0, 0.0]

    def feed(self, x: np.ndarray) -> None:
        """Add samples: shape (n,) for mono or (n, channels); float32 stays float32."""
        if x.size == 0:
            return
        dt = np.float32 if x.dtype == np.float32 else np.float64
        x2 = x.reshape(-1, self.channels)
        sos, zi = _k_sos(self.rate).astype(dt), self._zi.astype(dt)
        if self.channels == 1:  # 1-D filtering avoids sosfilt's axis shuffling
            y, zi = _sosfilt(sos, x2[:, 0], zi[:, :, 0])
            self._zi = zi[:, :, None].astype(np.float64)
        else:
            y, zi = _sosfilt(sos, x2, zi, axis=0)
            self._zi = zi.astype(np.float64)
        self._quiet = 0
        self._add(y.reshape(len(x2), -1), x2)

    def feed_silence(self, frames: int) -> None:
        """Add `frames` of digital silence; only the filters' decay is computed."""
        run = min(frames, max(0, SETTLE_HOPS * self.hop - self._quiet))
        if run:
            quiet = self._quiet
            self.feed(np.zeros((run, self.channels), dtype=np.float32))
            self._quiet = quiet + run
        rest = frames - run
        if rest <= 0:
            return
        self._zi[:] = 0.0
        fill = min(rest, (self.hop - int(self._part[0])) % self.hop)
        self._add(np.zeros((fill, 1)), np.zeros((fill, 1)))
        whole = (rest - fill) // self.hop
        if whole:
            self._energies.append(np.zeros(whole))
            self._peaks.append(np.zeros(whole))
        self._part[0] += rest - fill - whole * self.hop

    def _add(self, y: np.ndarray, x: np.ndarray) -> None:
        """Fold filtered `y` (energy) and input `x` (peak) into whole hops, in place."""
        hop, part, i = self.hop, self._part, 0
        if part[0]:
            i = min(len(y), hop - int(part[0]))
            part[0] += i
            part[1] += float(np.square(y[:i], dtype=np.float64).sum())
            part[2] = max(part[2], float(np.abs(x[:i]).max(initial=0.0)))
            if part[0] == hop:
                self._energies.append(np.array([part[1]]))
                self._peaks.append(np.array([part[2]]))
                self._part = part = [0, 0.0, 0.0]
        whole = (len(y) - i) // hop
        if whole:
            yy = y[i : i + whole * hop].reshape(whole, -1)
            xx = x[i : i + whole * hop].reshape(whole, -1)
            self._energies.append(np.einsum("ij,ij->i", yy, yy).astype(np.float64))
            self._peaks.append(np.maximum(xx.max(axis=1), -xx.min(axis=1)).astype(np.float64))
            i += whole * hop
        if i < len(y):
            part[0] += len(y) - i
            part[1] += float(np.square(y[i:], dtype=np.float64).sum())
            part[2] = max(part[2], float(np.abs(x[i:]).max()))

    def energies(self) -> np.ndarray:
        """Sum of K-weighted squares per whole hop (the partial last hop is dropped)."""
        return np.concatenate(self._energies) if self._energies else np.zeros(0)

    def peaks(self) -> np.ndarray:
        """Sample peak (linear) per whole hop, the partial last hop included."""
        tail = [np.array([self._part[2]])] if self._part[0] else []
        parts = self._peaks + tail
        return np.concatenate(parts) if parts else np.zeros(0)

    def integrated(self) -> float:
        return gated_loudness(self.energies(), self.hop)


def _sosfilt(sos: np.ndarray, x: np.ndarray, zi: np.ndarray, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    return sosfilt(sos, x, axis=axis, zi=zi)


def gated_loudness(hop_energies: np.ndarray, hop: int) -> float:
    """Integrated loudness (LUFS) from 100 ms hop energies: 400 ms blocks, 75 % overlap."""
    if len(hop_energies) < 4:
        return -math.inf
    c = np.concatenate([[0.0], np.cumsum(hop_energies)])
    z = (c[4:] - c[:-4]) / (4 * hop)
    with np.errstate(divide="ignore"):
        blocks = -0.691 + 10.0 * np.log10(z)
    gated = z[blocks >= ABS_GATE_LUFS]
    if gated.size == 0:
        return -math.inf
    rel = -0.691 + 10.0 * math.log10(gated.mean()) + REL_GATE_LU
    final = z[(blocks > rel) & (blocks >= ABS_GATE_LUFS)]
    return -0.691 + 10.0 * math.log10(final.mean()) if final.size else -math.inf


@lru_cache(maxsize=2)
def _interp_filter(dtype: str) -> np.ndarray:
    """resample_poly's own 4x anti-imaging filter, designed once instead of per call."""
    half = 10 * OVERSAMPLE
    return (firwin(2 * half + 1, 1.0 / OVERSAMPLE, window=("kaiser", 5.0)) * OVERSAMPLE).astype(dtype)


def true_peak_envelope(x: np.ndarray) -> np.ndarray:
    """Per input sample, the max |value| of the 4x oversampled signal around it.

    Identical to resample_poly(x, 4, 1); float32 input is filtered in float32.
    """
    if x.size == 0:
        return x
    dt = "float32" if x.dtype == np.float32 else "float64"
    up = upfirdn(_interp_filter(dt), x, OVERSAMPLE, 1)
    delay = 10 * OVERSAMPLE
    a = np.abs(up[delay : delay + len(x) * OVERSAMPLE])
    # the max of each sample's 4 phases, as strided maxima (a reduce over a length-4 axis is slow)
    return np.maximum(np.maximum(a[0::4], a[1::4]), np.maximum(a[2::4], a[3::4]))


TP_BLOCK = 4096


@lru_cache(maxsize=2)
def _interp_gain_bound(dtype: str) -> float:
    """max over the 4 phases of sum |h|: no oversampled value exceeds this times the sample peak."""
    h = _interp_filter(dtype).astype(np.float64)
    return float(max(np.abs(h[p::OVERSAMPLE]).sum() for p in range(OVERSAMPLE)))


def true_peak(x: np.ndarray, floor: float = 0.0) -> float:
    """max(floor, the true peak of mono `x`), linear; equal to true_peak_envelope(x).max().

    Exact but cheap on speech: a block whose sample peak times the interpolator's gain
    bound cannot beat the running maximum is skipped, and blocks are visited loudest
    first, so only the few around the peaks are oversampled.
    """
    n = len(x)
    if n == 0:
        return floor
    bound = _interp_gain_bound("float32" if x.dtype == np.float32 else "float64")
    blocks = -(-n // TP_BLOCK)
    padded = np.zeros(blocks * TP_BLOCK, dtype=x.dtype)
    padded[:n] = np.abs(x)
    peaks = padded.reshape(blocks, TP_BLOCK).max(axis=1)
    best = max(floor, float(peaks.max()))
    reach = 10 * OVERSAMPLE  # filter half-length in input samples, with room
    for b in np.argsort(peaks)[::-1]:
        if peaks[b] * bound <= best:
            break
        lo, hi = max(0, b * TP_BLOCK - reach), min(n, (b + 1) * TP_BLOCK + reach)
        env = true_peak_envelope(x[lo:hi])
        best = max(best, float(env[b * TP_BLOCK - lo : min(n, (b + 1) * TP_BLOCK) - lo].max()))
    return best


def true_peak_db(x: np.ndarray) -> float:
    """True peak (dBTP) of a mono float signal."""
    env = true_peak_envelope(np.asarray(x, dtype=np.float64))
    return lin_to_db(float(env.max())) if env.size else -math.inf


HOT_BLOCK = 64  # samples per block of the hot-block test (its neighbours cover the filter's reach)
REACH = 10  # input samples on each side that one 4x-oversampled value depends on


def _spans(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """The indices of every [start, stop) range, concatenated."""
    lengths = stops - starts
    offsets = np.repeat(starts + lengths - np.cumsum(lengths), lengths)
    return np.arange(int(lengths.sum())) + offsets


def hot_envelope(x: np.ndarray, level: float) -> np.ndarray:
    """true_peak_envelope(x) wherever it may exceed `level`; 0 where it cannot.

    No oversampled value exceeds the interpolator's gain bound times the largest sample
    within REACH, so a block of HOT_BLOCK samples whose own and neighbours' sample peak
    times that bound stays at or under `level` cannot go over it. Only the other
    ("hot") blocks are oversampled: their runs, each with REACH samples of context, in
    one array and one filter call; values are those of the whole-signal envelope.
    """
    n, b = len(x), HOT_BLOCK
    env = np.zeros(n, dtype=np.float32 if x.dtype == np.float32 else np.float64)
    if n == 0:
        return env
    blocks = -(-n // b)
    peaks = np.zeros(blocks * b, dtype=env.dtype)
    peaks[:n] = np.abs(x)
    bp = peaks.reshape(blocks, b).max(axis=1)
    near = bp.copy()
    near[1:] = np.maximum(near[1:], bp[:-1])
    near[:-1] = np.maximum(near[:-1], bp[1:])
    hot = near * _interp_gain_bound(str(env.dtype)) > level
    if not hot.any():
        return env
    edges = np.flatnonzero(np.diff(hot.astype(np.int8), prepend=0, append=0))
    first, last = edges[::2] * b, np.minimum(edges[1::2] * b, n)  # runs of hot blocks, in samples
    lo, hi = np.maximum(first - REACH, 0), np.minimum(last + REACH, n)
    seen = true_peak_envelope(x[_spans(lo, hi)])  # neighbouring runs meet only in context samples
    base = np.cumsum(hi - lo) - hi  # a run's sample i sits at base + i in `seen`
    env[_spans(first, last)] = seen[_spans(base + first, base + last)]
    return env


def _gain_from_need(need: np.ndarray, radius: int) -> np.ndarray:
    """The smoothed gain of limiter_gain, filtered only around the samples that need < 1.

    Elsewhere every value within the filters' reach (3 * radius) is 1, so the gain is 1.
    """
    n, reach = len(need), 3 * radius
    gain = np.ones(n, dtype=need.dtype)
    low = np.flatnonzero(need < 1.0)
    if low.size == 0:
        return gain
    gaps = np.flatnonzero(np.diff(low) > 2 * reach)  # runs farther apart than the filters see
    starts, stops = low[np.append(0, gaps + 1)], low[np.append(gaps, len(low) - 1)] + 1
    for a, z in zip(np.maximum(starts - reach, 0).tolist(), np.minimum(stops + reach, n).tolist(), strict=True):
        seg = need[a:z]
        held = minimum_filter1d(seg, size=4 * radius + 1, mode="nearest")
        gain[a:z] = np.minimum(uniform_filter1d(held, size=2 * radius + 1, mode="nearest"), seg)
    return gain


def limiter_gain(x: np.ndarray, ceiling: float, radius: int) -> np.ndarray:
    """Smooth per-sample gain (<= 1) keeping |x * gain| true peaks under `ceiling`.

    A minimum filter of half-width 2*radius followed by a moving average of half-width
    radius: every averaged value is <= the needed gain at its centre, so the ceiling
    holds, and gain changes take ~2*radius samples (no clicks). Only the samples whose
    true peak may pass the ceiling are oversampled (hot_envelope), and the filters run
    only around those that need less than unity gain.
    """
    if x.ndim == 2 and x.shape[1] == 1:
        env = hot_envelope(x[:, 0], ceiling)
    elif x.ndim == 2:  # one gain for all channels keeps the stereo image
        env = np.max([hot_envelope(x[:, c], ceiling) for c in range(x.shape[1])], axis=0)
    else:
        env = hot_envelope(x, ceiling)
    with np.errstate(divide="ignore"):
        need = np.minimum(1.0, ceiling / np.maximum(env, 1e-12))
    if need.min() >= 1.0:
        return np.ones(len(x))
    return _gain_from_need(need, radius)


def integrated_lufs(x: np.ndarray, rate: int) -> float:
    """Convenience: integrated loudness of a whole mono/frames x channels array."""
    channels = 1 if x.ndim == 1 else x.shape[1]
    meter = LoudnessMeter(rate, channels)
    meter.feed(np.asarray(x, dtype=np.float64))
    return meter.integrated()
