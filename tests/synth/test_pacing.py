"""Pacer policy: when probes may go, what they must bet, and the one scout per run."""

from __future__ import annotations

import pytest

from pipeline.synth.budget import AIMDGate, TokenBucket
from pipeline.synth.clock import ManualClock
from pipeline.synth.options import Stats, SynthOptions
from pipeline.synth.pacing import Pacer


def _pacer(rate: float, ends_per_s: float, lowered: bool = True, **opts: float) -> Pacer:
    """A pacer whose occupancy has seen tasks end at `ends_per_s` for a while; `lowered`: a
    101004 put the gate's ceiling below max_open (the only room probes may fill). Its clock
    stands still, so the odds do not drift while a busy machine runs the test. Probes are
    opt-in: these pacers have probe_odds 0.1 unless told otherwise."""
    clock = ManualClock()
    gate = AIMDGate(9, clock=clock)
    if lowered:
        gate.limit = 8.0
    pacer = Pacer(SynthOptions(**{"probe_odds": 0.1, **opts}), TokenBucket(rate, clock=clock), gate, Stats(), clock)
    now = clock.time()
    occ = pacer.occupancy
    occ.first_end = now - 10.0
    for i in range(int(ends_per_s * 4)):
        occ.ended.append(now - 4.0 + (i + 0.5) / ends_per_s)
    for i in range(8):
        occ.add(f"t{i}", 100, now - 0.5)
    occ.at = now - 0.5  # the filter has run since they were created
    pacer.gate.open = 8
    return pacer


def test_no_probe_when_the_request_budget_is_the_bottleneck() -> None:
    tight = _pacer(rate=10.0, ends_per_s=8.0)  # creates + polls alone need 16 req/s
    assert tight.probe_odds(tight.clock.time()) == float("inf") and not tight.may_probe()


def test_less_spare_budget_asks_surer_probes() -> None:
    roomy, snug = _pacer(rate=200.0, ends_per_s=8.0), _pacer(rate=20.0, ends_per_s=8.0)
    assert roomy.probe_odds(roomy.clock.time()) == pytest.approx(0.1)  # the configured floor
    assert 0.1 < snug.probe_odds(snug.clock.time()) < 1.0


def test_probes_can_be_switched_off_and_never_go_past_max_open() -> None:
    off = _pacer(rate=200.0, ends_per_s=8.0, probe_odds=0.0)
    assert not off.may_probe()
    on = _pacer(rate=200.0, ends_per_s=8.0)
    assert on.may_probe()  # 8 tasks half a second old, tasks ending at 8/s: one has surely ended
    at_ceiling = _pacer(rate=200.0, ends_per_s=8.0, lowered=False)
    assert not at_ceiling.may_probe()  # the ceiling is max_open: a hard ceiling, no probe


def test_one_scout_per_run_and_none_without_probes() -> None:
    pacer = _pacer(rate=20.0, ends_per_s=8.0)
    assert pacer.take_scout() and not pacer.take_scout()
    assert not _pacer(rate=20.0, ends_per_s=8.0, probe_odds=0.0).take_scout()
    assert _pacer(rate=20.0, ends_per_s=8.0, lowered=False).take_scout()  # it also teaches the poll schedule


def test_the_odds_a_probe_at_the_limit_needs_follow_the_refusals() -> None:
    """An integral controller: refusals raise the odds needed, requests lower them, so they settle
    where refusals are PROBE_AIM of the budget; clamped to [probe_odds or the floor, ceiling]."""
    from pipeline.synth.budget import RefusalBudget
    from pipeline.synth.pacing import ODDS_CEILING, ODDS_FLOOR, ODDS_START

    pacer = _pacer(rate=20.0, ends_per_s=8.0, probe_odds=0.0, probe_at_limit=True)
    pacer.refusals = RefusalBudget(0.1, pacer.bucket)
    assert pacer.limit_odds() == pytest.approx(ODDS_START)
    pacer.bucket.granted = 100  # a hundred requests, no refusal: bolder
    bolder = pacer.limit_odds()
    assert bolder < ODDS_START
    pacer.refusals.refused = 5
    assert pacer.limit_odds() > bolder
    pacer.refusals.refused = 500
    assert pacer.limit_odds() == ODDS_CEILING
    pacer.bucket.granted = 100_000
    assert pacer.limit_odds() == ODDS_FLOOR
    pacer.refusals.refused = 510  # anti-windup: the way back up starts at once
    assert pacer.limit_odds() > ODDS_FLOOR


def test_the_bucket_reports_how_long_it_sat_full() -> None:
    clock = ManualClock()
    bucket = TokenBucket(10.0, clock=clock)
    clock.advance(0.5)
    assert bucket.idle_for() == pytest.approx(0.5)  # full from the start
    bucket._tokens, bucket._last = 0.0, clock.monotonic()  # a token just taken
    assert bucket.idle_for() == 0.0
    clock.advance(0.15)
    assert bucket.idle_for() == pytest.approx(0.05)  # refilled after 0.1 s


def test_a_reserved_token_is_left_for_creates() -> None:
    """Probes at the limit keep one token for creates: a poll takes a token only while one
    more stays, so a create never waits behind it; the rate over time is unchanged."""
    import asyncio

    from tests.synth.virtual import LoopClock, run_virtual

    async def main() -> tuple[float, float]:
        bucket = TokenBucket(10.0, clock=LoopClock(), reserve=1.0)
        loop = asyncio.get_running_loop()
        start = loop.time()
        await bucket.acquire()  # two tokens: the poll takes one, one stays
        await bucket.acquire(urgent=True)  # the create takes the reserved one at once
        created = loop.time() - start
        await bucket.acquire()  # the next poll waits until two tokens are back (0.2 s)
        return created, loop.time() - start

    created, polled = run_virtual(main())
    assert created == 0.0 and polled == pytest.approx(0.2, abs=1e-6)
