"""The `emulator` fixture: start real emulators on free loopback ports, stopped at test end.

    def test_x(emulator):
        em = emulator(rate_limit=2, faults={"drop": 0.5, "slow@create": 0.2})
        client = AudioCleanerClient(em.key, em.url)
        em.set_faults({"stuck": 1.0})   # replaces them at run time ({} or no args clears)
        em = emulator(clock=SteppedClock())  # time moves only on clock.advance(seconds)

Defaults favour speed (tone audio, 20-50 ms tasks); pass audio="speech" for real speech.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pipeline.emulator import RunningEmulator, build_config, start_emulator
from pipeline.synth.clock import Clock, SteppedClock

TEST_DEFAULTS: dict[str, Any] = {"task_time": (0.02, 0.05), "audio": "tone", "workers": 4}


@dataclass
class Handle:
    url: str
    key: str  # the first configured key
    running: RunningEmulator

    def stats(self) -> dict[str, Any]:
        return self.running.stats()

    def topup(self, credits: int, key: str | None = None) -> int | None:
        return self.running.topup(key or self.key, credits)

    def reset(self) -> None:
        self.running.reset()

    def set_faults(self, rates: dict[str, float] | None = None, **more: float) -> dict[str, float]:
        """Replace the active faults: set_faults(drop=0.5) or set_faults({"slow@create": 1})."""
        return self.running.set_faults({**(rates or {}), **more})

    def faults(self) -> dict[str, float]:
        return self.running.faults()

    def stop(self) -> None:
        self.running.stop()


def wait_sleeping(clock: SteppedClock, count: int, timeout: float = 60.0) -> None:
    """Until `count` emulator tasks sleep on `clock`: advancing it then ends each exactly
    (the timeout is only a safety net for a hung emulator)."""
    deadline = time.monotonic() + timeout
    while clock.sleeping < count:
        assert time.monotonic() < deadline, f"{clock.sleeping} of {count} tasks started"
        time.sleep(0.01)


@pytest.fixture
def emulator() -> Iterator[Callable[..., Handle]]:
    started: list[Handle] = []

    def start(clock: Clock | None = None, **overrides: Any) -> Handle:
        config = build_config(**{**TEST_DEFAULTS, **overrides})
        running = start_emulator(config, clock)
        handle = Handle(running.url, config.keys[0].key, running)
        started.append(handle)
        return handle

    yield start
    for handle in started:
        handle.stop()
