"""Progress sinks on real streams."""

from __future__ import annotations

import io
import sys

from pipeline.synth import (
    ChapterTotals,
    PlainProgress,
    QuietProgress,
    RichProgress,
    choose_progress,
)


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


def test_offline_progress_shows_no_credits() -> None:
    stream = io.StringIO()
    sink = PlainProgress(stream, interval=0.0, billed=False)
    sink.start({1: ChapterTotals(2, 4)})
    sink.job_done(1, 2)
    sink.close()
    assert "credits" not in stream.getvalue() and "1/2 segments" in stream.getvalue()


def test_log_records_go_through_the_live_display_and_back() -> None:
    import logging

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    root = logging.getLogger()
    plain = logging.StreamHandler(sys.stderr)
    root.addHandler(plain)
    stream = Tty()
    try:
        sink = RichProgress(stream)
        sink.start({1: ChapterTotals(1, 1)})
        assert plain not in root.handlers  # a record would otherwise print through the bars
        logging.getLogger("pipeline.test").warning("a line above the bars")
        sink.close()
        assert plain in root.handlers
        assert "a line above the bars" in stream.getvalue()
    finally:
        root.removeHandler(plain)
