"""The injectable clocks, and the budget driven by one: exact, whatever the machine's load."""

from __future__ import annotations

import asyncio
import threading

import pytest

from pipeline.synth.budget import AIMDGate, TokenBucket
from pipeline.synth.clock import ManualClock, SteppedClock, sleep_or_wake


def test_bucket_paces_acquires_exactly_on_a_manual_clock() -> None:
    clock = ManualClock()
    bucket = TokenBucket(2.0, clock=clock)

    async def main() -> None:
        for _ in range(5):
            await bucket.acquire()

    asyncio.run(main())
    assert clock.now - 1000.0 == pytest.approx(2.0)  # one token at once, then one per 0.5 s
    assert bucket.granted == 5


def test_a_penalty_pauses_the_whole_budget_on_the_clock() -> None:
    clock = ManualClock()
    bucket = TokenBucket(10.0, clock=clock)

    async def main() -> float:
        await bucket.acquire()
        delay = bucket.penalize()
        before = clock.now
        await bucket.acquire()
        assert clock.now - before >= delay - 1e-9
        return delay

    assert asyncio.run(main()) >= 0.1  # at least one token's time


def test_the_gate_cuts_once_per_hold_window_of_its_clock() -> None:
    clock = ManualClock()
    gate = AIMDGate(8, clock=clock)
    gate.confirmed = 6  # refused with 6 accepted tasks open: halving, not the cap at 6, binds
    gate.on_congestion(hold=0.25)
    gate.on_congestion(hold=0.25)  # same instant: one cut
    assert gate.ceiling == 4
    clock.advance(0.3)
    gate.on_congestion(hold=0.25)
    assert gate.ceiling == 2


def test_stepped_clock_wakes_sleepers_on_another_thread_only_when_advanced() -> None:
    clock = SteppedClock()
    woke = threading.Event()

    async def sleeper() -> None:
        await clock.sleep(1.0)
        woke.set()

    thread = threading.Thread(target=lambda: asyncio.run(sleeper()))
    thread.start()
    while not clock.sleeping:
        threading.Event().wait(0.005)
    clock.advance(0.9)
    assert not woke.wait(0.1)  # not due yet: it sleeps however long the machine takes
    clock.advance(0.1)
    thread.join(timeout=60)
    assert woke.is_set() and clock.sleeping == 0


def test_sleep_or_wake_returns_at_the_wake_without_time_moving() -> None:
    clock = SteppedClock()

    async def main() -> None:
        wake = asyncio.Event()
        asyncio.get_running_loop().call_soon(wake.set)
        await sleep_or_wake(clock, 60.0, wake)  # would hang (time never moves) if the wake were missed

    asyncio.run(main())
    assert clock.now == 1000.0


def test_sleep_or_wake_returns_at_any_of_its_wakes() -> None:
    async def main() -> bool:
        clock = ManualClock()
        first, second = asyncio.Event(), asyncio.Event()
        asyncio.get_running_loop().call_soon(second.set)
        await sleep_or_wake(clock, 60.0, first, second)  # would hang if the second were ignored
        return first.is_set()

    assert asyncio.run(main()) is False
