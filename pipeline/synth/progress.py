"""Progress reporting for synthesis: rich bars on a TTY, plain lines otherwise, or quiet.

The engine only calls the ProgressSink protocol; the build chooses the sink.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TextIO

from pipeline.synth.clock import Clock, SystemClock


@dataclass(frozen=True)
class ChapterTotals:
    segments: int
    credits: int
    done_segments: int = 0
    done_credits: int = 0


class ProgressSink(Protocol):
    def start(self, chapters: Mapping[int, ChapterTotals]) -> None: ...
    def job_done(self, chapter: int, credits: int) -> None: ...
    def update(self, requests: Mapping[str, int], credits_spent: int) -> None: ...
    def close(self) -> None: ...


class QuietProgress:
    def start(self, chapters: Mapping[int, ChapterTotals]) -> None:
        pass

    def job_done(self, chapter: int, credits: int) -> None:
        pass

    def update(self, requests: Mapping[str, int], credits_spent: int) -> None:
        pass

    def close(self) -> None:
        pass


class _Tally:
    """Shared arithmetic: totals, done counts, request rate, ETA. `billed`: show credits
    (the offline voice costs nothing, so its builds show none); `clock` times rate and ETA."""

    def __init__(self, billed: bool = True, clock: Clock | None = None) -> None:
        self.billed = billed
        self.clock = clock or SystemClock()
        self.chapters: dict[int, list[int]] = {}  # [segments, credits, done_seg, done_cred]
        self.requests = 0
        self.spent = 0
        self.t0 = self.clock.monotonic()
        self.done_at_start = 0

    def start(self, chapters: Mapping[int, ChapterTotals]) -> None:
        self.chapters = {n: [c.segments, c.credits, c.done_segments, c.done_credits] for n, c in chapters.items()}
        self.done_at_start = self.done
        self.t0 = self.clock.monotonic()

    @property
    def total(self) -> int:
        return sum(c[0] for c in self.chapters.values())

    @property
    def done(self) -> int:
        return sum(c[2] for c in self.chapters.values())

    @property
    def planned_credits(self) -> int:
        return sum(c[1] for c in self.chapters.values())

    def job_done(self, chapter: int, credits: int) -> None:
        row = self.chapters.setdefault(chapter, [0, 0, 0, 0])
        row[2] += 1
        row[3] += credits

    def rate(self) -> float:
        return self.requests / max(1e-6, self.clock.monotonic() - self.t0)

    def eta(self) -> float | None:
        finished = self.done - self.done_at_start
        if finished <= 0:
            return None
        per_job = (self.clock.monotonic() - self.t0) / finished
        return per_job * (self.total - self.done)


def fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class PlainProgress(_Tally):
    """One line every `interval` seconds (logs, CI, pipes)."""

    def __init__(self, stream: TextIO | None = None, interval: float = 5.0, billed: bool = True,
                 clock: Clock | None = None) -> None:
        super().__init__(billed, clock)
        self.stream = stream or sys.stderr
        self.interval = interval
        self._last = 0.0

    def _line(self, force: bool = False) -> None:
        now = self.clock.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        credits = f"credits {self.spent}/{self.planned_credits}, " if self.billed else ""
        self.stream.write(
            f"synth: {self.done}/{self.total} segments, {credits}"
            f"{self.rate():.1f} req/s, ETA {fmt_eta(self.eta())}\n"
        )
        self.stream.flush()

    def job_done(self, chapter: int, credits: int) -> None:
        super().job_done(chapter, credits)
        self._line()

    def update(self, requests: Mapping[str, int], credits_spent: int) -> None:
        self.requests = sum(v for k, v in requests.items() if k != "download")
        self.spent = credits_spent
        self._line()

    def close(self) -> None:
        self._line(force=True)


class RichProgress(_Tally):
    """Overall bar plus one bar per chapter (segments done/total, credits)."""

    def __init__(self, stream: TextIO | None = None, billed: bool = True, clock: Clock | None = None) -> None:
        super().__init__(billed, clock)
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"), TimeRemainingColumn(),
            console=Console(file=stream or sys.stderr), transient=False,
        )
        self._ids: dict[int, Any] = {}
        self._overall: Any = None
        self._swapped: list[logging.Handler] = []
        self._handler: logging.Handler | None = None

    def start(self, chapters: Mapping[int, ChapterTotals]) -> None:
        super().start(chapters)
        self._overall = self._bar.add_task("all", total=self.total, completed=self.done, info="")
        for n, c in sorted(chapters.items()):
            info = f"{c.done_credits}/{c.credits} cr" if self.billed else ""
            self._ids[n] = self._bar.add_task(f"ch {n}", total=c.segments, completed=c.done_segments, info=info)
        self._route_logs()
        self._bar.start()

    def _route_logs(self) -> None:
        """Log records print above the live bars instead of through them (and back at close)."""
        from rich.logging import RichHandler

        root = logging.getLogger()
        self._swapped = [h for h in root.handlers if isinstance(h, logging.StreamHandler)
                         and getattr(h, "stream", None) in (sys.stderr, sys.stdout)]
        for handler in self._swapped:
            root.removeHandler(handler)
        self._handler = RichHandler(console=self._bar.console, show_time=False, show_path=False)
        root.addHandler(self._handler)

    def job_done(self, chapter: int, credits: int) -> None:
        super().job_done(chapter, credits)
        row = self.chapters[chapter]
        if chapter in self._ids:
            info = f"{row[3]}/{row[1]} cr" if self.billed else ""
            self._bar.update(self._ids[chapter], completed=row[2], info=info)
        self._refresh_overall()

    def _refresh_overall(self) -> None:
        if self._overall is not None:
            credits = f"credits {self.spent}/{self.planned_credits}  " if self.billed else ""
            self._bar.update(self._overall, completed=self.done, info=f"{credits}{self.rate():.1f} req/s")

    def update(self, requests: Mapping[str, int], credits_spent: int) -> None:
        self.requests = sum(v for k, v in requests.items() if k != "download")
        self.spent = credits_spent
        self._refresh_overall()

    def close(self) -> None:
        self._bar.stop()
        root = logging.getLogger()
        if self._handler is not None:
            root.removeHandler(self._handler)
            self._handler = None
        for handler in self._swapped:
            root.addHandler(handler)
        self._swapped = []


def choose_progress(quiet: bool = False, stream: TextIO | None = None, billed: bool = True) -> ProgressSink:
    """Rich bars on a terminal, plain lines when stderr is not a TTY, nothing when quiet."""
    if quiet:
        return QuietProgress()
    stream = stream or sys.stderr
    if stream.isatty():
        return RichProgress(stream, billed=billed)
    return PlainProgress(stream, billed=billed)
