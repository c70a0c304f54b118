"""Report and progress sinks: real files, real streams."""

from __future__ import annotations

import io
import json
from pathlib import Path

from pipeline.synth import ChapterTotals, PlainProgress, QuietProgress, RichProgress, Store, choose_progress
from pipeline.synth.report import summary_lines, synthesis_report, write_json
from tests.synth.fakes import FakeBackend, make_jobs
from tests.synth.helpers import run


def test_report_json_roundtrip(tmp_path: Path) -> None:
    jobs = make_jobs(6)
    result = run(jobs, FakeBackend(), tmp_path)
    with Store.open(tmp_path) as store:
        report = synthesis_report(result, store)
    path = write_json(tmp_path / "report.json", report)
    data = json.loads(path.read_text())
    assert data["run"]["done"] == 6 and data["run"]["requests"]["create"] == 6
    assert data["totals"]["states"]["done"] == 6 and data["totals"]["credits_spent"] == result.credits_charged
    assert not (tmp_path / "report.json.part").exists()
    text = "\n".join(summary_lines(result))
    assert "6/6 done" in text and "12 charged" in text


def test_plain_progress_lines() -> None:
    stream = io.StringIO()
    sink = PlainProgress(stream, interval=0.0)
    sink.start({1: ChapterTotals(2, 4), 2: ChapterTotals(1, 2, 1, 2)})
    sink.job_done(1, 2)
    sink.update({"create": 3, "get": 4, "download": 2}, 6)
    sink.close()
    last = stream.getvalue().strip().splitlines()[-1]
    assert last.startswith("synth: 2/3 segments, credits 6/6")


def test_rich_progress_runs_on_a_stream() -> None:
    stream = io.StringIO()
    sink = RichProgress(stream)
    sink.start({1: ChapterTotals(2, 4)})
    sink.job_done(1, 2)
    sink.update({"create": 1}, 2)
    sink.close()
    assert "ch 1" in stream.getvalue()


def test_choose_progress() -> None:
    assert isinstance(choose_progress(quiet=True), QuietProgress)
    assert isinstance(choose_progress(stream=io.StringIO()), PlainProgress)
