"""The refusal budget: refused requests (101003 + 101004) stay a bounded share of all requests.

Runs on virtual time (tests/synth/virtual.py), so the counts do not depend on the machine."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pipeline.synth import SynthOptions
from pipeline.synth.budget import AIMDGate, RefusalBudget, TokenBucket
from pipeline.synth.clock import ManualClock
from tests.synth.fakes import FakeBackend, make_jobs
from tests.synth.helpers import run


def _no_duplicates(fake: FakeBackend) -> bool:
    return all(v == 1 for v in fake.creates_by_text.values())


def test_probes_are_opt_in() -> None:
    assert SynthOptions().probe_odds == 0.0 and SynthOptions().refusal_budget == pytest.approx(0.1)


@pytest.mark.parametrize("odds", [0.0, 0.1, 0.5])
def test_a_lower_open_task_limit_costs_at_most_the_budget(tmp_path: Path, odds: float) -> None:
    """The service allows 3 open tasks, we were told 8: AIMD finds 3, creeps past it only on budget."""
    jobs = make_jobs(120)
    fake = FakeBackend(max_open=3, task_time=lambda c: 0.3, latency=0.002)
    result = run(jobs, fake, tmp_path, max_open=8, poll_initial=None, rate_limit=60.0, probe_odds=odds)
    assert result.done == 120 and _no_duplicates(fake)
    assert fake.charged == result.credits_charged == result.credits_planned
    assert result.refused >= 1  # it did meet the limit
    assert result.refused <= 0.10 * result.api_requests, result.refusal_line()
    if odds == 0.0:
        assert result.probes_landed == result.probes_refused == 0


def test_a_lower_rate_limit_is_found_and_kept(tmp_path: Path) -> None:
    """The service allows 5 req/s, we were told 20: the budget slows down instead of re-hitting it."""
    jobs = make_jobs(60)
    fake = FakeBackend(rate_limit=5, task_time=lambda c: 0.5, latency=0.002)
    result = run(jobs, fake, tmp_path, max_open=8, poll_initial=None, rate_limit=20.0)
    assert result.done == 60 and _no_duplicates(fake)
    assert result.rate_limited >= 1
    assert result.refused <= 0.10 * result.api_requests, result.refusal_line()


def test_no_budget_means_no_probes_and_no_creep_past_a_refusal(tmp_path: Path) -> None:
    jobs = make_jobs(60)
    fake = FakeBackend(max_open=3, task_time=lambda c: 0.3, latency=0.002)
    result = run(jobs, fake, tmp_path, max_open=8, poll_initial=None, rate_limit=60.0, probe_odds=0.5,
                 refusal_budget=0.0)
    assert result.done == 60 and result.probes_landed == result.probes_refused == 0
    assert result.concurrency_limited <= 8 - 3  # the opening burst of creates meets the limit, never again


def test_gate_creeps_past_where_it_was_refused_only_with_room() -> None:
    async def main() -> tuple[int, int]:
        gate = AIMDGate(8, clock=ManualClock())
        gate.confirmed = 3
        gate.on_congestion()  # refused with 3 of ours open: the service's limit is about 3
        room = False
        gate.may_risk = lambda: room
        for _ in range(50):
            await gate.on_success()
        held = gate.ceiling
        room = True
        for _ in range(50):
            await gate.on_success()
        return held, gate.ceiling

    held, later = asyncio.run(main())
    assert held == 3 and later == 8


def test_refusal_budget_counts_against_requests_granted() -> None:
    bucket = TokenBucket(10.0, clock=ManualClock())
    budget = RefusalBudget(0.1, bucket)
    assert not budget.has_room()  # no request yet: nothing to risk
    bucket.granted = 11  # 0.9 * 0.1 * 12 = 1.08: room for one
    assert budget.has_room()
    budget.note()
    assert not budget.has_room()
    bucket.granted = 24
    assert budget.has_room()


def test_refusal_budget_counts_probes_in_flight_as_refused() -> None:
    """Several probes out at once must fit the budget even if every one is refused."""
    bucket = TokenBucket(10.0, clock=ManualClock())
    out = [0]
    budget = RefusalBudget(0.1, bucket, lambda: out[0])
    bucket.granted = 33  # 0.9 * 0.1 * 34 = 3.06: room for three risks
    out[0] = 2
    assert budget.has_room()  # two out, a third may go
    out[0] = 3
    assert not budget.has_room()
    budget.note()  # one of them was refused (no longer in flight)
    out[0] = 2
    assert not budget.has_room()
    out[0] = 1
    assert budget.has_room()


def test_a_rate_limit_slows_the_bucket_and_it_recovers_on_budget() -> None:
    bucket = TokenBucket(10.0, clock=ManualClock())
    bucket.penalize()
    assert bucket.rate == pytest.approx(7.5)
    bucket.may_risk = lambda: False
    bucket.success()
    assert bucket.rate == pytest.approx(7.5)
    bucket.may_risk = lambda: True
    for _ in range(100):
        bucket.success()
    assert bucket.rate == pytest.approx(10.0)
