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
