"""Batch builds: many books in one command, one key's limits, whole books first.

plan every book (input errors stop the batch before any request) → confirm the batch's
cost → hold every book's output lock → one synthesis engine for all books
(pipeline.synth.batch) → each finished book packaged in a worker process while later
books synthesize → each book's report.json, the batch report, and one error that says
what is left (exit 3 resumable, 1 a book failed, 130 Ctrl-C). Running the same command
again continues: every book resumes from its own checkpoint store.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from pipeline.batch_package import PackageOutcome, Packager
from pipeline.batch_plan import BatchPlan, BookPlan
from pipeline.batch_progress import BatchDisplay
from pipeline.batch_report import DONE, FAILED, NOT_STARTED, PARTIAL, BatchReport, BookRow, package_facts
from pipeline.build import owner_of
from pipeline.build_report import BuildReport, SynthOutcome
from pipeline.build_stages import BuildOptions
from pipeline.errors import AudiobookError, BudgetError, FatalKeyError, StoppedError, SynthesisFailedError
from pipeline.models import is_offline
from pipeline.synth.batch import BookSynth, BookWork, run_batch_synthesis
from pipeline.synth.options import SynthOptions, SynthResult
from pipeline.synth.progress import ProgressSink, QuietProgress
from pipeline.synth.store import Store
from pipeline.tts.choice import BackendChoice, open_backend
from pipeline.workspace import claim

REPORT_NAME = "batch-report.json"


@dataclass
class BatchOptions:
    build: BuildOptions = field(default_factory=BuildOptions)
    report_path: Path | None = None  # default: next to the catalogue, else in the working directory
    display: BatchDisplay | None = None  # the batch's progress (a view per book)


@dataclass
class BatchResult:
    plan: BatchPlan
    report: BatchReport
    report_path: Path
    error: AudiobookError | None  # what the CLI raises after the closing table (None: all done)


def confirm_batch(plan: BatchPlan, options: BuildOptions) -> None:
    """The cap and the question apply to the batch total; a book's own cap to that book."""
    if is_offline(plan.backend):
        return
    for book in plan.books:
        own = book.entry.recipe.synthesis.max_credits
        if own is not None and book.to_spend > own:
            raise BudgetError(f"{book.entry.origin}: '{book.name}' needs {book.to_spend:,} credits, more than its "
                              f"synthesis.max_credits {own:,}")
    total = plan.to_spend
    if options.max_credits is not None and total > options.max_credits:
        raise BudgetError(f"this batch needs {total:,} credits, more than --max-credits {options.max_credits:,}")
    threshold = min(b.entry.recipe.synthesis.confirm_above for b in plan.books)
    if options.yes or total <= threshold:
        return
    question = f"Spend {total:,} credits on {len(plan.books)} books?"
    if options.confirm is None:
        raise BudgetError(f"{question} Not confirmed: run with --yes (no terminal to ask on)")
    if not options.confirm(question):
        raise BudgetError("cancelled: nothing was spent")


def batch_synth_options(plan: BatchPlan, choice: BackendChoice, cap: int | None) -> SynthOptions:
    """The key's limits for the whole batch: the first book's settings (a catalogue's
    `defaults:` give every book the same), with the tightest rate and open-task limits."""
    settings = [b.entry.recipe.synthesis for b in plan.books]
    first = SynthOptions.from_settings(settings[0], billed=choice.billed, max_credits=cap)
    return replace(first, rate_limit=min(s.rate_limit for s in settings), max_open=min(s.max_open for s in settings))


@contextlib.contextmanager
def held_stores(plan: BatchPlan, options: BuildOptions) -> Iterator[list[Store]]:
    """Every book's store, locked and claimed, before any request; released at the end."""
    stores: list[Store] = []
    try:
        for book in plan.books:
            store = book.workspace.open_store()
            stores.append(store)
            claim(store, book.workspace.output_dir, owner_of(book.entry.recipe, book.plan),
                  force=options.force_output)
            store.sync_plan(book.plan.jobs)
        yield stores
    finally:
        for store in stores:
            store.close()


class _Run:
    """One batch's moving parts, so the steps below take no long argument lists."""

    def __init__(self, plan: BatchPlan, choice: BackendChoice, options: BatchOptions) -> None:
        self.plan, self.choice, self.options = plan, choice, options
        self.packager: Packager | None = None if options.build.skip_package else Packager()
        self.synth: dict[int, BookSynth] = {}
        self.packaged: dict[int, PackageOutcome] = {}

    def book_done(self, outcome: BookSynth) -> None:
        """Called by the engine as each book's last segment settles: package it now."""
        i = outcome.index
        self.synth[i] = outcome
        if outcome.error is not None or self.packager is None:
            self.state(i, "stopped" if outcome.error is not None else "done")
            return
        book = self.plan.books[i]
        self.state(i, "packaging")
        self.packager.submit(i, book.entry.recipe, book.plan, lambda ok: self.state(i, "done" if ok else "failed"))

    def state(self, i: int, state: str) -> None:
        if self.options.display is not None:
            self.options.display.book_state(i, state)

    def sinks(self) -> list[ProgressSink]:
        display = self.options.display
        return [display.view(i) if display is not None else QuietProgress() for i in range(len(self.plan.books))]

    def synthesize(self, stores: list[Store]) -> None:
        works = [BookWork(b.name, b.plan.jobs, store, b.workspace.cache(), b.entry.recipe.synthesis.max_credits,
                          sink) for b, store, sink in zip(self.plan.books, stores, self.sinks(), strict=True)]
        options = batch_synth_options(self.plan, self.choice, self.options.build.max_credits)
        backend = open_backend(self.choice, workers=2)
        run_batch_synthesis(works, backend, options, on_book_done=self.book_done)

    def collect_packages(self) -> None:
        if self.packager is None:
            return
        for i in range(len(self.plan.books)):
            if self.packager.submitted(i):
                self.packaged[i] = self.packager.result(i)


def build_batch(plan: BatchPlan, choice: BackendChoice, options: BatchOptions, report_path: Path) -> BatchResult:
    """Build every book of `plan` (already planned and confirmed by the caller)."""
    run = _Run(plan, choice, options)
    report = BatchReport(choice.name)
    started = time.perf_counter()
    interrupted = False
    try:
        with held_stores(plan, options.build) as stores:
            try:
                run.synthesize(stores)
            except KeyboardInterrupt:
                interrupted = True
            report.wall_seconds["synthesize"] = round(time.perf_counter() - started, 3)
            if run.packager is not None:
                run.packager.close(cancel=interrupted)
            run.collect_packages()
            _write_book_reports(run)
    finally:
        if run.packager is not None:
            run.packager.close(cancel=True)
    report.wall_seconds["total"] = round(time.perf_counter() - started, 3)
    _fill_report(report, run)
    if interrupted:
        report.stopped = "interrupted (Ctrl-C); run the same command again to continue"
    report.write(report_path)
    if interrupted:
        raise KeyboardInterrupt()
    return BatchResult(plan, report, report_path, batch_error(report, run))


def _book_row(run: _Run, book: BookPlan) -> BookRow:
    synth = run.synth.get(book.index)
    packaged = run.packaged.get(book.index)
    result = synth.result if synth is not None else None
    done = result.done if result is not None else 0
    total = len({j.key for j in book.plan.jobs})
    seconds, check = package_facts(packaged.report if packaged is not None else None)
    status, message = _status(synth, packaged, run.packager is None)
    if status == PARTIAL and synth is not None and _untouched(synth):
        status = NOT_STARTED
    return BookRow(book.index, book.name, book.entry.origin, book.workspace.output_dir, status, total, done,
                   len(book.plan.active), book.plan.credits, _total_spent(result),
                   seconds, check, message)


def _untouched(synth: BookSynth) -> bool:
    """No segment done and nothing spent on it, ever: the batch stopped before this book."""
    return synth.result.done == 0 and _total_spent(synth.result) == 0


def _total_spent(result: SynthResult | None) -> int:
    """What the book's directory may have cost over all its runs (the ledger's figure)."""
    return int(result.spend_total.get("spent", 0)) if result is not None else 0


def _status(synth: BookSynth | None, packaged: PackageOutcome | None, skip_package: bool) -> tuple[str, str | None]:
    if synth is None:
        return NOT_STARTED, None
    error = synth.error
    if error is not None:
        message = error.message if isinstance(error, AudiobookError) else type(error).__name__
        return (FAILED if isinstance(error, SynthesisFailedError) else PARTIAL), message
    if skip_package:
        return DONE, None
    if packaged is None:
        return PARTIAL, "not packaged: run the same command again"
    if packaged.error is not None:
        return (PARTIAL if packaged.resumable else FAILED), packaged.error
    return DONE, None


def _fill_report(report: BatchReport, run: _Run) -> None:
    report.books = [_book_row(run, book) for book in run.plan.books]
    if run.synth:  # the engine's own time, first admission to the last book's end (no store opening)
        report.wall_seconds["engine"] = round(max(s.result.wall_time for s in run.synth.values()), 3)
    for synth in run.synth.values():
        for kind, count in synth.result.requests.items():
            report.requests[kind] = report.requests.get(kind, 0) + count
        report.refused += synth.result.refused


def _write_book_reports(run: _Run) -> None:
    """Each book's own report.json, as a single build writes it (status and check read it)."""
    for book in run.plan.books:
        synth = run.synth.get(book.index)
        if synth is None or _untouched(synth):
            continue  # nothing happened to it: `status` says "not started"
        totals = book.to_dict()["totals"]
        assert isinstance(totals, dict)
        report = BuildReport(totals, run.choice.name)
        message = synth.error.message if isinstance(synth.error, AudiobookError) else None
        report.record_synthesis(SynthOutcome(synth.result, message))
        packaged = run.packaged.get(book.index)
        report.package = packaged.report if packaged is not None else None
        if synth.error is not None:
            report.stop(synth.error)
        report.write(book.workspace.report_path, failing=synth.error is not None)


def batch_error(report: BatchReport, run: _Run) -> AudiobookError | None:
    """The one error the batch ends with: a dead key first, then what a rerun finishes
    (exit 3), then books that failed (exit 1); None when every book is done."""
    errors = [s.error for s in run.synth.values() if s.error is not None]
    fatal = next((e for e in errors if isinstance(e, FatalKeyError)), None)
    if fatal is not None:
        return fatal
    rows = report.books
    failed = [b for b in rows if b.status == FAILED]
    left = [b for b in rows if b.status in (PARTIAL, NOT_STARTED)]
    done = sum(1 for b in rows if b.status == DONE)
    if left:
        first = next((b.message for b in left if b.message), "")
        names = ", ".join(f"'{b.title}' ({b.status_text})" for b in left)
        return StoppedError(f"{done} of {len(rows)} books done; not finished: {names}"
                            + (f" — {first}" if first else "") + "; run the same command again to continue")
    if failed:
        names = "; ".join(f"'{b.title}': {b.message}" for b in failed)
        return SynthesisFailedError(f"{len(failed)} of {len(rows)} books failed ({names}); the others are done")
    return None
