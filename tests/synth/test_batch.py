"""The batch engine against the real emulator: one key's limits shared, books in order,
whole books first when credits run out, a shared text bought once."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from pipeline.errors import CreditsExhaustedError
from pipeline.models import Job
from pipeline.synth import ClipCache, Store, SynthOptions
from pipeline.synth.batch import BookSynth, BookWork, run_batch_synthesis
from pipeline.tts.client import AudioCleanerClient
from tests.synth.fakes import make_jobs

LIMITS: dict[str, Any] = {"rate_limit": 20, "max_open": 4, "task_time": (0.05, 0.15)}


def _books(jobs: list[list[Job]], root: Path, stack: ExitStack) -> list[BookWork]:
    books = []
    for i, book_jobs in enumerate(jobs):
        out = root / f"book{i}"
        store = stack.enter_context(Store.open(out / ".audiobook" / "state.sqlite"))
        books.append(BookWork(f"book {i}", book_jobs, store, ClipCache(out / "clips")))
    return books


def _run(em: Any, jobs: list[list[Job]], root: Path, done: list[BookSynth] | None = None,
         **opts: Any) -> list[BookSynth]:
    options = SynthOptions(**{"rate_limit": 15.0, "max_open": 4, **opts})
    with ExitStack() as stack:
        books = _books(jobs, root, stack)
        return run_batch_synthesis(books, AudioCleanerClient(em.key, em.url), options,
                                   on_book_done=done.append if done is not None else None)


def _split(jobs: list[Job], sizes: list[int]) -> list[list[Job]]:
    out, at = [], 0
    for n in sizes:
        out.append(jobs[at:at + n])
        at += n
    return out


def test_three_books_one_key_every_clip_once(emulator: Callable[..., Any], tmp_path: Path) -> None:
    em = emulator(**LIMITS)
    books = _split(make_jobs(30, chars=150, backend="audiocleaner"), [10, 12, 8])
    finished: list[BookSynth] = []
    outcomes = _run(em, books, tmp_path, finished)
    stats = em.stats()
    assert [o.error for o in outcomes] == [None, None, None]
    assert [o.result.done for o in outcomes] == [10, 12, 8]
    assert stats["tasks_created"] == 30 and stats["duplicate_creates"] == 0
    assert stats["credits_charged"] == sum(o.result.credits_charged for o in outcomes) == 60
    assert sorted(o.index for o in finished) == [0, 1, 2]
    assert stats["concurrency_limited"] == 0  # the books together stayed inside the key's 4 open tasks
    again = _run(em, books, tmp_path)
    assert all(o.result.total_requests == 0 for o in again)


def test_shared_text_is_bought_once(emulator: Callable[..., Any], tmp_path: Path) -> None:
    em = emulator(**LIMITS)
    jobs = make_jobs(9, chars=150, backend="audiocleaner")
    books = [jobs[:5], [jobs[2], *jobs[5:]]]  # book 1 has book 0's third segment too
    outcomes = _run(em, books, tmp_path)
    assert [o.result.done for o in outcomes] == [5, 5]
    assert em.stats()["tasks_created"] == 9
    clip = ClipCache(tmp_path / "book1" / "clips").path(jobs[2].key)
    assert clip is not None and clip.read_bytes() == ClipCache(tmp_path / "book0" / "clips").path(
        jobs[2].key).read_bytes()  # type: ignore[union-attr]


def test_credits_out_leaves_earlier_books_whole(emulator: Callable[..., Any], tmp_path: Path) -> None:
    # 2 credits a segment; 3 books of 6; 18 credits pay for book 0 and half of book 1
    em = emulator(**{**LIMITS, "keys": [{"key": "k1", "credits": 18}]})
    books = _split(make_jobs(18, chars=150, backend="audiocleaner"), [6, 6, 6])
    outcomes = _run(em, books, tmp_path, max_attempts=3)
    assert outcomes[0].error is None and outcomes[0].result.done == 6
    assert isinstance(outcomes[1].error, CreditsExhaustedError)
    assert (outcomes[1].result.done, outcomes[2].result.done) == (3, 0)
    assert outcomes[2].result.total_requests == 0  # the third book was never started
    assert em.stats()["credits_charged"] == 18
    em.topup(100)
    again = _run(em, books, tmp_path)
    assert [o.error for o in again] == [None, None, None]
    stats = em.stats()
    assert stats["credits_charged"] == 36 and stats["duplicate_creates"] == 0
