"""Run the emulator in a background thread (tests, benchmarks) or in the foreground (CLI)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pipeline.emulator.config import EmulatorConfig
from pipeline.emulator.server import EmulatorApp, serve
from pipeline.synth.clock import Clock

T = TypeVar("T")


@dataclass
class RunningEmulator:
    """A live emulator on its own event loop thread. Control calls are thread-safe."""

    url: str
    config: EmulatorConfig
    _app: EmulatorApp = field(repr=False)
    _loop: asyncio.AbstractEventLoop = field(repr=False)
    _stop: asyncio.Event = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    def _on_loop(self, fn: Callable[[], T]) -> T:
        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=10)

    def stats(self) -> dict[str, Any]:
        return self._on_loop(self._app.stats)

    def topup(self, key: str, credits: int) -> int | None:
        return self._on_loop(lambda: self._app.state.topup(key, credits))

    def reset(self) -> None:
        self._on_loop(self._app.reset)

    def set_faults(self, rates: dict[str, float]) -> dict[str, float]:
        """Replace the fault rates of the running emulator (names may be scoped:
        "slow@create"); the same code as POST /_emulator/faults. Returns the active rates."""
        return self._on_loop(lambda: self._app.set_faults(rates))

    def faults(self) -> dict[str, float]:
        """The active fault rates (as GET /_emulator/faults answers)."""
        return self._on_loop(lambda: dict(self._app.faults.rates))

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout=15)

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_emulator(config: EmulatorConfig, clock: Clock | None = None) -> RunningEmulator:
    """Start an emulator on a background thread; returns once it accepts connections.

    `clock` (default: the system's) drives its delays and task times; a SteppedClock lets
    a test move them from its own thread."""
    ready: Future[tuple[EmulatorApp, asyncio.AbstractEventLoop, asyncio.Event]] = Future()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        await serve(config, stop, lambda app: ready.set_result((app, loop, stop)), clock)

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - hand a bind failure to the caller
            if not ready.done():
                ready.set_exception(exc)
            else:
                raise

    thread = threading.Thread(target=run, name="audiobook-emulator", daemon=True)
    thread.start()
    app, loop, stop = ready.result(timeout=30)
    return RunningEmulator(app.base_url, config, app, loop, stop, thread)


def run_foreground(config: EmulatorConfig, on_ready: Callable[[EmulatorApp], None]) -> None:
    """Serve in this thread until Ctrl-C (KeyboardInterrupt propagates to the caller)."""

    async def main() -> None:
        await serve(config, asyncio.Event(), on_ready)

    asyncio.run(main())
