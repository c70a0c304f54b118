"""`check --profile acx` on an offline build of a corpus book, against ffmpeg's own astats."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from pipeline.audio.check import check_path
from pipeline.audio.ffmpeg import ffmpeg_exe
from pipeline.cli import main
from tests.conftest import corpus_file
from tests.test_build import build


def _astats(path: Path) -> tuple[float, float]:
    """(RMS level dB, sample peak dB) of the whole file by ffmpeg's astats filter."""
    err = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostats", "-i", str(path), "-vn", "-af",
                          "astats=measure_overall=RMS_level+Peak_level:measure_perchannel=none", "-f", "null", "-"],
                         capture_output=True, text=True, check=True).stderr
    return float(re.findall(r"RMS level dB: (-?[\d.]+)", err)[-1]), float(re.findall(r"Peak level dB: (-?[\d.]+)", err)[-1])


@pytest.mark.slow
def test_an_acx_build_of_a_corpus_book_passes_and_astats_agrees(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUDIOCLEANER_API_KEY", raising=False)
    out = tmp_path / "out"
    recipe = tmp_path / "carol.yaml"
    recipe.write_text(f"book: {corpus_file('charles-dickens_a-christmas-carol.epub')}\n"
                      "chapters:\n" + "".join(f"  - {{title: 'Stave {n}:*', skip: true}}\n" for n in ("II", "III", "IV", "V"))
                      + f"output: {{profile: acx, directory: {out}}}\n", encoding="utf-8")
    code, text = build(capsys, str(recipe), "--backend", "local", "--yes")
    assert code == 0, text
    assert main(["check", str(out), "--profile", "acx"]) == 0, capsys.readouterr().out
    files = check_path(out, "acx").to_dict()["files"]
    assert isinstance(files, list) and {Path(str(f["path"])).name for f in files} >= {
        "00 - Opening Credits.mp3", "Retail Sample.mp3"}
    for f in files:
        rms, peak = _astats(Path(str(f["path"])))
        assert abs(f["rms_db"] - rms) <= 0.5, (f["path"], f["rms_db"], rms)
        assert abs(f["sample_peak_db"] - peak) <= 0.5 and peak <= f["true_peak_db"] + 0.05, (f["path"], f, peak)
        assert peak <= -3.0
