"""Shared by the client tests: a client over httpx.MockTransport, and one against an emulator."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import httpx

from pipeline.models import TaskStatus, TTSRequest, Voice
from pipeline.tts.client import AudioCleanerClient

T = TypeVar("T")
KEY = "unit-secret-key-42"
REQ = TTSRequest("Hello there.", Voice(2072))
VOICE = Voice(voice_id=2072, emotion=0, speed=1.0, language="en")
TEXT = "The quick brown fox jumps over the lazy dog, twice before breakfast."
Reply = httpx.Response | Exception
# Names the unit tests may use, and what the fake resolver answers for them.
HOSTS: dict[str, list[str]] = {
    "cdn.test": ["93.184.216.34"],
    "api.test": ["93.184.216.35"],
    "dual.test": ["93.184.216.36", "2606:2800:220:1::1"],
    "internal.test": ["10.0.0.7"],
    "mixed.test": ["93.184.216.37", "192.168.1.20"],
    "metadata.test": ["169.254.169.254"],
    "loop.test": ["127.0.0.1"],
    "mapped.test": ["::ffff:10.1.2.3"],
}


def fake_resolver(hosts: Mapping[str, Sequence[str]] = HOSTS) -> Callable[[str, int], Awaitable[Sequence[str]]]:
    """A resolver that never touches the network; unknown names fail like NXDOMAIN."""

    async def resolve(host: str, port: int) -> Sequence[str]:
        if host not in hosts:
            raise OSError(-2, "Name or service not known")
        return list(hosts[host])

    return resolve


def client_for(reply: Reply | Callable[[httpx.Request], httpx.Response],
               seen: list[httpx.Request] | None = None, **kw: Any) -> AudioCleanerClient:
    """A client whose every request gets `reply` (or `reply(request)` when callable)."""

    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        if isinstance(reply, Exception):
            raise reply
        return reply(request) if callable(reply) else reply

    kw.setdefault("resolve", fake_resolver())
    return AudioCleanerClient(KEY, "https://api.test/", transport=httpx.MockTransport(handler), **kw)


def call(client: AudioCleanerClient, method: str, *args: Any) -> Any:
    async def main() -> Any:
        try:
            return await getattr(client, method)(*args)
        finally:
            await client.aclose()

    return asyncio.run(main())


def envelope(code: int, data: Any = None, message: str = "m", status: int = 200) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "data": data, "message": message})


def run(fn: Callable[[AudioCleanerClient], Awaitable[T]], url: str, key: str = "test-key", **kw: Any) -> T:
    """Run `fn(client)` on a fresh client against `url` (an emulator) and close it."""

    async def main() -> T:
        client = AudioCleanerClient(key, url, **kw)
        try:
            return await fn(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


async def wait_done(client: AudioCleanerClient, job_id: str, timeout: float = 20.0) -> TaskStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = await client.get(job_id)
        if status.state != "waiting":
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"task {job_id} still waiting after {timeout} s")


async def create_and_wait(client: AudioCleanerClient, text: str = TEXT) -> TaskStatus:
    return await wait_done(client, await client.create(TTSRequest(text, VOICE)))
