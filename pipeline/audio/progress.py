"""Packaging progress: chapter n of N, hours of audio done, ETA.

Packaging is most of an offline build's wall time, so it must show where it is. Work
is weighted by clips (known before any audio exists, and proportional to the text);
the ETA is the remaining clips at the rate seen so far in this run. Rich bar on a TTY,
a plain line every few seconds otherwise, nothing with -q.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from pipeline.audio.package import NoPackageProgress, PackageProgress


class _Tally:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.chapters = self.clips = self.done_chapters = self.done_clips = 0
        self.audio_s = 0.0
        self.t0 = clock()
        self.fresh_clips = 0  # of chapters already up to date
        self.step = ""

    def package_started(self, chapters: int, clips: int) -> None:
        self.chapters, self.clips, self.t0 = chapters, clips, self.clock()

    def chapter_packaged(self, clips: int, audio_seconds: float, rebuilt: bool) -> None:
        self.done_chapters += 1
        self.done_clips += clips
        self.audio_s += audio_seconds
        if not rebuilt:
            self.fresh_clips += clips  # up to date already: says nothing about the rate

    def package_step(self, what: str) -> None:
        self.step = what

    def eta(self) -> float | None:
        worked = self.done_clips - self.fresh_clips
        if worked <= 0:
            return None
        return (self.clips - self.done_clips) * (self.clock() - self.t0) / worked

    def line(self) -> str:
        eta = self.eta()
        tail = f", ETA {int(eta) // 60:02d}:{int(eta) % 60:02d}" if eta is not None and self.done_clips < self.clips \
            else ""
        step = f", {self.step}" if self.step else ""
        return (f"package: chapter {self.done_chapters}/{self.chapters}, "
                f"{self.audio_s / 3600:.2f} h of audio{tail}{step}")


class PlainPackageProgress(_Tally):
    """A line per finished chapter (at most every `interval` s) and per step, for logs."""

    def __init__(self, stream: TextIO | None = None, interval: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock)
        self.stream = stream or sys.stderr
        self.interval = interval
        self.last = -1e9

    def _emit(self, force: bool) -> None:
        now = self.clock()
        if force or now - self.last >= self.interval:
            self.last = now
            print(self.line(), file=self.stream, flush=True)

    def chapter_packaged(self, clips: int, audio_seconds: float, rebuilt: bool) -> None:
        super().chapter_packaged(clips, audio_seconds, rebuilt)
        self._emit(self.done_chapters == self.chapters)

    def package_step(self, what: str) -> None:
        super().package_step(what)
        self._emit(True)


class RichPackageProgress(_Tally):
    """One live bar: clips packaged of all, with chapters, audio hours and ETA beside it."""

    def __init__(self, stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn

        super().__init__(clock)
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                            console=Console(file=stream or sys.stderr), transient=False)
        self.task = self.bar.add_task("package", total=1)

    def package_started(self, chapters: int, clips: int) -> None:
        super().package_started(chapters, clips)
        self.bar.update(self.task, total=max(1, clips), description=self.line())
        self.bar.start()

    def chapter_packaged(self, clips: int, audio_seconds: float, rebuilt: bool) -> None:
        super().chapter_packaged(clips, audio_seconds, rebuilt)
        self.bar.update(self.task, completed=self.done_clips, description=self.line())
        if self.done_chapters == self.chapters:
            self.bar.stop()

    def package_step(self, what: str) -> None:
        super().package_step(what)
        print(self.line(), file=self.bar.console.file, flush=True)


def choose_package_progress(quiet: bool = False, stream: TextIO | None = None) -> PackageProgress:
    """Rich on a terminal, plain lines otherwise, nothing when quiet."""
    if quiet:
        return NoPackageProgress()
    out = stream or sys.stderr
    return RichPackageProgress(out) if out.isatty() else PlainPackageProgress(out)
