"""Download limits at unit level: the rate floor on an injected clock (exact), the total
deadline, the size cap, and bounded decoding of compressed bodies."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator

import httpx
import pytest

from pipeline.emulator.audio import render_mp3
from pipeline.errors import CorruptDownloadError, DownloadError, OutputExpiredError
from pipeline.models import Voice
from pipeline.tts.bodies import BodyTooSlow, RateFloor
from tests.tts.helpers import call, client_for

URL = "https://cdn.test/clips/a.mp3?signature=abc123"


class FakeClock:
    """Time moves only when the fake file host says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def mp3() -> bytes:
    return render_mp3("A clip long enough to be sent in several pieces, slowly.", Voice(1), "tone")


def paced(data: bytes, clock: FakeClock, piece: int, rate: float) -> httpx.Response:
    """A streamed body in `piece`-byte chunks, each taking len(chunk)/rate seconds.

    With a power-of-two rate every step is exact in binary, so the average is exactly `rate`.
    """

    async def body() -> AsyncIterator[bytes]:
        for start in range(0, len(data), piece):
            chunk = data[start : start + piece]
            clock.now += len(chunk) / rate
            yield chunk

    return httpx.Response(200, content=body())


def test_rate_exactly_at_the_floor_passes(mp3: bytes) -> None:
    clock = FakeClock()
    reply = paced(mp3, clock, piece=1024, rate=1024)
    data = call(client_for(reply, clock=clock, download_min_rate=1024, download_grace=2.0), "download", URL)
    assert data == mp3 and clock.now - 1000.0 >= 3  # long enough for the floor to be checked


def test_rate_just_under_the_floor_fails_after_the_grace(mp3: bytes) -> None:
    clock = FakeClock()
    reply = paced(mp3, clock, piece=1024, rate=1024)
    client = client_for(reply, clock=clock, download_min_rate=1025, download_grace=2.0)
    with pytest.raises(DownloadError) as info:
        call(client, "download", URL)
    message = str(info.value)
    assert message == ("Downloading from https://cdn.test was too slow: 1024 B/s on average, "
                       "under the minimum of 1025 B/s")
    assert clock.now == 1003.0  # the first check after the 2 s grace stopped it
    assert "signature" not in message and "/clips" not in message


def test_a_slow_start_within_the_grace_is_forgiven(mp3: bytes) -> None:
    clock = FakeClock()

    async def body() -> AsyncIterator[bytes]:
        clock.now += 9.0  # nothing for 9 s, then the whole file at once
        yield mp3

    client = client_for(httpx.Response(200, content=body()), clock=clock, download_grace=10.0)
    assert call(client, "download", URL) == mp3


def test_the_floor_counts_time_from_the_first_request() -> None:
    clock = FakeClock()
    floor = RateFloor(min_rate=100, grace=5, clock=clock)
    clock.now += 5
    floor.check(0)  # inside the grace: nothing enforced
    clock.now += 5
    floor.check(1000)  # 1000 bytes in 10 s: exactly 100 B/s
    with pytest.raises(BodyTooSlow) as info:
        floor.check(999)
    assert info.value.rate == pytest.approx(99.9)
    RateFloor(min_rate=0, grace=0, clock=clock).check(0)  # 0 turns the floor off


def test_kib_rates_are_shown_in_kib(mp3: bytes) -> None:
    clock = FakeClock()
    reply = paced(mp3, clock, piece=2048, rate=12 * 1024)
    with pytest.raises(DownloadError, match="12.0 KiB/s on average, under the minimum of 16.0 KiB/s"):
        call(client_for(reply, clock=clock, download_grace=0.2), "download", URL)


def test_a_stalled_body_hits_the_download_deadline() -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"\xff\xfb"
        await asyncio.sleep(3600)
        yield b"never"

    client = client_for(httpx.Response(200, content=body()), download_deadline=0.05, download_min_rate=0)
    with pytest.raises(DownloadError, match="^Downloading from https://cdn.test did not finish within the 0.05 s"):
        call(client, "download", URL)


def test_a_hanging_resolver_is_inside_the_deadline() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        await asyncio.sleep(3600)
        return []

    client = client_for(httpx.Response(200), resolve=resolve, download_deadline=0.05)
    with pytest.raises(DownloadError, match="download deadline"):
        call(client, "download", URL)


def test_a_compressed_download_is_capped_after_decoding() -> None:
    bomb = gzip.compress(b"\xff\xfb" + b"\x00" * 30_000_000)

    async def body() -> AsyncIterator[bytes]:
        for start in range(0, len(bomb), 8192):
            yield bomb[start : start + 8192]

    reply = httpx.Response(200, content=body(), headers={"content-encoding": "gzip"})
    with pytest.raises(DownloadError, match="exceeds the 1000000-byte cap"):
        call(client_for(reply, max_download_bytes=1_000_000), "download", URL)


def test_a_compressed_download_within_the_cap_is_decoded(mp3: bytes) -> None:
    packed = gzip.compress(mp3)

    async def body() -> AsyncIterator[bytes]:
        yield packed

    reply = httpx.Response(200, content=body(), headers={"content-encoding": "gzip"})
    assert call(client_for(reply), "download", URL) == mp3


def test_a_truncated_compressed_download_is_an_error(mp3: bytes) -> None:
    packed = gzip.compress(mp3)[:-20]

    async def body() -> AsyncIterator[bytes]:
        yield packed

    reply = httpx.Response(200, content=body(), headers={"content-encoding": "gzip"})
    with pytest.raises(DownloadError, match="truncated compressed body") as info:
        call(client_for(reply), "download", URL)
    assert not isinstance(info.value, CorruptDownloadError | OutputExpiredError)
