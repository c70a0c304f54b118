"""Progress of a batch: books done, segments and credits of the whole batch, ETA, and
the books in flight (a bar each on a terminal; one line every few seconds otherwise).

The engine talks to one ProgressSink per book (`view(i)`); the views feed one tally,
so the display is the batch's, not N books' displays fighting over the terminal.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from pipeline.synth.clock import Clock, SystemClock
from pipeline.synth.progress import ChapterTotals, ProgressSink, QuietProgress, fmt_eta


@dataclass
class _Book:
    title: str
    segments: int = 0
    done: int = 0
    done_at_start: int = 0
    spent: int = 0
    state: str = "waiting"  # waiting, synthesizing, packaging, done, stopped


class BatchTally:
    """The batch's counts, fed by every book's view; `line()` is the plain rendering."""

    def __init__(self, titles: Sequence[str], planned_credits: int, billed: bool, clock: Clock | None = None) -> None:
        self.books = [_Book(t) for t in titles]
        self.planned_credits, self.billed = planned_credits, billed
        self.clock = clock or SystemClock()
        self.t0 = self.clock.monotonic()
        self.requests: dict[int, int] = {}
        self.lock = threading.Lock()  # packaging callbacks arrive from the pool's thread

    def started(self, i: int, chapters: Mapping[int, ChapterTotals]) -> None:
        book = self.books[i]
        book.segments = sum(c.segments for c in chapters.values())
        book.done = book.done_at_start = sum(c.done_segments for c in chapters.values())
        book.state = "synthesizing" if book.done < book.segments else "synthesized"

    def eta(self) -> float | None:
        finished = sum(b.done - b.done_at_start for b in self.books)
        left = sum(b.segments - b.done for b in self.books)
        if finished <= 0:
            return None
        return (self.clock.monotonic() - self.t0) / finished * left

    def line(self) -> str:
        books_done = sum(1 for b in self.books if b.state == "done")
        seg_done, seg_total = sum(b.done for b in self.books), sum(b.segments for b in self.books)
        spent = sum(b.spent for b in self.books)
        credits = f"credits {spent:,}/{self.planned_credits:,}, " if self.billed else ""
        rate = sum(self.requests.values()) / max(1e-6, self.clock.monotonic() - self.t0)
        flying = [f"'{b.title}' {b.done}/{b.segments}" if b.state == "synthesizing" else f"'{b.title}' {b.state}"
                  for b in self.books if b.state in ("synthesizing", "packaging")]
        line = (f"batch: {books_done}/{len(self.books)} books done, {seg_done}/{seg_total} segments, {credits}"
                f"{rate:.1f} req/s, ETA {fmt_eta(self.eta())}")
        return line + (f"; in flight: {', '.join(flying)}" if flying else "")


class BatchDisplay:
    """Plain lines (every `interval` s) or rich bars; `quiet` shows nothing."""

    def __init__(self, tally: BatchTally, stream: TextIO | None = None, *, quiet: bool = False,
                 interval: float = 5.0) -> None:
        self.tally, self.quiet, self.interval = tally, quiet, interval
        self.stream = stream or sys.stderr
        self._last = -interval
        self._bar: Any = None
        self._ids: dict[int, Any] = {}
        if not quiet and self.stream.isatty():
            self._start_rich()

    def _start_rich(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.fields[info]}"), console=Console(file=self.stream))
        for i, book in enumerate(self.tally.books):
            self._ids[i] = self._bar.add_task(book.title[:40], total=None, info=book.state)
        self._ids[-1] = self._bar.add_task("batch", total=None, info="")
        self._bar.start()

    def view(self, i: int) -> ProgressSink:
        return QuietProgress() if self.quiet else _BookView(self, i)

    def book_state(self, i: int, state: str) -> None:
        with self.tally.lock:
            self.tally.books[i].state = state
        self.refresh(force=True)

    def refresh(self, force: bool = False) -> None:
        if self.quiet:
            return
        now = self.tally.clock.monotonic()
        if self._bar is not None:
            for i, book in enumerate(self.tally.books):
                self._bar.update(self._ids[i], total=book.segments or None, completed=book.done, info=book.state)
            self._bar.update(self._ids[-1], info=self.tally.line().split("; in flight")[0])
            return
        if force or now - self._last >= self.interval:
            self._last = now
            self.stream.write(self.tally.line() + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self._bar is not None:
            self.refresh()
            self._bar.stop()
            self._bar = None
        elif not self.quiet:
            self.refresh(force=True)


class _BookView:
    """What the engine sees for book i: a ProgressSink feeding the batch's tally."""

    def __init__(self, display: BatchDisplay, index: int) -> None:
        self.display, self.index = display, index

    def start(self, chapters: Mapping[int, ChapterTotals]) -> None:
        self.display.tally.started(self.index, chapters)
        self.display.refresh()

    def job_done(self, chapter: int, credits: int) -> None:
        self.display.tally.books[self.index].done += 1
        self.display.refresh()

    def update(self, requests: Mapping[str, int], credits_spent: int) -> None:
        tally = self.display.tally
        tally.requests[self.index] = sum(v for k, v in requests.items() if k != "download")
        tally.books[self.index].spent = credits_spent
        self.display.refresh()

    def close(self) -> None:
        pass
