"""Delivered MP3s and the M4B meet the ceiling by ffmpeg's own meter, not only ours.

Why: mastering limits the PCM with the project's true-peak meter, but a lossy encoder
adds overshoot of its own (AAC most of all), so the figure that counts is the one taken
on the encoded file. The material is peaky on purpose: speech with full-scale
plosive-like clicks and bursts whose true peak lies between samples, at eSpeak's
22050 Hz; its crest factor exceeds the 17 dB between -20 LUFS and -3 dBTP, so the
limiter must work, and the encoders' overshoot shows as it does on real books (on
current main: MP3 -4.2 dBTP, M4B -2.3, as A Christmas Carol's -4.2 and -2.2).
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.audio.package import assemble_book
from pipeline.audio.stitch import ChapterInput, ClipRef
from pipeline.audio.tags import BookInfo
from pipeline.models import AudioSettings, Boundary
from tests.audio.ebur128 import Loudness, measure, parse_summary
from tests.audio.helpers import fake_speech, write_clip

CLIP_RATE = 22050  # the offline voice's rate
CEILING_DBTP = -3.0
TARGET_LUFS, TOLERANCE_LU = -20.0, 1.0
BOUNDARIES = (Boundary.SENTENCE, Boundary.CLAUSE, Boundary.SENTENCE, Boundary.PARAGRAPH)


def peaky_speech(seconds: float, seed: int) -> np.ndarray:
    """Fake speech at 0.15 plus full-scale clicks (1/s) and quarter-rate bursts (inter-sample peaks)."""
    rng = np.random.default_rng(seed)
    x = fake_speech(seconds, seed=seed, level=0.15, rate=CLIP_RATE)
    n = len(x)
    for pos in rng.integers(int(0.3 * CLIP_RATE), n - int(0.3 * CLIP_RATE), size=int(seconds)):
        click = rng.choice([-1.0, 1.0]) * np.exp(-np.arange(60) / 8.0)  # ~3 ms plosive
        x[pos : pos + 60] += click[: n - pos]
    t = np.arange(int(0.002 * CLIP_RATE))
    burst = 0.99 * np.sin(np.pi / 2 * t + np.pi / 4)  # samples at +-0.7, true peak 0.99
    for pos in rng.integers(int(0.3 * CLIP_RATE), n - len(t) - int(0.3 * CLIP_RATE), size=int(seconds // 3)):
        x[pos : pos + len(t)] = burst
    return np.clip(x, -1.0, 1.0)


@pytest.fixture(scope="module")
def delivered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Loudness]:
    root = tmp_path_factory.mktemp("ebur128")
    (root / "clips").mkdir()
    chapters = []
    for c in range(2):
        clips = tuple(
            ClipRef(write_clip(root / "clips" / f"{c}_{i}.wav", peaky_speech(6.0, 10 * c + i), rate=CLIP_RATE),
                    BOUNDARIES[i % len(BOUNDARIES)])
            for i in range(6)
        )
        chapters.append(ChapterInput(c + 1, f"Chapter {c + 1}", clips))
    info = BookInfo("Peaks", ("Nobody",), "en", None)
    assemble_book(chapters, info, AudioSettings(), root / "out")
    files = sorted(p for p in (root / "out").iterdir() if p.suffix in (".mp3", ".m4b"))
    assert {p.suffix for p in files} == {".mp3", ".m4b"}
    return {p.name: measure(p) for p in files}


def _assert_within(figures: dict[str, Loudness]) -> None:
    for name, m in figures.items():
        assert m.true_peak <= CEILING_DBTP, f"{name}: true peak {m.true_peak} dBTP by ffmpeg's meter"
        assert abs(m.lufs - TARGET_LUFS) <= TOLERANCE_LU, f"{name}: {m.lufs} LUFS by ffmpeg's meter"


def test_every_mp3_meets_the_ceiling(delivered: dict[str, Loudness]) -> None:
    _assert_within({k: v for k, v in delivered.items() if k.endswith(".mp3")})


def test_m4b_meets_the_ceiling(delivered: dict[str, Loudness]) -> None:
    _assert_within({k: v for k, v in delivered.items() if k.endswith(".m4b")})


SUMMARY = """[Parsed_ebur128_0 @ 0x1] Summary:

  Integrated loudness:
    I:         -20.1 LUFS
    Threshold: -30.1 LUFS

  Loudness range:
    LRA:         5.0 LU

  True peak:
    Peak:       -3.4 dBFS
"""


def test_summary_parsing() -> None:
    assert parse_summary("t: 1 I: -30.0 LUFS TPK: -1.0 dBFS\n" + SUMMARY) == Loudness(-20.1, -3.4)
    assert parse_summary(SUMMARY.replace("-3.4", "-inf")).true_peak == float("-inf")
    with pytest.raises(ValueError):
        parse_summary(SUMMARY.replace("  True peak:\n    Peak:       -3.4 dBFS\n", ""))
