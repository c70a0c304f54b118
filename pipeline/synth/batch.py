"""One synthesis engine for a whole batch of books on one key.

Why one engine and not one build per book: the vendor's limits are per key. Separate
builds side by side fight over the same open-task slots (101004s, nothing gained);
one after the other leave the key idle at every book's tail. Here every book has its
own Engine (its store, ledger, cache and counters) over one shared KeyLimits (budget,
gate, pacing, health, stop reasons), and a single admission loop feeds the gate book
by book in the given order: the next book's tasks start as the previous book's last
ones are in flight, so the key stays busy, and when credits run out the books already
finished are whole (at most the books in flight then are partial).

A text with the same voice in two books is bought once: the later book waits for the
earlier book's clip (or finds it in another book's cache) and files a copy in its own.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from pipeline.errors import AudiobookError
from pipeline.models import Job
from pipeline.synth.cache import ClipCache
from pipeline.synth.clock import Clock, SystemClock
from pipeline.synth.ledger import CreditPool, Ledger
from pipeline.synth.options import SynthOptions, SynthResult
from pipeline.synth.progress import ProgressSink, QuietProgress
from pipeline.synth.resume import Pending
from pipeline.synth.run_state import KeyLimits
from pipeline.synth.runner import result_of, stop_error
from pipeline.synth.scheduler import Engine
from pipeline.synth.store import Store
from pipeline.tts.base import Backend


@dataclass(frozen=True)
class BookWork:
    """One book's part of a batch: its jobs and where its state and clips live."""

    name: str
    jobs: Sequence[Job]
    store: Store
    cache: ClipCache
    max_credits: int | None = None  # the book's own cap on its directory's spend
    progress: ProgressSink = field(default_factory=QuietProgress)


@dataclass(frozen=True)
class BookSynth:
    """How one book's synthesis ended: `error` is None when every segment is done."""

    index: int
    name: str
    result: SynthResult
    error: BaseException | None
    started: bool  # False: the batch stopped before any of its work was admitted


BookDone = Callable[[BookSynth], None]


class _Follows:
    """Jobs of later books waiting for an earlier book's clip of the same text and voice."""

    def __init__(self) -> None:
        self.leaders: dict[str, int] = {}  # key -> book whose engine buys it
        self.waiting: dict[str, list[tuple[int, Job]]] = {}
        self.open: dict[int, int] = {}  # book -> jobs still waiting for a leader
        self.settled: dict[int, asyncio.Event] = {}

    def follow(self, book: int, job: Job) -> None:
        self.waiting.setdefault(job.key, []).append((book, job))
        self.open[book] = self.open.get(book, 0) + 1
        self.settled.setdefault(book, asyncio.Event()).clear()

    def release(self, key: str) -> list[tuple[int, Job]]:
        return self.waiting.pop(key, [])

    def done(self, book: int) -> None:
        self.open[book] -= 1
        if self.open[book] == 0:
            self.settled[book].set()

    async def wait(self, book: int) -> None:
        if self.open.get(book, 0):
            await self.settled[book].wait()

    def drop_all(self) -> None:
        """The run is over: nobody will hand these clips over any more."""
        for key in list(self.waiting):
            for book, _ in self.release(key):
                self.done(book)


class BatchEngine:
    """Runs the books' jobs through one key's limits, in book order; see the module doc."""

    def __init__(self, books: Sequence[BookWork], backend: Backend, options: SynthOptions,
                 stop: asyncio.Event | None = None, *, clock: Clock | None = None,
                 on_book_done: BookDone | None = None) -> None:
        self.clock = clock or SystemClock()
        self.options = options
        self.limits = KeyLimits(options, stop or asyncio.Event(), self.clock)
        self.pool = CreditPool(options.max_credits)
        self.books = list(books)
        self.engines = [self._engine(book, backend) for book in self.books]
        self.follows = _Follows()
        self.on_book_done = on_book_done
        self.outcomes: dict[int, BookSynth] = {}
        self.interrupted = False

    def _engine(self, book: BookWork, backend: Backend) -> Engine:
        own = replace(self.options, max_credits=book.max_credits)
        ledger = None
        if own.billed:
            ledger = Ledger.start(book.store, backend.name, book.max_credits, self.clock)
            self.pool.join(ledger)
        else:
            Ledger.note_free_run(book.store, backend.name, self.clock)
        engine = Engine(book.jobs, backend, book.store, book.cache, own, book.progress, ledger=ledger,
                        clock=self.clock, limits=self.limits)
        engine.on_abort = self._abort
        engine.on_job_end = self._job_ended
        return engine

    def _abort(self) -> None:
        for engine in self.engines:
            engine.cancel_tasks()

    async def run(self) -> list[BookSynth]:
        """Every book to done or to a clean stop; one BookSynth per book, in order."""
        started = self.clock.monotonic()
        watcher = asyncio.create_task(self._watch_stop())
        finishing: list[asyncio.Task[BookSynth]] = []
        try:
            for i, engine in enumerate(self.engines):
                pending = engine.prepare()
                going = await self._admit_book(i, pending)
                finishing.append(asyncio.create_task(self._finish(i, started, started=True)))
                if not going:
                    break
            for i in range(len(finishing), len(self.engines)):
                self.engines[i].prepare()  # counts only: its rows are planned, nothing is sent
                finishing.append(asyncio.create_task(self._finish(i, started, started=False)))
            await asyncio.gather(*finishing)
        finally:
            watcher.cancel()
            self.follows.drop_all()
            self._abort()
            for book in self.books:
                book.progress.close()
        return [self.outcomes[i] for i in range(len(self.engines))]

    async def _admit_book(self, i: int, pending: Sequence[Pending]) -> bool:
        """Feed one book's work to the gate; False when the batch is stopping."""
        engine = self.engines[i]
        for item in pending:
            key = item.job.key
            if item.job_id is None:
                if self._adopt(i, item.job):
                    continue
                if key in self.follows.leaders:
                    self.follows.follow(i, item.job)
                    continue
            if not await engine.admit(item):
                return False
            self.follows.leaders.setdefault(key, i)
        return not engine.run_state.stopping

    def _adopt(self, i: int, job: Job) -> bool:
        """File another book's finished clip of this job in book i's cache (no request)."""
        own = self.books[i].cache
        for j, other in enumerate(self.books):
            if j == i or other.cache.root == own.root:
                continue
            clip = other.cache.path(job.key)
            if clip is not None and other.cache.verify(clip) is None:
                copy = own.put(job.key, clip.read_bytes(), clip.suffix)
                self.books[i].store.mark_done(job.key, copy)
                engine = self.engines[i]
                engine.stats.cached += 1
                engine.run_state.progress.job_done(job.segment.chapter, job.credits)
                return True
        return False

    def _job_ended(self, key: str) -> None:
        for book, job in self.follows.release(key):
            try:
                self._adopt(book, job)
            finally:
                self.follows.done(book)

    async def _finish(self, i: int, t0: float, *, started: bool) -> BookSynth:
        engine = self.engines[i]
        await engine.gather()
        await self.follows.wait(i)
        engine.run_state.report()
        result = result_of(engine, t0)
        error: BaseException | None = None
        if result.remaining or result.failed:
            error = stop_error(engine, result, self.interrupted)
            if isinstance(error, AudiobookError):
                error.with_partial(result)
        outcome = BookSynth(i, self.books[i].name, result, error, started)
        self.outcomes[i] = outcome
        if self.on_book_done is not None:
            self.on_book_done(outcome)
        return outcome

    async def _watch_stop(self) -> None:
        """After a stop: give in-flight requests `stop_grace` seconds, then cancel them."""
        await self.limits.stop.wait()
        await self.clock.sleep(self.options.stop_grace)
        self._abort()


def run_batch_synthesis(books: Sequence[BookWork], backend: Backend, options: SynthOptions, *,
                        on_book_done: BookDone | None = None, clock: Clock | None = None,
                        close_backend: bool = True) -> list[BookSynth]:
    """Sync wrapper: one event loop, Ctrl-C as in run_synthesis (the first stops creating
    and lets in-flight requests settle, the second interrupts at once); never raises a
    book's error: each BookSynth carries its own. KeyboardInterrupt after a Ctrl-C."""

    async def main() -> list[BookSynth]:
        stop = asyncio.Event()
        engine = BatchEngine(books, backend, options, stop, clock=clock, on_book_done=on_book_done)
        loop = asyncio.get_running_loop()
        handled = threading.current_thread() is threading.main_thread()

        def on_sigint() -> None:
            engine.interrupted = True
            stop.set()
            loop.remove_signal_handler(signal.SIGINT)

        if handled:
            loop.add_signal_handler(signal.SIGINT, on_sigint)
        try:
            outcomes = await engine.run()
        finally:
            if handled:
                loop.remove_signal_handler(signal.SIGINT)
            if close_backend:
                await backend.aclose()
        if engine.interrupted:
            raise KeyboardInterrupt()
        return outcomes

    return asyncio.run(main())
