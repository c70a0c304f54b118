"""Generated test audio: speech-like bursts (harmonic tone + noise under syllable envelopes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.audio.ffmpeg import encode_pcm

RATE = 44100


def fake_speech(seconds: float, seed: int = 0, level: float = 0.3, rate: int = RATE) -> np.ndarray:
    """Syllable-like bursts with 0.3 s of silence at both ends, peak = `level`."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    phase = 2 * np.pi * np.cumsum(110 + 40 * np.sin(2 * np.pi * 0.7 * t + seed)) / rate
    x = sum(np.sin(k * phase) / k for k in range(1, 8)) + 0.2 * rng.standard_normal(n)
    env, pos = np.zeros(n), int(0.3 * rate)
    while True:
        length = int(rng.uniform(0.12, 0.3) * rate)
        if pos + length > n - int(0.3 * rate):
            break
        env[pos : pos + length] = np.sin(np.linspace(0, np.pi, length)) * rng.uniform(0.4, 1.0)
        pos += length + int(rng.uniform(0.02, 0.12) * rate)
    y = x * env
    return y / np.abs(y).max() * level


def to_pcm(x: np.ndarray) -> bytes:
    return np.clip(np.round(x * 32767), -32768, 32767).astype("<i2").tobytes()


def write_clip(path: Path, x: np.ndarray, fmt: str | None = None, rate: int = RATE, channels: int = 1) -> Path:
    fmt = fmt or path.suffix.lstrip(".")
    encode_pcm(to_pcm(x), rate, channels, fmt, "128k" if fmt in ("mp3", "m4a") else None, out=path)
    return path


def pcm_array(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768.0
