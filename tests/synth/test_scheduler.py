"""Scheduler behaviour against the in-memory fake: retries, limits, credits, resume."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pipeline.errors import (
    CreditsExhaustedError,
    FatalKeyError,
    StoppedError,
    SynthesisFailedError,
)
from pipeline.models import TTSRequest
from pipeline.synth import ClipCache, Store
from pipeline.synth.status import store_summary
from tests.synth.fakes import FakeBackend, make_jobs
from tests.synth.helpers import run, states
from tests.synth.virtual import LoopClock, run_virtual


def test_all_jobs_done_and_cached(tmp_path: Path) -> None:
    jobs = make_jobs(20)
    fake = FakeBackend()
    result = run(jobs, fake, tmp_path)
    assert result.done == 20 and result.failed == 0 and result.remaining == 0
    assert result.credits_charged == result.credits_planned == sum(j.credits for j in jobs)
    assert fake.requests["create"] == 20 and result.requests["create"] == 20
    assert all(v == 1 for v in fake.creates_by_text.values())
    cache = ClipCache(tmp_path / "clips")
    assert all(cache.path(j.key) is not None for j in jobs)
    assert states(tmp_path)["done"] == 20


def test_second_run_makes_zero_requests(tmp_path: Path) -> None:
    jobs = make_jobs(10)
    run(jobs, FakeBackend(), tmp_path)
    again = FakeBackend()
    result = run(jobs, again, tmp_path)
    assert sum(again.requests.values()) == 0
    assert result.cached == 10 and result.done == 10 and result.total_requests == 0


def test_duplicate_keys_synthesized_once(tmp_path: Path) -> None:
    jobs = make_jobs(4)
    fake = FakeBackend()
    result = run(jobs + jobs[:2], fake, tmp_path)
    assert result.jobs == 4 and fake.requests["create"] == 4


def test_missing_clip_is_fetched_again_from_its_job(tmp_path: Path) -> None:
    jobs = make_jobs(3)
    fake = FakeBackend()
    run(jobs, fake, tmp_path)
    path = ClipCache(tmp_path / "clips").path(jobs[1].key)
    assert path is not None
    path.unlink()
    before = fake.requests["create"]
    result = run(jobs, fake, tmp_path)
    assert fake.requests["create"] == before and result.done == 3  # its job still answers: no new purchase
    assert result.requests["get"] >= 1 and result.requests["download"] == 1


def test_missing_clip_of_an_expired_job_is_recreated_under_the_policy(tmp_path: Path) -> None:
    jobs = make_jobs(3)
    run(jobs, FakeBackend(), tmp_path)
    path = ClipCache(tmp_path / "clips").path(jobs[1].key)
    assert path is not None
    path.unlink()
    fresh = FakeBackend()  # a service that no longer knows the old job ids (101008)
    result = run(jobs, fresh, tmp_path)
    assert fresh.requests["create"] == 1 and result.done == 3 and result.expired == 1
    assert result.credits_charged == jobs[1].credits  # the ledger counts the new purchase


def test_aimd_halves_on_101004_and_recovers(tmp_path: Path) -> None:
    jobs = make_jobs(40)
    fake = FakeBackend(max_open=3, task_time=lambda c: 0.05)
    result = run(jobs, fake, tmp_path, max_open=8, poll_initial=0.05)
    assert result.done == 40
    assert result.concurrency_limited > 0
    history = result.open_limit_history
    assert history[0] == 8 and min(history) <= 4
    low = history.index(min(history))
    assert max(history[low:]) > min(history)  # additive increase after the cut
    assert fake.max_seen_open <= 3
    assert fake.charged == result.credits_charged == result.credits_planned


def test_101003_backs_off_whole_budget(tmp_path: Path) -> None:
    jobs = make_jobs(16)
    fake = FakeBackend(rate_limit=10, task_time=lambda c: 0.02)
    result = run(jobs, fake, tmp_path, rate_limit=200.0, poll_initial=0.01)
    assert result.done == 16 and result.rate_limited > 0
    assert result.rate_limited == fake.requests["create_rate_limited"] + fake.requests["get_rate_limited"]
    # backing off keeps the storm short: refusals stay a minority of calls
    assert result.rate_limited < 0.5 * fake.api_calls
    assert all(v == 1 for v in fake.creates_by_text.values())


def test_transient_faults_retried(tmp_path: Path) -> None:
    jobs = make_jobs(5)
    texts = [j.segment.text for j in jobs]
    faults = {("create", texts[0]): 2, ("get", texts[1]): 3, ("download", texts[2]): 2}
    fake = FakeBackend(fault_times=faults)
    result = run(jobs, fake, tmp_path)
    assert result.done == 5 and result.retries == 7
    assert fake.creates_by_text[texts[0]] == 1


def test_transient_faults_exhaust_attempts(tmp_path: Path) -> None:
    jobs = make_jobs(3)
    fake = FakeBackend(fault_times={("create", jobs[0].segment.text): 99})
    with pytest.raises(SynthesisFailedError, match="1 of 3 segments failed") as info:
        run(jobs, fake, tmp_path, max_attempts=3)
    assert fake.requests["create"] == 3 + 2
    assert info.value.result.done == 2  # type: ignore[attr-defined]
    assert states(tmp_path)["failed"] == 1


def test_failed_status_recreated_then_reported(tmp_path: Path) -> None:
    jobs = make_jobs(4)
    t = [j.segment.text for j in jobs]
    fake = FakeBackend(fail_times={t[0]: 1, t[1]: 5})
    with pytest.raises(SynthesisFailedError, match="1 of 4") as info:
        run(jobs, fake, tmp_path, failed_retries=2)
    result = info.value.result  # type: ignore[attr-defined]
    assert fake.creates_by_text[t[0]] == 2 and fake.creates_by_text[t[1]] == 3
    assert result.done == 3 and result.failed == 1 and result.failed_tasks == 4 and result.recreated == 3
    assert result.credits_charged == fake.charged
    with Store.open(tmp_path) as store:
        summary = store_summary(store)
        failed = store.row(jobs[1].key)
    assert summary["failures"][0]["error"] == "task failed 3 times"
    assert failed is not None and failed.job_id is None  # the service said failed: nothing left to poll
    # a later run retries the failed job only
    fake2 = FakeBackend()
    assert run(jobs, fake2, tmp_path).done == 4 and fake2.requests["create"] == 1


def test_101008_recreates(tmp_path: Path) -> None:
    jobs = make_jobs(3)
    t = jobs[0].segment.text
    fake = FakeBackend(expire_times={t: 1}, url_expire_times={jobs[1].segment.text: 1})
    result = run(jobs, fake, tmp_path)
    assert result.done == 3 and result.expired == 2 and result.recreated == 2
    assert fake.creates_by_text[t] == 2 and fake.creates_by_text[jobs[1].segment.text] == 2


def test_101008_without_consent_fails(tmp_path: Path) -> None:
    jobs = make_jobs(2)
    fake = FakeBackend(expire_times={jobs[0].segment.text: 1})
    with pytest.raises(SynthesisFailedError):
        run(jobs, fake, tmp_path, recreate_expired=False)
    assert fake.creates_by_text[jobs[0].segment.text] == 1


def test_credits_exhausted_drains_then_resumes(tmp_path: Path) -> None:
    jobs = make_jobs(12, chars=150)  # 2 credits each, 24 planned
    fake = FakeBackend(credits=11, task_time=lambda c: 0.05)
    with pytest.raises(CreditsExhaustedError, match="credits still needed") as info:
        run(jobs, fake, tmp_path, max_open=4)
    result = info.value.result  # type: ignore[attr-defined]
    assert info.value.code == 100100 and info.value.exit_code == 3
    assert result.done == 5 and fake.charged == 10  # every created task was drained
    assert f"{24 - 10} credits still needed" in str(info.value)
    assert states(tmp_path) == {**states(tmp_path), "done": 5, "planned": 7, "submitted": 0}
    topped = FakeBackend()  # the top-up: a fresh balance
    again = run(jobs, topped, tmp_path)
    assert again.done == 12 and topped.requests["create"] == 7
    assert again.ambiguous_resubmits == 0


def test_credits_on_get_leaves_tasks_resumable(tmp_path: Path) -> None:
    jobs = make_jobs(4, chars=150)
    fake = FakeBackend(credits=4, credits_on_get=True, task_time=lambda c: 0.05)
    with pytest.raises(CreditsExhaustedError):
        run(jobs, fake, tmp_path, max_attempts=2)
    assert states(tmp_path)["submitted"] == 2
    fake.credits = 100  # the top-up: the same service now answers the queries
    result = run(jobs, fake, tmp_path)
    assert result.done == 4 and sum(fake.creates_by_text.values()) == 4  # no task created twice


def test_fatal_key_stops_at_once(tmp_path: Path) -> None:
    jobs = make_jobs(40)
    fake = FakeBackend(fatal_after=10, latency=0.005)
    with pytest.raises(FatalKeyError):
        run(jobs, fake, tmp_path, max_open=6)
    # after the first 101002 only requests already in flight may have been answered
    assert fake._after_fatal <= 6
    assert fake.api_calls <= 10 + 6


def test_polls_per_task_at_most_two_on_steady_service(tmp_path: Path) -> None:
    jobs = make_jobs(60, chars=300)
    fake = FakeBackend(task_time=lambda c: 0.1 + c * 0.0005, latency=0.002)
    result = run(jobs, fake, tmp_path, max_open=8, rate_limit=100.0, poll_initial=None)
    assert result.done == 60
    assert result.polls_per_task <= 2.0, result
    assert fake.requests["get"] <= 2 * 60


def test_programmatic_stop_keeps_job_ids_and_resumes(tmp_path: Path) -> None:
    jobs = make_jobs(30)
    fake = FakeBackend(task_time=lambda c: 0.3)

    async def main() -> None:
        from pipeline.synth import SynthOptions, synthesize

        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.2, stop.set)
        with Store.open(tmp_path) as store:
            opts = SynthOptions(rate_limit=200.0, max_open=8, stop_grace=0.5)
            await synthesize(jobs, fake, store, ClipCache(tmp_path / "clips"), opts, stop=stop, clock=LoopClock())

    with pytest.raises(StoppedError):
        run_virtual(main())  # the stop comes 0.2 s into the run however slow the machine: tasks are open
    counts = states(tmp_path)
    assert counts["submitting"] == 0 and counts["submitted"] > 0
    created = fake.requests["create"]
    result = run(jobs, fake, tmp_path)
    assert result.done == 30 and result.ambiguous_resubmits == 0
    assert fake.requests["create"] == 30 and created < 30


def test_open_slot_freed_before_download(tmp_path: Path) -> None:
    """A slow file host must not hold open-task slots: creates go out while downloads run."""

    class SlowDownloads(FakeBackend):
        downloading = 0
        creates_during_downloads = 0

        async def create(self, request: TTSRequest) -> str:
            self.creates_during_downloads += self.downloading > 0
            return await super().create(request)

        async def download(self, url: str) -> bytes:
            self.downloading += 1
            try:
                await asyncio.sleep(0.3)
                return await super().download(url)
            finally:
                self.downloading -= 1

    jobs = make_jobs(8)
    fake = SlowDownloads(max_open=1, task_time=lambda c: 0.02)
    result = run(jobs, fake, tmp_path, max_open=1, poll_initial=0.02)
    assert result.done == 8 and fake.max_seen_open <= 1
    assert result.concurrency_limited == 0
    assert fake.creates_during_downloads >= 1  # with the slot held through downloads this stays 0


def test_schedule_trades_polls_for_lag() -> None:
    from pipeline.synth.polling import plan_schedule

    samples = [0.3 + 1.2 * i / 63 for i in range(64)]
    tight, loose = plan_schedule(samples, 1.2), plan_schedule(samples, 1.9)
    assert tight.polls <= 1.2 and loose.polls <= 1.9
    assert loose.lag < tight.lag


def test_estimator_drops_length_scaling_when_durations_do_not_depend_on_it() -> None:
    from pipeline.synth.polling import PollEstimator

    est = PollEstimator(None)
    for i in range(40):
        chars = 40 + (i * 37) % 400
        d = 0.5 + 0.01 * (i % 5)  # length-independent
        est.observe(chars, d - 0.02, d + 0.02)
    assert abs(est.expected(40) - est.expected(440)) < 0.05
    est2 = PollEstimator(None)
    for i in range(40):
        chars = 40 + (i * 37) % 400
        d = 0.002 * (chars + 100)  # proportional to length
        est2.observe(chars, d - 0.01, d + 0.01)
    assert est2.expected(440) > 2 * est2.expected(40)


def test_gate_steps_down_by_one_at_known_limit_and_halves_below() -> None:
    from pipeline.synth.budget import AIMDGate

    gate = AIMDGate(8)
    gate.confirmed = 8
    gate.on_congestion(hold=0.0)
    assert gate.ceiling == 7
    gate.confirmed = 3  # fewer accepted tasks than our ceiling: the service's limit is lower
    gate.on_congestion(hold=0.0)
    assert gate.ceiling == 3


def test_creates_jump_the_poll_queue() -> None:
    from pipeline.synth.budget import TokenBucket

    async def main() -> list[str]:
        bucket = TokenBucket(50.0)
        await bucket.acquire()  # empty it
        order: list[str] = []

        async def take(name: str, urgent: bool) -> None:
            await bucket.acquire(urgent=urgent)
            order.append(name)

        polls = [asyncio.create_task(take(f"poll{i}", False)) for i in range(3)]
        await asyncio.sleep(0)
        create = asyncio.create_task(take("create", True))
        await asyncio.gather(*polls, create)
        return order

    order = run_virtual(main())
    assert order.index("create") <= 1  # at most the poll already holding a token goes first
