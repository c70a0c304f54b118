"""End to end: the scheduler driving the real client against the real emulator (loopback)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipeline.errors import CreditsExhaustedError, TasksStalledError
from pipeline.synth import (
    ClipCache,
    Store,
    SynthOptions,
    SynthResult,
    run_synthesis,
    synthesize,
)
from pipeline.tts.client import AudioCleanerClient
from tests.synth.fakes import make_jobs

LIMITS: dict[str, Any] = {"rate_limit": 20, "max_open": 8, "task_time": (0.3, 1.5)}


def _run(em: Any, jobs: list, out: Path, **opts: Any) -> SynthResult:
    options = SynthOptions(**{"rate_limit": 15.0, "max_open": 8, **opts})
    with Store.open(out) as store:
        return run_synthesis(jobs, AudioCleanerClient(em.key, em.url), store, ClipCache(out / "clips"), options)


def test_steady_service_no_duplicates_exact_credits(emulator: Callable[..., Any], tmp_path: Path) -> None:
    em = emulator(**LIMITS)
    jobs = make_jobs(24, chars=180, backend="audiocleaner")
    result = _run(em, jobs, tmp_path)
    stats = em.stats()
    assert result.done == 24
    assert stats["duplicate_creates"] == 0
    assert stats["credits_charged"] == result.credits_planned == result.credits_charged
    assert result.polls_per_task <= 2.0
    assert all(ClipCache(tmp_path / "clips").path(j.key).suffix == ".mp3" for j in jobs)  # type: ignore[union-attr]
    stored = [p for p in tmp_path.rglob("*") if p.is_file()]  # the store, its WAL, clips: all of it
    assert any(p.suffix == ".sqlite" for p in stored)
    for path in stored:  # the key is never written anywhere
        assert em.key.encode() not in path.read_bytes()
    again = _run(em, jobs, tmp_path)
    assert again.total_requests == 0 and em.stats()["tasks_created"] == 24


def test_credits_run_out_then_top_up(emulator: Callable[..., Any], tmp_path: Path) -> None:
    em = emulator(**{**LIMITS, "task_time": (0.1, 0.3), "keys": [{"key": "k1", "credits": 12}]})
    jobs = make_jobs(12, chars=150, backend="audiocleaner")  # 2 credits each
    with pytest.raises(CreditsExhaustedError) as info:
        _run(em, jobs, tmp_path, max_attempts=3)
    assert "credits still needed" in str(info.value)
    em.topup(100)
    result = _run(em, jobs, tmp_path)
    stats = em.stats()
    assert result.done == 12 and stats["duplicate_creates"] == 0
    assert stats["credits_charged"] == 24


def test_faults_are_survived(emulator: Callable[..., Any], tmp_path: Path) -> None:
    faults = {"http_503": 0.1, "drop": 0.05, "task_failed": 0.1, "url_expire": 0.1, "truncated_download": 0.1}
    em = emulator(**{**LIMITS, "task_time": (0.05, 0.2), "faults": faults, "url_ttl": 0.0})
    jobs = make_jobs(20, chars=120, backend="audiocleaner")
    result = _run(em, jobs, tmp_path, failed_retries=3)
    stats = em.stats()
    assert result.done == 20
    assert result.credits_charged >= result.credits_planned
    # every duplicate create is accounted for: a counted re-creation or a lost create reply
    assert stats["duplicate_creates"] <= result.recreated + result.uncertain_creates
    assert result.recreated > 0 and result.retries > 0


def test_async_entry_point(emulator: Callable[..., Any], tmp_path: Path) -> None:
    em = emulator()
    jobs = make_jobs(4, backend="audiocleaner")

    async def main() -> SynthResult:
        async with AudioCleanerClient(em.key, em.url) as client:
            with Store.open(tmp_path) as store:
                return await synthesize(jobs, client, store, ClipCache(tmp_path / "c"), SynthOptions())

    assert asyncio.run(main()).done == 4


def test_trickling_downloads_stall_within_their_deadline_and_keep_the_job(
        emulator: Callable[..., Any], tmp_path: Path) -> None:
    """A file host that sends one byte every 2 s: each download fails on its rate floor, the job
    is left for the next run under its job id, and nothing is created twice."""
    em = emulator(**{**LIMITS, "faults": {"trickle@download": 1.0}, "trickle_seconds": 2.0})
    jobs = make_jobs(3, backend="audiocleaner")
    client = AudioCleanerClient(em.key, em.url, download_grace=0.3, download_min_rate=2000)
    options = SynthOptions(rate_limit=15.0, max_open=8, max_attempts=2, max_refetch=1, retry_base=0.05)
    with Store.open(tmp_path) as store:
        with pytest.raises(TasksStalledError, match="could not be finished") as info:
            run_synthesis(jobs, client, store, ClipCache(tmp_path / "clips"), options)
        rows = store.rows()
    assert info.value.result.stalled == 3  # type: ignore[attr-defined]
    assert all(r.state == "submitted" and r.job_id and "download kept failing" in (r.error or "") for r in rows)
    stats = em.stats()
    assert stats["tasks_created"] == 3 and stats["duplicate_creates"] == 0
    em.set_faults({})
    assert _run(em, jobs, tmp_path).done == 3 and em.stats()["tasks_created"] == 3
