"""Reading HTTP bodies with a byte cap and an average-rate floor.

Why not `resp.aread()`: a broken or hostile host can send 300 MB, a gzip bomb, or one
byte every few seconds forever. Here the body is read chunk by chunk, decoded with a
bounded decompressor, and abandoned as soon as it passes the cap or falls below the
rate floor, so memory stays at about the cap and time at about the grace period.
The errors are internal (BodyError subclasses): the client turns them into messages.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

import httpx

Clock = Callable[[], float]
PIECE = 64 * 1024  # most bytes one decompression step may produce


class BodyError(Exception):
    """Internal: why a body was abandoned."""


class BodyTooLarge(BodyError):
    def __init__(self, size: int, declared: bool) -> None:
        super().__init__(size)
        self.size, self.declared = size, declared


class BodyTooSlow(BodyError):
    def __init__(self, rate: float) -> None:
        super().__init__(rate)
        self.rate = rate


class BodyEncodingError(BodyError):
    """An unsupported or corrupt Content-Encoding."""


@dataclass
class RateFloor:
    """After `grace` seconds, bytes received / seconds elapsed must stay >= `min_rate`.

    Measured from the floor's creation (the first request), so a slow start counts.
    The clock is injectable so a test can be exact.
    """

    min_rate: float
    grace: float
    clock: Clock = time.monotonic
    started: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def check(self, size: int) -> None:
        """BodyTooSlow when the average rate so far is under the floor."""
        elapsed = self.clock() - self.started
        if self.min_rate <= 0 or elapsed <= self.grace:
            return
        rate = size / elapsed
        if rate < self.min_rate:
            raise BodyTooSlow(rate)


async def read_capped(resp: httpx.Response, cap: int, floor: RateFloor | None = None) -> bytes:
    """The decoded body, or BodyTooLarge past `cap` (reading stops there) / BodyTooSlow."""
    encoding = _encoding(resp)
    declared = _declared_length(resp)
    if encoding is None and declared is not None and declared > cap:
        raise BodyTooLarge(declared, declared=True)
    body = bytearray()
    async for piece in _decoded(resp, encoding):
        if len(body) + len(piece) > cap:
            raise BodyTooLarge(len(body) + len(piece), declared=False)
        body += piece
        if floor is not None:
            floor.check(len(body))
    return bytes(body)


def _encoding(resp: httpx.Response) -> str | None:
    """None for identity, else "gzip" or "deflate"; anything else is refused."""
    value = resp.headers.get("content-encoding", "").strip().lower()
    if value in ("", "identity"):
        return None
    if value in ("gzip", "x-gzip", "deflate"):
        return "deflate" if value == "deflate" else "gzip"
    raise BodyEncodingError(f"unsupported Content-Encoding {value[:20]!r}")


def _declared_length(resp: httpx.Response) -> int | None:
    text = resp.headers.get("content-length", "").strip()
    return int(text) if text.isdigit() else None


async def _decoded(resp: httpx.Response, encoding: str | None) -> AsyncIterator[bytes]:
    """Body pieces of at most ~PIECE bytes each, decoded without ever inflating a bomb."""
    if resp.is_stream_consumed:  # the transport buffered it already (MockTransport): decoded
        content = resp.content
        for start in range(0, len(content), PIECE):
            yield content[start : start + PIECE]
        return
    inflater = _Inflater(encoding) if encoding else None
    async for raw in resp.aiter_raw():
        if inflater is None:
            yield raw
            continue
        for piece in inflater.feed(raw):
            yield piece
    if inflater is not None:
        inflater.finish()


class _Inflater:
    """gzip/deflate with `max_length`, so one small chunk cannot become gigabytes at once."""

    def __init__(self, encoding: str) -> None:
        self._gzip = encoding == "gzip"
        self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS if self._gzip else zlib.MAX_WBITS)
        self._fed = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Decoded pieces of `data`, lazily: a consumer that stops early stops the work."""
        if not self._fed:
            self._fed = True
            try:
                chunk = self._obj.decompress(data, PIECE)
            except zlib.error:
                if self._gzip:
                    raise BodyEncodingError("corrupt compressed body") from None
                self._obj = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as some servers send
                chunk = self._step(data)
        else:
            chunk = self._step(data)
        while chunk:
            yield chunk
            # A full piece may leave output inside zlib even with no input left.
            more = self._obj.unconsumed_tail
            chunk = self._step(more) if more or len(chunk) == PIECE else b""

    def _step(self, data: bytes) -> bytes:
        try:
            return self._obj.decompress(data, PIECE)
        except zlib.error:
            raise BodyEncodingError("corrupt compressed body") from None

    def finish(self) -> None:
        if self._fed and not self._obj.eof:
            raise BodyEncodingError("truncated compressed body")
