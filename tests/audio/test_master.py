"""The fast paths of metering and mastering agree with the slow references."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
from scipy.signal import resample_poly

from pipeline.audio.loudness import LoudnessMeter, hot_envelope, limiter_gain, true_peak_envelope
from pipeline.audio.master import LOSSY_HEADROOM_DB, EncodeTarget, master_chapter
from pipeline.audio.package import assemble_book
from pipeline.audio.stitch import ClipRef, stitch_chapter
from pipeline.errors import FFmpegError
from pipeline.models import AudioSettings, Boundary, Pauses
from tests.audio.helpers import RATE, fake_speech, pcm_array, write_clip
from tests.audio.test_package import INFO, make_chapters


def speech(seconds: int = 4, chunks: int = 3) -> np.ndarray:
    return np.concatenate([fake_speech(seconds, seed=s, level=0.1 + 0.2 * s) for s in range(chunks)])


def test_float32_meter_matches_pyloudnorm() -> None:
    x = speech()
    meter = LoudnessMeter(RATE)
    for i in range(0, len(x), 10007):
        meter.feed(x[i : i + 10007].astype(np.float32))
    assert meter.integrated() == pytest.approx(pyloudnorm.Meter(RATE).integrated_loudness(x), abs=0.02)


def test_stereo_meter_matches_pyloudnorm() -> None:
    x = np.stack([speech(), 0.5 * speech()[::-1]], axis=1)
    meter = LoudnessMeter(RATE, 2)
    for i in range(0, len(x), 7919):
        meter.feed(x[i : i + 7919])
    assert meter.integrated() == pytest.approx(pyloudnorm.Meter(RATE).integrated_loudness(x), abs=0.01)


def test_silence_shortcut_equals_feeding_zeros() -> None:
    x = speech(2, 1).astype(np.float32)
    fast, slow = LoudnessMeter(RATE), LoudnessMeter(RATE)
    for gap in (1234, 20000, 4410 * 7 + 11, 3):
        for m in (fast, slow):
            m.feed(x[:33333])
        fast.feed_silence(gap)
        slow.feed(np.zeros(gap, dtype=np.float32))
    np.testing.assert_allclose(fast.energies(), slow.energies(), rtol=1e-4, atol=1e-9)
    np.testing.assert_array_equal(fast.peaks(), slow.peaks())


def test_true_peak_envelope_is_resample_poly() -> None:
    x = speech(1, 2)
    ref = np.abs(resample_poly(x, 4, 1)).reshape(-1, 4).max(axis=1)
    np.testing.assert_allclose(true_peak_envelope(x), ref, atol=1e-12)
    np.testing.assert_allclose(true_peak_envelope(x.astype(np.float32)), ref, atol=1e-5)


def _loud_chapter(tmp_path: Path):
    (tmp_path / "clips").mkdir()
    clips = [ClipRef(write_clip(tmp_path / "clips" / f"{i}.wav", fake_speech(3, seed=i, level=0.9 if i % 2 else 0.05)),
                     Boundary.SENTENCE) for i in range(6)]
    return stitch_chapter(clips, Pauses(), tmp_path / "ch.raw")


def test_master_limits_true_peak_and_hits_loudness(tmp_path: Path) -> None:
    st = _loud_chapter(tmp_path)
    mp3, wav = tmp_path / "out.mp3", tmp_path / "m.wav"
    res = master_chapter(st, target_lufs=-18.0, true_peak_db=-3.0,
                         encodes=[EncodeTarget("mp3", mp3, "192k"), EncodeTarget("wav", wav)])
    assert res.limited_hops > 0 and mp3.stat().st_size > 0
    x = pcm_array(wav.read_bytes()[-st.frames * 2:])
    assert len(x) == st.frames
    ceiling = -3.0 - LOSSY_HEADROOM_DB
    assert 20 * np.log10(np.abs(resample_poly(x, 4, 1)).max()) <= ceiling + 0.05  # ceiling minus lossy headroom
    assert pyloudnorm.Meter(RATE).integrated_loudness(x) == pytest.approx(-18.0, abs=0.5)


def test_quiet_chunks_are_gained_by_pydub_exactly(tmp_path: Path) -> None:
    """Far from the ceiling, the mastered samples are pydub's apply_gain plus the room tone."""
    from pydub import AudioSegment

    (tmp_path / "clips").mkdir()
    clip = ClipRef(write_clip(tmp_path / "clips" / "q.wav", fake_speech(3, seed=4, level=0.05)), Boundary.SENTENCE)
    st = stitch_chapter([clip], Pauses(), tmp_path / "ch.raw")
    wav = tmp_path / "m.wav"
    res = master_chapter(st, target_lufs=-30.0, true_peak_db=-3.0, encodes=[EncodeTarget("wav", wav)])
    assert res.limited_hops == 0
    raw = (tmp_path / "ch.raw").read_bytes()
    gained = AudioSegment(data=raw, sample_width=2, frame_rate=RATE, channels=1).apply_gain(res.gain_db)
    x = np.frombuffer(wav.read_bytes()[-st.frames * 2:], "<i2").astype(np.int32)
    y = np.frombuffer(gained.raw_data, "<i2").astype(np.int32)
    residue = x - y  # the room tone alone: about -78 dBFS RMS, a few LSB
    assert 0 < np.sqrt(np.mean(np.square(residue.astype(np.float64)))) < 12


def test_encoder_failure_raises_and_leaves_nothing(tmp_path: Path) -> None:
    st = _loud_chapter(tmp_path)
    good = EncodeTarget("wav", tmp_path / "m.wav")
    bad = EncodeTarget("mp3", tmp_path / "nodir" / "out.mp3", "192k")  # ffmpeg cannot open the output
    with pytest.raises(FFmpegError):
        master_chapter(st, target_lufs=-20.0, true_peak_db=-3.0, encodes=[good, bad])
    assert not (tmp_path / "m.wav").exists() and not list(tmp_path.glob(".*.part"))


def test_state_keeps_no_wav_only_the_aac_pieces_the_m4b_needs(tmp_path: Path) -> None:
    chapters = make_chapters(tmp_path / "clips")[:1]
    out = tmp_path / "out"
    first = assemble_book(chapters, INFO, AudioSettings(formats=("mp3",)), out)
    assert first.m4b is None and not list((out / ".audiobook").rglob("*.wav"))
    assert not list((out / ".audiobook").rglob("*.aac"))
    second = assemble_book(chapters, INFO, AudioSettings(formats=("mp3", "m4b")), out)
    assert second.m4b is not None and second.m4b.exists()
    assert not list((out / ".audiobook").rglob("*.wav")) and list((out / ".audiobook" / "aac").glob("*.aac"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hot_envelope_is_the_envelope_wherever_it_can_pass_the_level(dtype) -> None:
    x = speech().astype(dtype)
    full = true_peak_envelope(x)
    for level in (0.05, 0.2, float(full.max()) * 0.9, 2.0):
        hot = hot_envelope(x, level)
        over = full > level
        assert np.array_equal(hot[over], full[over])  # the same values, not just close ones
        assert np.all((hot == 0) | (hot == full)) and np.all(hot[~over] <= level)


def test_limiter_gain_matches_filtering_the_whole_signal() -> None:
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    x, radius = speech(), 350
    for ceiling in (0.1, 0.3, 0.6):
        need = np.minimum(1.0, ceiling / np.maximum(true_peak_envelope(x), 1e-12))
        ref = np.minimum(uniform_filter1d(minimum_filter1d(need, 4 * radius + 1, mode="nearest"),
                                          2 * radius + 1, mode="nearest"), need)
        gain = limiter_gain(x[:, None], ceiling, radius)
        np.testing.assert_allclose(gain, ref, atol=1e-9)
        assert true_peak_envelope(x * gain).max() <= ceiling * 10 ** (0.05 / 20)  # as the mastering test allows


def test_the_meter_reads_files_whatever_their_names(tmp_path: Path) -> None:
    """ebur128 names each file to ffmpeg by a plain link: commas, quotes, colons and brackets are fine."""
    from pipeline.audio.ffmpeg import ebur128, encode_pcm

    x = fake_speech(3, seed=2, level=0.3)
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
    odd = tmp_path / "it's, a [test]; x=1:2 \\ ’.mp3"
    encode_pcm(pcm, RATE, 1, "mp3", "192k", out=odd)
    plain = tmp_path / "plain.mp3"
    plain.write_bytes(odd.read_bytes())
    (lufs, true, sample), again = ebur128([odd, plain])
    assert again == (lufs, true, sample) and -40 < lufs < 0 and true >= sample - 0.1
    with pytest.raises(FFmpegError):
        ebur128([tmp_path / "missing.mp3"])
