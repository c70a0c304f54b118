"""Packaging progress lines: chapter n of N, audio hours, ETA from this run's rate."""

from __future__ import annotations

import io

from pipeline.audio.package import NoPackageProgress
from pipeline.audio.progress import PlainPackageProgress, choose_package_progress


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_show_chapters_hours_and_eta() -> None:
    out, clock = io.StringIO(), FakeClock()
    p = PlainPackageProgress(out, interval=0.0, clock=clock)
    p.package_started(chapters=4, clips=100)
    p.chapter_packaged(10, 1800.0, rebuilt=False)  # already up to date: no rate from it
    clock.now += 30
    p.chapter_packaged(30, 3600.0, rebuilt=True)  # 30 clips in 30 s: 60 clips left, 60 s
    p.package_step("M4B")
    lines = out.getvalue().splitlines()
    assert lines[0] == "package: chapter 1/4, 0.50 h of audio"
    assert lines[1] == "package: chapter 2/4, 1.50 h of audio, ETA 01:00"
    assert lines[2].endswith(", M4B")


def test_quiet_and_non_tty_choices() -> None:
    assert isinstance(choose_package_progress(quiet=True), NoPackageProgress)
    assert isinstance(choose_package_progress(stream=io.StringIO()), PlainPackageProgress)
