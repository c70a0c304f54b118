from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from pipeline.audio.check import check_path
from pipeline.audio.ffmpeg import run_ffmpeg
from pipeline.cli.check_cmd import check
from pipeline.errors import UserError
from tests.audio.helpers import RATE, fake_speech, to_pcm, write_clip
from tests.audio.test_package import INFO, SETTINGS, make_chapters


def good_signal(seconds: float = 6.0, seed: int = 1) -> np.ndarray:
    """Speech at about -20 LUFS with 1 s of near-silence at both ends."""
    pad = np.zeros(RATE)
    x = np.concatenate([pad, fake_speech(seconds, seed=seed), pad])
    x *= 10 ** (-20.5 / 20) / np.sqrt(np.mean(np.square(x)))  # RMS -20.5 dB
    ceiling = 10 ** (-6 / 20)
    x = np.tanh(x / ceiling) * ceiling  # soft-limit the rare high peaks
    return x + np.random.default_rng(seed).standard_normal(len(x)) * 1e-4


def cbr(path: Path, x: np.ndarray, bitrate: str = "192k", channels: int = 1) -> Path:
    data = x if channels == 1 else np.repeat(x, 2)
    run_ffmpeg(["-f", "s16le", "-ar", str(RATE), "-ac", str(channels), "-i", "pipe:0",
                "-c:a", "libmp3lame", "-b:a", bitrate, "-y", str(path)], input_bytes=to_pcm(data))
    return path


def test_good_file_passes(tmp_path: Path) -> None:
    report = check_path(cbr(tmp_path / "good.mp3", good_signal()), "acx")
    facts = report.files[0].facts
    assert report.failed_rules == (), report.to_dict()
    assert facts.vbr is False and facts.bitrate_kbps == 192 and facts.channels == 1


def test_bad_files_name_each_failed_rule(tmp_path: Path) -> None:
    clipped = np.clip(good_signal() * 8, -1, 1)
    assert set(check_path(cbr(tmp_path / "clipped.mp3", clipped)).failed_rules) >= {"peak", "rms"}
    quiet = good_signal() * 0.05
    assert "rms" in check_path(cbr(tmp_path / "quiet.mp3", quiet)).failed_rules
    noisy = good_signal() + np.random.default_rng(0).standard_normal(8 * RATE) * 0.01
    assert {"noise_floor", "room_tone"} <= set(check_path(cbr(tmp_path / "noisy.mp3", noisy)).failed_rules)
    low = check_path(cbr(tmp_path / "low.mp3", good_signal(), "128k"))
    assert low.failed_rules == ("bitrate",)
    vbr = tmp_path / "vbr.mp3"
    run_ffmpeg(["-f", "s16le", "-ar", str(RATE), "-ac", "1", "-i", "pipe:0", "-c:a", "libmp3lame",
                "-q:a", "2", "-y", str(vbr)], input_bytes=to_pcm(good_signal()))
    assert "cbr" in check_path(vbr).failed_rules
    rate = tmp_path / "rate.wav"
    write_clip(rate, good_signal(), "wav", rate=22050)
    assert "sample_rate" in check_path(rate).failed_rules
    assert "sample_rate" not in check_path(rate, "generic").failed_rules


def test_channel_mismatch_in_directory(tmp_path: Path) -> None:
    cbr(tmp_path / "01.mp3", good_signal(seed=1))
    cbr(tmp_path / "02.mp3", good_signal(seed=2), channels=2)
    report = check_path(tmp_path)
    assert report.failed_rules == ("channels_consistent",)
    assert [f.facts.channels for f in report.files] == [1, 2]


def test_unreadable_file_is_user_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.mp3"
    bad.write_bytes(b"<html>not audio</html>")
    with pytest.raises(UserError) as info:
        check_path(bad)
    assert info.value.exit_code == 2
    with pytest.raises(UserError):
        check_path(tmp_path / "missing")


def test_cli_on_assembled_book(tmp_path: Path) -> None:
    from pipeline.audio.package import assemble_book

    out = tmp_path / "out"
    assemble_book(make_chapters(tmp_path / "clips")[:2], INFO, SETTINGS, out)
    group = click.Group(commands=[check])
    res = CliRunner().invoke(group, ["check", str(out), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["passed"] and len(data["files"]) == 5  # 2 mp3, 2 wav, 1 m4b
    m4b = next(f for f in data["files"] if f["path"].endswith(".m4b"))
    assert [c["title"] for c in m4b["chapters"]] == ["Stave One: Marley's Ghost", "Stave = Two; #hash \\ back"]
    assert m4b["cover"] is True
    table = CliRunner().invoke(group, ["check", str(out)])
    assert table.exit_code == 0 and "profile acx: PASS" in table.output


def test_cli_failure_exit_code(tmp_path: Path) -> None:
    cbr(tmp_path / "quiet.mp3", good_signal() * 0.05)
    res = CliRunner().invoke(click.Group(commands=[check]), ["check", str(tmp_path / "quiet.mp3")])
    assert res.exit_code == 4 and "FAIL" in res.output and "rms" in res.output  # 4: a rule failed (1 is a bug)
