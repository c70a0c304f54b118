"""`audiobook build` end to end: offline voice, and the vendor client against the emulator."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mutagen
import pytest

from pipeline.audio.ffmpeg import ffmpeg_info
from pipeline.build import fresh_plan
from pipeline.cli import main
from pipeline.recipe import load_recipe
from tests.conftest import SAMPLES

MD_SAMPLE = SAMPLES / "the-cartographers-daughter.md"
EPUB_SAMPLE = SAMPLES / "the-salt-road.epub"


def write_recipe(tmp_path: Path, book: Path, synthesis: dict[str, Any] | None = None, **extra: Any) -> Path:
    synth = json.dumps({"max_open": 8, "rate_limit": 18, **(synthesis or {})})
    lines = [f"book: {book}", f"output: {{directory: {tmp_path / 'out'}}}", f"synthesis: {synth}"]
    lines += [f"{k}: {json.dumps(v)}" for k, v in extra.items()]
    path = tmp_path / "recipe.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def build(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["-q", "build", *args])
    out, err = capsys.readouterr()
    return code, out + err


def report(out_dir: Path) -> dict[str, Any]:
    return json.loads((out_dir / "report.json").read_text(encoding="utf-8"))


@pytest.mark.slow
def test_offline_build_then_rerun_does_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUDIOCLEANER_API_KEY", raising=False)
    recipe = write_recipe(tmp_path, EPUB_SAMPLE)
    out = tmp_path / "out"
    code, text = build(capsys, str(recipe))
    assert code == 0, text
    plan = fresh_plan(load_recipe(recipe), "local")
    mp3s = sorted(out.glob("*.mp3"))
    assert len(mp3s) == len(plan.active)
    tags = mutagen.File(mp3s[0])
    assert tags is not None and tags.tags is not None
    assert str(tags.tags["TIT2"]) == plan.active[0].title
    assert str(tags.tags["TALB"]) == plan.title and str(tags.tags["TRCK"]) == f"1/{len(plan.active)}"
    assert any(key.startswith("APIC") for key in tags.tags.keys())
    m4b = next(out.glob("*.m4b"))
    info = ffmpeg_info(m4b)
    titles = re.findall(r"^\s+title\s+:\s+(.+)$", info.split("Chapters:")[1].split("Stream")[0], re.M)
    assert titles == [c.title for c in plan.active]
    assert "Video:" in info and "attached pic" in info
    before = {p: p.stat().st_mtime_ns for p in out.iterdir() if p.is_file() and p.name != "report.json"}

    code, text = build(capsys, str(recipe))
    assert code == 0, text
    again = report(out)
    assert again["synthesis"]["requests"] == {} or sum(again["synthesis"]["requests"].values()) == 0
    assert again["synthesis"]["cached"] == len(plan.jobs)
    assert again["package"]["rewritten"] == []
    assert {p: p.stat().st_mtime_ns for p in before} == before


@pytest.mark.slow
def test_emulator_build_pays_exactly_the_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch, emulator: Callable[..., Any]) -> None:
    em = emulator(rate_limit=20, max_open=8, task_time=(0.3, 1.5), workers=8, audio="speech")
    monkeypatch.setenv("AUDIOCLEANER_API_KEY", em.key)
    recipe = write_recipe(tmp_path, MD_SAMPLE, max_chars=300)
    plan = fresh_plan(load_recipe(recipe), "audiocleaner")
    code, text = build(capsys, str(recipe), "--api-url", em.url, "--yes")
    assert code == 0, text
    stats = em.stats()
    assert stats["duplicate_creates"] == 0
    assert stats["credits_charged"] == plan.credits
    assert stats["tasks_created"] == len(plan.jobs)
    assert len(list((tmp_path / "out").glob("*.mp3"))) == len(plan.active)
    refused, asked = stats["rate_limited"] + stats["concurrency_limited"], stats["requests"]["create"] + \
        stats["requests"]["get"]
    assert f"Requests: refused: {refused:,} of {asked:,} requests" in text, text  # what the service counted
    assert refused <= 0.10 * asked
    requests_before = sum(stats["requests"].values())

    code, text = build(capsys, str(recipe), "--api-url", em.url, "--yes")
    assert code == 0, text
    assert sum(em.stats()["requests"].values()) == requests_before  # zero requests on a re-run


@pytest.mark.slow
def test_credits_run_out_then_resume_after_topup(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch, emulator: Callable[..., Any]) -> None:
    recipe = write_recipe(tmp_path, MD_SAMPLE, max_chars=200)
    plan = fresh_plan(load_recipe(recipe), "audiocleaner")
    em = emulator(keys=[f"poor:{plan.credits // 3}"], max_open=4)
    monkeypatch.setenv("AUDIOCLEANER_API_KEY", "poor")
    code, text = build(capsys, str(recipe), "--api-url", em.url, "--yes")
    assert code == 3, text
    assert "credit" in text.lower()
    partial = report(tmp_path / "out")
    assert partial["synthesis"]["done"] > 0 and partial["synthesis"]["remaining"] > 0

    em.topup(plan.credits)
    code, text = build(capsys, str(recipe), "--api-url", em.url, "--yes")
    assert code == 0, text
    stats = em.stats()
    assert stats["duplicate_creates"] == 0
    assert stats["credits_charged"] == plan.credits


@pytest.mark.parametrize(("state", "code_text"), [("disabled", "101005"), ("not-enabled", "101006")])
def test_fatal_key_stops_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                     emulator: Callable[..., Any], state: str, code_text: str) -> None:
    em = emulator(keys=[f"k1:{state}"])
    monkeypatch.setenv("AUDIOCLEANER_API_KEY", "k1")
    recipe = write_recipe(tmp_path, MD_SAMPLE)
    code, text = build(capsys, str(recipe), "--api-url", em.url, "--yes")
    assert code == 2, text
    assert code_text in text and "Traceback" not in text
    assert em.stats()["requests"].get("create", 0) <= 8  # at most what was in flight


def test_invalid_key_never_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                   emulator: Callable[..., Any]) -> None:
    em = emulator()
    sentinel = "sk-SENTINEL-do-not-leak-8d1f"
    monkeypatch.setenv("AUDIOCLEANER_API_KEY", sentinel)
    recipe = write_recipe(tmp_path, MD_SAMPLE)
    code, text = build(capsys, str(recipe), "--api-url", em.url, "--yes")
    assert code == 2 and "101002" in text
    assert sentinel not in text
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            assert sentinel.encode() not in path.read_bytes(), path


def test_max_credits_refuses_before_spending(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch, emulator: Callable[..., Any]) -> None:
    em = emulator()
    monkeypatch.setenv("AUDIOCLEANER_API_KEY", em.key)
    recipe = write_recipe(tmp_path, MD_SAMPLE)
    code, text = build(capsys, str(recipe), "--api-url", em.url, "--max-credits", "5")
    assert code == 2 and "--max-credits" in text
    assert sum(em.stats()["requests"].values()) == 0


@pytest.mark.slow
def test_faults_still_give_a_complete_book(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch, emulator: Callable[..., Any]) -> None:
    faults = {"http_500": 0.05, "http_503": 0.05, "drop": 0.05, "malformed_json": 0.05, "task_failed": 0.1,
              "job_expire": 0.05, "truncated_download": 0.1, "non_audio_download": 0.05, "url_expire": 0.05}
    em = emulator(faults=faults, seed=7, max_open=8)
    monkeypatch.setenv("AUDIOCLEANER_API_KEY", em.key)
    # One create in five has no readable reply here; the breaker (5 in a row, its own tests in
    # test_money.py) would trip now and then on this much, so this test, about recovering,
    # gives it room: 12 in a row is about 4e-9 per streak.
    recipe = write_recipe(tmp_path, MD_SAMPLE, {"max_uncertain": 12}, max_chars=200)
    plan = fresh_plan(load_recipe(recipe), "audiocleaner")
    code, text = build(capsys, str(recipe), "--api-url", em.url, "--yes")
    assert code == 0, text
    rep = report(tmp_path / "out")["synthesis"]
    assert rep["done"] == len(plan.jobs) and rep["failed"] == 0
    stats = em.stats()
    assert stats["duplicate_creates"] <= rep["recreated"] + rep["uncertain_creates"]
    assert len(list((tmp_path / "out").glob("*.mp3"))) == len(plan.active)


@pytest.mark.slow
def test_editing_a_paragraph_or_a_voice_repays_only_what_changed(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUDIOCLEANER_API_KEY", raising=False)
    book = tmp_path / "book.md"
    text = MD_SAMPLE.read_text(encoding="utf-8")
    book.write_text(text, encoding="utf-8")
    recipe = write_recipe(tmp_path, book, max_chars=200)
    assert build(capsys, str(recipe))[0] == 0
    first = fresh_plan(load_recipe(recipe), "local")

    word = "compass"
    assert word in text
    book.write_text(text.replace(word, "sextant", 1), encoding="utf-8")
    code, out, _ = main(["plan", str(recipe), "--json"]), *capsys.readouterr()
    assert code == 0
    totals = json.loads(out)["totals"]
    assert 0 < totals["credits_to_spend"] <= 6, totals  # only the edited neighbourhood
    assert build(capsys, str(recipe))[0] == 0
    rep = report(tmp_path / "out")["synthesis"]
    assert rep["jobs"] - rep["cached"] <= 3 and rep["jobs"] >= len(first.jobs) - 1

    recipe.write_text(recipe.read_text(encoding="utf-8") + "chapters: [{index: 2, emotion: sad}]\n", encoding="utf-8")
    plan = fresh_plan(load_recipe(recipe), "local")
    assert build(capsys, str(recipe))[0] == 0
    rep = report(tmp_path / "out")["synthesis"]
    chapter2 = next(c for c in plan.chapters if c.index == 2)
    assert rep["jobs"] - rep["cached"] == len(chapter2.jobs)


def test_second_build_on_same_output_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.workspace import Workspace

    monkeypatch.delenv("AUDIOCLEANER_API_KEY", raising=False)
    recipe = write_recipe(tmp_path, MD_SAMPLE)
    holder = Workspace.of(load_recipe(recipe)).open_store()  # stands for a build in progress
    try:
        code, text = build(capsys, str(recipe))
    finally:
        holder.close()
    assert code == 2 and "another audiobook process" in text and "Traceback" not in text
    assert not list((tmp_path / "out").glob("*.mp3"))


def _silences(path: Path) -> list[float]:
    """Gaps longer than 0.2 s below -45 dB, measured by ffmpeg's silencedetect."""
    import subprocess

    from pipeline.audio.ffmpeg import ffmpeg_exe

    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostats", "-i", str(path), "-af",
                           "silencedetect=n=-45dB:d=0.2", "-f", "null", "-"], capture_output=True, check=True)
    return [float(x) for x in re.findall(r"silence_duration: ([0-9.]+)", proc.stderr.decode())]


def test_the_title_pause_is_heard(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """titles: separate puts pauses.title between the heading's clip and the text's."""
    monkeypatch.delenv("AUDIOCLEANER_API_KEY", raising=False)
    book = tmp_path / "book.md"
    book.write_text("# The First Part\n\nThe text of the first part begins here, and it goes on a while.\n\n"
                    "# The Second Part\n\nAnother part, with its own short text to read aloud.\n", encoding="utf-8")
    recipe = write_recipe(tmp_path, book, pauses={"title": 2000, "head": 300, "tail": 500})
    code, text = build(capsys, str(recipe))
    assert code == 0, text
    mp3s = sorted((tmp_path / "out").glob("*.mp3"))
    assert len(mp3s) == 2
    for mp3 in mp3s:
        long = [s for s in _silences(mp3) if s > 1.0]
        assert len(long) == 1 and abs(long[0] - 2.0) <= 0.1, (mp3.name, _silences(mp3))
