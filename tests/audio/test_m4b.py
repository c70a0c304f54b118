"""The M4B as a stream copy of per-chapter ADTS AAC: frame counting and chapter marks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.audio.ffmpeg import encode_pcm
from pipeline.audio.m4b import AAC_DELAY, AAC_FRAME, adts_frames, chapter_lengths
from pipeline.errors import BadAudioError
from tests.audio.helpers import RATE, fake_speech, to_pcm


def _adts(path: Path, seconds: float) -> Path:
    encode_pcm(to_pcm(fake_speech(seconds, seed=3)), RATE, 1, "aac", "96k", out=path)
    return path


def test_adts_frames_cover_the_audio_plus_priming(tmp_path: Path) -> None:
    n = int(1.7 * RATE)
    frames = adts_frames(_adts(tmp_path / "a.aac", 1.7))
    assert frames == -(-(n + AAC_DELAY) // AAC_FRAME)  # every sample, after the encoder's priming


def test_truncated_or_foreign_adts_is_refused(tmp_path: Path) -> None:
    good = _adts(tmp_path / "a.aac", 1.0).read_bytes()
    (tmp_path / "cut.aac").write_bytes(good[:-100])
    (tmp_path / "junk.aac").write_bytes(b"ID3" + good)
    for name in ("cut.aac", "junk.aac"):
        with pytest.raises(BadAudioError):
            adts_frames(tmp_path / name)


def test_chapter_marks_fall_on_each_chapters_first_sample() -> None:
    counts = [131, 88, 174]
    lengths = chapter_lengths(counts)
    assert sum(lengths) == sum(counts) * AAC_FRAME  # the whole file, nothing lost or added
    starts = np.cumsum([0, *lengths[:-1]])
    assert list(starts) == [0, 131 * AAC_FRAME + AAC_DELAY, (131 + 88) * AAC_FRAME + AAC_DELAY]
