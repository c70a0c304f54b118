"""The free-slot filter behind probe creates, the gate's probe mode, and probes end to end."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from pipeline.synth.budget import AIMDGate
from pipeline.synth.durations import DurationModel
from pipeline.synth.occupancy import RATE_WINDOW, Occupancy
from tests.synth.fakes import FakeBackend, make_jobs
from tests.synth.helpers import run
from tests.synth.virtual import run_virtual


def _busy(n: int = 8, rate: float = 8.0, now: float = 100.0) -> Occupancy:
    """n open tasks created just now, after a history of `rate` task ends seen per second."""
    occ = Occupancy(now)
    history = int(rate * RATE_WINDOW)
    occ.first_end = now - RATE_WINDOW
    for i in range(history):
        occ.ended.append(now - RATE_WINDOW + (i + 0.5) * RATE_WINDOW / history)
    for i in range(n):
        occ.add(f"t{i}", 100, now)
    return occ


def test_known_free_slot_is_certain_and_unknown_rate_never_guesses() -> None:
    occ = Occupancy(0.0)
    assert occ.p_free(0.0, held=3, ceiling=8) == 1.0
    for i in range(8):
        occ.add(f"t{i}", 100, 0.0)
    occ.ended.clear()  # no task seen ending yet
    assert occ.p_free(5.0, held=8, ceiling=8) == 0.0


def test_odds_grow_with_time_and_answers_reset_them() -> None:
    occ = _busy()
    p = [occ.p_free(100.0 + dt, held=8, ceiling=8) for dt in (0.0, 0.05, 0.2, 1.0)]
    assert p[0] == 0.0 and p[0] < p[1] < p[2] < p[3] <= 1.0
    occ.refused(101.0, others=8, ceiling=8)  # none had ended: X = 0 again
    assert occ.p_free(101.0, held=8, ceiling=8) == pytest.approx(0.0)
    occ.landed(101.01, others=8, ceiling=8)  # one had ended by then...
    occ.add("new", 100, 101.01)  # ...and the probe took its slot
    assert occ.p_free(101.01, held=9, ceiling=8) < 0.1  # a second free slot is not implied
    assert occ.unseen[0] == pytest.approx(0.0)  # but X >= 1 is known


def test_a_query_that_finds_a_task_ended_takes_one_off() -> None:
    occ = _busy(n=9)
    occ.landed(100.5, others=8, ceiling=8)  # X >= 1
    two_or_more = sum(occ.unseen[2:])
    assert 0.0 < two_or_more < 1.0
    occ.revealed("t0", 100.5)  # one of them, seen: one task and one unseen end fewer
    assert len(occ) == 8
    assert occ.p_free(100.5, held=8, ceiling=8) == pytest.approx(two_or_more)


def test_refusal_bounds_the_youngest_tasks_durations() -> None:
    occ = Occupancy(0.0)
    occ.add("old", 100, 0.0)
    occ.add("young", 100, 1.0)
    occ.refused(1.5, others=2, ceiling=1)
    assert occ.running_age("young") == pytest.approx(0.5) and occ.running_age("old") == 0.0


def test_gate_grants_one_probe_at_a_time_and_only_below_max_open() -> None:
    async def main() -> tuple[bool, bool, bool, bool]:
        gate = AIMDGate(3)
        gate.limit = 1.0  # a 101004 lowered the ceiling below max_open
        first = await gate.acquire()  # a known free slot: not a probe
        probe = await gate.acquire(lambda: True)
        waiting = asyncio.create_task(gate.acquire(lambda: True))
        await asyncio.sleep(0.05)
        second_blocked = not waiting.done()  # one probe is out already
        await gate.probe_done()
        assert await asyncio.wait_for(waiting, 1.0) is True  # the room below max_open: a probe
        await gate.probe_done()
        capped = asyncio.create_task(gate.acquire(lambda: True))
        await asyncio.sleep(0.05)
        hard = not capped.done()  # 3 held = max_open: no probe, whatever the odds
        capped.cancel()
        return first, probe, second_blocked, hard

    first, probe, blocked, hard = run_virtual(main())  # waits in exact time, whatever the load
    assert first is False and probe is True and blocked and hard


@pytest.mark.parametrize("odds", [0.1, 0.0])
def test_max_open_is_a_hard_ceiling_when_the_service_allows_more(tmp_path: Path, odds: float) -> None:
    """The service would accept every probe (its limit is higher): tasks open stay <= max_open."""
    jobs = make_jobs(60)
    fake = FakeBackend(task_time=lambda c: 0.1, latency=0.002)
    result = run(jobs, fake, tmp_path, max_open=4, poll_initial=None, rate_limit=400.0, probe_odds=odds)
    assert result.done == 60 and fake.max_seen_open <= 4
    assert all(v == 1 for v in fake.creates_by_text.values())
    assert fake.charged == result.credits_charged == result.credits_planned
    assert result.probes_landed == result.probes_refused == 0


def test_probes_fill_the_room_below_max_open_when_the_service_limit_is_lower(tmp_path: Path) -> None:
    jobs = make_jobs(60)
    fake = FakeBackend(max_open=3, task_time=lambda c: 0.1, latency=0.002)
    result = run(jobs, fake, tmp_path, max_open=4, poll_initial=None, rate_limit=400.0, probe_odds=0.1)
    assert result.done == 60 and fake.max_seen_open <= 3
    assert all(v == 1 for v in fake.creates_by_text.values())
    assert fake.charged == result.credits_charged == result.credits_planned
    assert result.concurrency_limited >= 1 and result.probes_landed > 0
    assert fake.requests["create"] == 60 + result.probes_refused + fake.requests["create_concurrency_limited"] \
        - result.probes_refused


class _Odds(DurationModel):
    """A duration model whose odds are given: every task has ended with odds `p`."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def ended_odds(self, age: float, running: float) -> float:
        return self.p


def test_aged_odds_are_a_poisson_binomial_over_the_open_tasks() -> None:
    occ = Occupancy(0.0)
    for i in range(3):
        occ.add(f"t{i}", 100, 0.0)
    assert occ.p_free_aged(1.0, held=3, ceiling=4, model=_Odds(0.0)) == 1.0  # a slot is known free
    assert occ.p_free_aged(1.0, held=3, ceiling=3, model=_Odds(0.5)) == pytest.approx(1 - 0.5 ** 3)
    assert occ.p_free_aged(1.0, held=4, ceiling=3, model=_Odds(0.5)) == pytest.approx(0.5)  # 2 of 3
    assert occ.p_free_aged(1.0, held=5, ceiling=3, model=_Odds(0.5)) == pytest.approx(0.125)


def test_a_refusal_proves_tasks_running_only_when_it_leaves_no_doubt() -> None:
    occ = Occupancy(0.0)
    for i in range(4):
        occ.add(f"t{i}", 100, float(i))
    occ.refused(10.0, others=4, ceiling=4)  # four open, limit four: every one was running
    assert [occ.running_age(f"t{i}", proven=True) for i in range(4)] == [10.0, 9.0, 8.0, 7.0]
    occ.add("t4", 100, 10.0)
    occ.refused(12.0, others=5, ceiling=4)  # five open: one may have ended, which is unknown
    assert occ.running_age("t4") == 2.0 and occ.running_age("t4", proven=True) == 0.0
    assert occ.running_age("t0", proven=True) == 10.0


def test_probes_at_the_limit_keep_every_promise(tmp_path: Path) -> None:
    """Balanced key (20 req/s, 8 open, tasks 0.3-1.5 s): every job done once, refusals in budget."""
    rng = random.Random(7)
    jobs = make_jobs(160)
    fake = FakeBackend(max_open=8, rate_limit=20, task_time=lambda c: rng.uniform(0.3, 1.5), latency=0.003)
    result = run(jobs, fake, tmp_path, max_open=8, rate_limit=20.0, poll_initial=None, probe_at_limit=True)
    assert result.done == 160 and all(v == 1 for v in fake.creates_by_text.values())
    assert fake.charged == result.credits_charged == result.credits_planned
    assert result.probes_landed > 0 and fake.max_seen_open <= 8
    assert result.refused <= 0.1 * fake.api_calls
    assert result.refused == result.probes_refused + result.rate_limited + result.concurrency_limited


def test_probes_at_the_limit_stay_within_their_room_when_the_service_allows_more(tmp_path: Path) -> None:
    """probe_at_limit trusts max_open to be the key's limit; if the service has more room, tasks
    that have probably ended unseen still bound what is held: at most 2 * max_open."""
    rng = random.Random(3)
    jobs = make_jobs(120)
    fake = FakeBackend(task_time=lambda c: rng.uniform(0.3, 1.5), latency=0.003)
    result = run(jobs, fake, tmp_path, max_open=4, rate_limit=20.0, poll_initial=None, probe_at_limit=True)
    assert result.done == 120 and all(v == 1 for v in fake.creates_by_text.values())
    assert fake.max_seen_open <= 8


def test_the_filler_never_picks_a_task_just_seen_running() -> None:
    occ = Occupancy(0.0)
    occ.add("old", 100, 0.0)
    occ.add("young", 100, 9.0)
    occ.saw_running("old", 9.9)  # seen running 0.1 s ago, at age 9.9
    assert occ.least_seen(10.0) == "young"  # unseen for all of its 1 s life
    assert occ.nearest_odds(10.0, _Odds(0.75), 0.75, unseen_for=0.5) == ("young", 0.75)
    assert occ.nearest_odds(10.0, _Odds(0.75), 0.75, unseen_for=2.0) is None
    occ.saw_running("young", 9.99)
    assert occ.least_seen(10.0) is None  # both seen within a quarter of their age
