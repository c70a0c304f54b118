"""An in-memory fake of the vendor's task API for unit-testing the scheduler's schedule.

Configurable latency, task duration, service-side limits (rate -> 101003, open tasks
-> 101004, credits -> 100100) and injected faults, with exact counters to assert on.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import struct
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from pipeline.errors import (
    ConcurrencyLimitedError,
    CreditsExhaustedError,
    InvalidKeyError,
    OutputExpiredError,
    RateLimitedError,
    ServerFaultError,
    TaskNotFoundError,
)
from pipeline.models import Job, Segment, TaskStatus, TTSRequest, Voice, content_key


def _now() -> float:
    """The running loop's clock: real time, or virtual time under tests.synth.virtual."""
    return asyncio.get_running_loop().time()


def wav_bytes(chars: int) -> bytes:
    """A tiny valid 16-bit mono WAV whose length depends on the text."""
    pcm = b"\x00\x01" * (100 + chars)
    header = b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt " + struct.pack(
        "<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16
    ) + b"data" + struct.pack("<I", len(pcm))
    return header + pcm


@dataclass
class _Task:
    text: str
    created: float
    duration: float
    outcome: str = "success"


@dataclass
class FakeBackend:
    """Behaves like the vendor API; every knob defaults to a well-behaved service."""

    name: str = "fake"
    latency: float = 0.001
    task_time: Callable[[int], float] = lambda chars: 0.05 + chars * 0.0001
    rate_limit: float | None = None  # requests per second over a 1 s sliding window
    max_open: int | None = None  # open (unfinished) tasks per key
    credits: int | None = None  # balance; None = unlimited
    fail_times: dict[str, int] = field(default_factory=dict)  # text -> times status "failed"
    expire_times: dict[str, int] = field(default_factory=dict)  # text -> times get answers 101008
    fault_times: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, text) -> 5xx count
    url_expire_times: dict[str, int] = field(default_factory=dict)  # text -> expired downloads
    credits_on_get: bool = False  # queries also answer 100100 once the balance is 0
    fatal_after: int | None = None  # create/get number after which 101002 is answered
    requests: Counter[str] = field(default_factory=Counter)
    creates_by_text: Counter[str] = field(default_factory=Counter)
    charged: int = 0
    max_seen_open: int = 0
    _tasks: dict[str, _Task] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=itertools.count)
    _window: deque[float] = field(default_factory=deque)
    _after_fatal: int = 0

    # --- helpers -------------------------------------------------------------------

    def _open(self, now: float) -> int:
        return sum(1 for t in self._tasks.values() if t.outcome != "gone" and now < t.created + t.duration)

    async def _admit(self, kind: str) -> None:
        await asyncio.sleep(self.latency)
        self.requests[kind] += 1
        n = self.requests["create"] + self.requests["get"]
        if self.fatal_after is not None and n > self.fatal_after:
            self._after_fatal += 1
            raise InvalidKeyError("Audio Cleaner API error 101002: Invalid API key", code=101002)
        now = _now()
        if self.rate_limit is not None:
            while self._window and self._window[0] < now - 1.0:
                self._window.popleft()
            if len(self._window) >= self.rate_limit:
                self.requests[f"{kind}_rate_limited"] += 1
                raise RateLimitedError("API key rate limit exceeded", code=101003)
            self._window.append(now)

    def _take(self, table: dict, key: object) -> bool:
        left = table.get(key, 0)
        if left > 0:
            table[key] = left - 1
            return True
        return False

    # --- the Backend protocol ------------------------------------------------------

    async def create(self, request: TTSRequest) -> str:
        await self._admit("create")
        text = request.text
        if self._take(self.fault_times, ("create", text)):
            raise ServerFaultError("HTTP 502")
        now = _now()
        if self.max_open is not None and self._open(now) >= self.max_open:
            self.requests["create_concurrency_limited"] += 1
            raise ConcurrencyLimitedError("concurrent limit", code=101004)
        cost = math.ceil(len(text) / 100)
        if self.credits is not None:
            if self.credits < cost:
                raise CreditsExhaustedError("Insufficient credit balance", code=100100)
            self.credits -= cost
        self.charged += cost
        self.creates_by_text[text] += 1
        job_id = f"job{next(self._ids)}"
        outcome = "failed" if self._take(self.fail_times, text) else "success"
        self._tasks[job_id] = _Task(text, now, self.task_time(len(text)), outcome)
        self.max_seen_open = max(self.max_seen_open, self._open(now))
        return job_id

    async def get(self, job_id: str) -> TaskStatus:
        await self._admit("get")
        task = self._tasks.get(job_id)
        if task is None:
            raise TaskNotFoundError("Task not found", code=101008)
        if self._take(self.fault_times, ("get", task.text)):
            raise ServerFaultError("HTTP 503")
        if self._take(self.expire_times, task.text):
            del self._tasks[job_id]
            raise TaskNotFoundError("Task not found", code=101008)
        if self.credits_on_get and self.credits is not None and self.credits <= 0:
            raise CreditsExhaustedError("Insufficient credit balance", code=100100)
        if _now() < task.created + task.duration:
            return TaskStatus("waiting")
        if task.outcome == "failed":
            return TaskStatus("failed")
        return TaskStatus("success", f"http://127.0.0.1/out/{job_id}.wav")

    async def download(self, url: str) -> bytes:
        await asyncio.sleep(self.latency)
        self.requests["download"] += 1
        job_id = url.rsplit("/", 1)[-1].split(".")[0]
        task = self._tasks[job_id]
        if self._take(self.url_expire_times, task.text):
            raise OutputExpiredError("output URL answered 410")
        if self._take(self.fault_times, ("download", task.text)):
            raise ServerFaultError("connection reset")
        return wav_bytes(len(task.text))

    async def aclose(self) -> None:
        pass

    @property
    def api_calls(self) -> int:
        return self.requests["create"] + self.requests["get"]


def make_jobs(n: int, chars: int = 150, chapters: int = 2, backend: str = "fake") -> list[Job]:
    """n distinct jobs of about `chars` characters spread over `chapters` chapters."""
    voice = Voice(voice_id=2072)
    jobs = []
    for i in range(n):
        text = (f"Segment {i:04d}. " + "word " * chars)[:chars]
        seg = Segment(chapter=1 + i % chapters, index=i // chapters, text=text, boundary_after=4)  # type: ignore[arg-type]
        request = TTSRequest(text, voice)
        jobs.append(Job(seg, voice, content_key(request, backend), math.ceil(len(text) / 100)))
    return jobs
