"""The proof page of a real build, in Chromium: a click plays from the segment's exact start,
and the flags it exports are a retake file that `build --retake` reads."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.audio.proof_browser import TIMEOUT_MS, chromium, require_browser, wait_ready
from tests.audio.test_proof import VIEWPORT, Watch, export
from tests.conftest import SAMPLES
from tests.test_build import build


def _digests(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.glob("*.mp3"))}


@pytest.mark.slow
def test_a_built_proof_page_plays_segments_at_their_start_and_exports_retakes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    require_browser()
    monkeypatch.delenv("AUDIOCLEANER_API_KEY", raising=False)
    out = tmp_path / "out"
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"book: {SAMPLES / 'the-salt-road.epub'}\noutput: {{directory: {out}}}\n", encoding="utf-8")
    code, text = build(capsys, str(recipe), "--backend", "local", "--yes")
    assert code == 0, text
    manifest = json.loads((out / ".audiobook" / "assembly.json").read_text(encoding="utf-8"))
    entry = manifest["chapters"]["2"]
    before = _digests(out)

    with chromium() as browser:
        context = browser.new_context(viewport=VIEWPORT, bypass_csp=True, accept_downloads=True)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        watch = Watch(page)
        page.goto((out / "proof.html").as_uri())
        wait_ready(page)
        start = float(page.get_attribute("#seg-2-1", "data-start") or "nan")
        assert start == pytest.approx(entry["clip_starts"][1] / 44100, abs=1e-3)  # the stitcher's sample count
        page.click("#seg-2-1 .seg-main")
        page.wait_for_function("s => Math.abs(document.querySelector('#audio-2').currentTime - s) < 0.05 || "
                               "document.querySelector('#seg-2-1').classList.contains('current')", arg=start)
        page.evaluate("() => document.querySelector('#audio-2').pause()")
        page.check("#seg-2-1 .flag-toggle")
        page.fill("#seg-2-1 .flag-note", "too fast")
        page.check("#seg-2-2 .flag-toggle")
        page.fill("#seg-2-2 .flag-text", "The ferryman took his toll in salt, and said nothing.")
        downloaded, _ = export(page)
        watch.check()
        context.close()

    retakes = tmp_path / "retakes.txt"
    retakes.write_text(downloaded, encoding="utf-8")
    code, text = build(capsys, str(recipe), "--backend", "local", "--yes", "--retake", str(retakes))
    assert code == 0, text
    changed = {n for n, d in _digests(out).items() if before.get(n) != d}
    assert changed == {entry["stem"] + ".mp3"}  # only the flagged segments' chapter
    takes = json.loads((out / ".audiobook" / "retakes.json").read_text(encoding="utf-8"))["takes"]
    assert [(t["chapter"], t["take"], t["note"]) for t in takes] == [(2, 1, "too fast"), (2, 1, "")]
    assert "said nothing." in (out / "proof.html").read_text(encoding="utf-8")  # the page shows the new text
