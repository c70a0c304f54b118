from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydub import AudioSegment

from pipeline.audio.loudness import LoudnessMeter, integrated_lufs, limiter_gain, true_peak_db
from pipeline.audio.stitch import ClipRef, stitch_chapter, trim_bounds
from pipeline.errors import BadAudioError
from pipeline.models import Boundary, Pauses
from tests.audio.helpers import RATE, fake_speech, write_clip

BOUNDARIES = [Boundary.WORD, Boundary.CLAUSE, Boundary.SENTENCE, Boundary.PARAGRAPH, Boundary.TITLE, Boundary.SCENE]


HUM_DB = -46.0  # below the trim threshold: cut into, so the cut needs a fade


def tone_clip(seconds: float, pad: float, amp: float, hum: bool = False) -> np.ndarray:
    """A cosine burst between pads; with `hum`, the pads carry a quiet 100 Hz hum."""
    n, p = int(seconds * RATE), int(pad * RATE)
    burst = amp * np.cos(2 * np.pi * 440 * np.arange(n) / RATE)
    x = np.concatenate([np.zeros(p), burst, np.zeros(p)])
    if hum:
        x += amp * 10 ** (HUM_DB / 20) * np.sin(2 * np.pi * 100 * np.arange(len(x)) / RATE + 1.0)
    return x


def segment(x: np.ndarray) -> AudioSegment:
    return AudioSegment(data=np.rint(x * 32767).astype("<i2").tobytes(), sample_width=2, frame_rate=RATE, channels=1)


def sound_regions(x: np.ndarray, rel_db: float = -40.0) -> list[tuple[int, int]]:
    win = RATE // 100
    n = len(x) // win
    power = np.square(x[: n * win]).reshape(n, win).mean(axis=1)
    loud = power >= power.max() * 10 ** (rel_db / 10)
    regions, start = [], None
    for i, on in enumerate(loud):
        if on and start is None:
            start = i
        if not on and start is not None:
            regions.append((start * win, i * win))
            start = None
    if start is not None:
        regions.append((start * win, n * win))
    return regions


@pytest.fixture()
def stitched(tmp_path: Path):
    clips = []
    for i, b in enumerate([*BOUNDARIES, Boundary.CHAPTER]):
        fmt = "mp3" if i % 2 else "wav"
        x = tone_clip(0.4, 0.25 + 0.05 * i, 0.3 + 0.05 * i, hum=True)
        clips.append(ClipRef(write_clip(tmp_path / f"c{i}.{fmt}", x), b))
    st = stitch_chapter(clips, Pauses(), tmp_path / "ch.raw")
    audio = np.frombuffer((tmp_path / "ch.raw").read_bytes(), "<i2").astype(np.float64) / 32768
    return st, audio


def test_seam_gaps_match_pauses(stitched) -> None:
    st, audio = stitched
    regions = sound_regions(audio)
    assert len(regions) == len(BOUNDARIES) + 1
    pauses = Pauses()
    for (_, end), (start, _), b in zip(regions, regions[1:], BOUNDARIES):
        gap_ms = (start - end) / RATE * 1000
        assert abs(gap_ms - pauses.after(b)) <= 30, (b, gap_ms)
    head_ms, tail_ms = regions[0][0] / RATE * 1000, (len(audio) - regions[-1][1]) / RATE * 1000
    assert abs(head_ms - pauses.head) <= 30 and abs(tail_ms - pauses.tail) <= 40
    assert st.frames == len(audio)
    assert list(st.clip_starts) == sorted(st.clip_starts)


def test_no_clicks_at_seams(stitched) -> None:
    st, audio = stitched
    """The trim cuts through the hum; without a fade each cut is a step of the hum's size."""
    for i, (start, end) in enumerate(st.clip_spans):
        hum = (0.3 + 0.05 * i) * 10 ** (HUM_DB / 20)
        for edge in (start, end):
            jump = np.abs(np.diff(audio[edge - 3 : edge + 3])).max()
            assert jump <= 0.15 * hum + 3 / 32768, (i, edge, jump, hum)


def test_trim_is_relative_to_clip_level() -> None:
    for amp in (0.5, 0.005):
        x = tone_clip(0.5, 0.3, amp)
        start, end = trim_bounds(segment(x))  # ms
        assert abs(start - 300) < 15
        assert abs(end - 800) < 35


def test_silent_or_bad_clip(tmp_path: Path) -> None:
    silent = write_clip(tmp_path / "s.wav", np.zeros(RATE))
    st = stitch_chapter([ClipRef(silent, Boundary.CHAPTER)], Pauses(), tmp_path / "s.raw")
    assert st.clip_spans[0][0] == st.clip_spans[0][1]
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"<html>gateway timeout</html>")
    with pytest.raises(BadAudioError):
        stitch_chapter([ClipRef(bad, Boundary.CHAPTER)], Pauses(), tmp_path / "b.raw")


def test_streaming_meter_matches_pyloudnorm() -> None:
    import pyloudnorm

    x = np.concatenate([fake_speech(6, seed=s, level=0.1 + 0.1 * s) for s in range(4)])
    meter = LoudnessMeter(RATE)
    for i in range(0, len(x), 7919):
        meter.feed(x[i : i + 7919])
    assert meter.integrated() == pytest.approx(pyloudnorm.Meter(RATE).integrated_loudness(x), abs=0.01)
    assert integrated_lufs(x, RATE) == pytest.approx(meter.integrated(), abs=1e-9)


def test_limiter_holds_ceiling() -> None:
    x = fake_speech(4, seed=9, level=0.99)
    g = limiter_gain(x, 10 ** (-6 / 20), 350)
    assert true_peak_db(x * g) <= -6.0 + 0.05
    assert np.all(np.abs(np.diff(g)) < 0.01)  # smooth: no gain steps
