"""ffmpeg's own EBU R128 meter (the `ebur128` filter) as a second opinion on delivered files.

Why a second meter: the pipeline masters with its own numpy/pyloudnorm measurement, so
checking its output with the same code would only prove it agrees with itself. The
ceiling that matters is the one a listener's tools (and ACX) measure on the encoded file.
Shared by tests/audio/test_ebur128_delivery.py and bench/package.py.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pipeline.audio.ffmpeg import ffmpeg_exe

_INTEGRATED = re.compile(r"Integrated loudness:\s*\n\s*I:\s*(-?inf|-?[\d.]+)\s*LUFS")
_TRUE_PEAK = re.compile(r"True peak:\s*\n\s*Peak:\s*(-?inf|-?[\d.]+)\s*dBFS")


@dataclass(frozen=True)
class Loudness:
    """One file's integrated loudness (LUFS) and true peak (dBTP) by ffmpeg's meter."""

    lufs: float
    true_peak: float


def parse_summary(stderr: str) -> Loudness:
    """The figures from the `Summary:` block ffmpeg prints when the ebur128 filter ends."""
    summary = stderr[stderr.rfind("Summary:"):]
    lufs, peak = _INTEGRATED.search(summary), _TRUE_PEAK.search(summary)
    if "Summary:" not in stderr or lufs is None or peak is None:
        raise ValueError(f"no ebur128 summary (true peak) in ffmpeg's output: {stderr[-300:]!r}")
    return Loudness(float(lufs.group(1)), float(peak.group(1)))


def measure(path: Path) -> Loudness:
    """Decode `path` with ffmpeg and meter it (integrated loudness, 4x-oversampled true peak)."""
    argv = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-i", str(path),
            "-vn", "-af", "ebur128=peak=true", "-f", "null", "-"]
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    stderr = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg ebur128 failed on {path}: {stderr[-300:]}")
    return parse_summary(stderr)
