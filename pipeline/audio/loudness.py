"""Streaming ITU-R BS.1770-4 loudness, true peak and a look-ahead peak limiter.

pyloudnorm needs the whole chapter as one float64 array (1.2 GB for an hour of mono)
and loops in Python per block, so the stitcher measures while it streams: the
K-weighting filters (pyloudnorm's coefficients) run chunk by chunk with carried state
and keep only one energy per 100 ms hop; gating is done on those hops afterwards.
Tests check the result against pyloudnorm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pyloudnorm
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import resample_poly, sosfilt

ABS_GATE_LUFS = -70.0
REL_GATE_LU = -10.0
OVERSAMPLE = 4


def db_to_lin(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def lin_to_db(lin: float) -> float:
    return 20.0 * math.log10(lin) if lin > 0 else -math.inf


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
    _sos: np.ndarray = field(init=False, repr=False)
    _zi: np.ndarray = field(init=False, repr=False)
    _pending: np.ndarray = field(init=False, repr=False)
    _pending_abs: np.ndarray = field(init=False, repr=False)
    _energies: list[np.ndarray] = field(init=False, repr=False)
    _peaks: list[np.ndarray] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.hop = self.hop or round(self.rate * 0.1)
        self._sos = _k_sos(self.rate)
        self._zi = np.zeros((self._sos.shape[0], 2, self.channels))
        self._pending = np.zeros(0)
        self._pending_abs = np.zeros(0)
        self._energies, self._peaks = [], []

    def feed(self, x: np.ndarray) -> None:
        """Add samples: shape (n,) for mono or (n, channels)."""
        if x.size == 0:
            return
        x2 = x.reshape(-1, self.channels)
        y, self._zi = sosfilt(self._sos, x2, axis=0, zi=self._zi)
        sq = np.square(y).sum(axis=1)
        ab = np.abs(x2).max(axis=1)
        sq = np.concatenate([self._pending, sq])
        ab = np.concatenate([self._pending_abs, ab])
        whole = (len(sq) // self.hop) * self.hop
        if whole:
            self._energies.append(sq[:whole].reshape(-1, self.hop).sum(axis=1))
            self._peaks.append(ab[:whole].reshape(-1, self.hop).max(axis=1))
        self._pending, self._pending_abs = sq[whole:], ab[whole:]

    def energies(self) -> np.ndarray:
        """Sum of K-weighted squares per whole hop (the partial last hop is dropped)."""
        return np.concatenate(self._energies) if self._energies else np.zeros(0)

    def peaks(self) -> np.ndarray:
        """Sample peak (linear) per whole hop, the partial last hop included."""
        tail = [np.array([self._pending_abs.max()])] if self._pending_abs.size else []
        parts = self._peaks + tail
        return np.concatenate(parts) if parts else np.zeros(0)

    def integrated(self) -> float:
        return gated_loudness(self.energies(), self.hop)


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


def true_peak_envelope(x: np.ndarray) -> np.ndarray:
    """Per input sample, the max |value| of the 4x oversampled signal around it."""
    if x.size == 0:
        return x
    up = resample_poly(x, OVERSAMPLE, 1)
    return np.abs(up).reshape(-1, OVERSAMPLE).max(axis=1)


def true_peak_db(x: np.ndarray) -> float:
    """True peak (dBTP) of a mono float signal."""
    env = true_peak_envelope(np.asarray(x, dtype=np.float64))
    return lin_to_db(float(env.max())) if env.size else -math.inf


def limiter_gain(x: np.ndarray, ceiling: float, radius: int) -> np.ndarray:
    """Smooth per-sample gain (<= 1) keeping |x * gain| true peaks under `ceiling`.

    A minimum filter of half-width 2*radius followed by a moving average of half-width
    radius: every averaged value is <= the needed gain at its centre, so the ceiling
    holds, and gain changes take ~2*radius samples (no clicks).
    """
    if x.ndim == 2:  # one gain for all channels keeps the stereo image
        env = np.max([true_peak_envelope(x[:, c]) for c in range(x.shape[1])], axis=0)
    else:
        env = true_peak_envelope(x)
    with np.errstate(divide="ignore"):
        need = np.minimum(1.0, ceiling / np.maximum(env, 1e-12))
    if need.min() >= 1.0:
        return np.ones(len(x))
    held = minimum_filter1d(need, size=4 * radius + 1, mode="nearest")
    return np.minimum(uniform_filter1d(held, size=2 * radius + 1, mode="nearest"), need)


def integrated_lufs(x: np.ndarray, rate: int) -> float:
    """Convenience: integrated loudness of a whole mono/frames x channels array."""
    channels = 1 if x.ndim == 1 else x.shape[1]
    meter = LoudnessMeter(rate, channels)
    meter.feed(np.asarray(x, dtype=np.float64))
    return meter.integrated()
