"""A minimal HTTP/1.1 server on asyncio streams.

A framework would always answer: the emulator must also be able to close a
connection without a response, or halfway through a body, send a short body
under an honest Content-Length, trickle a body one byte at a time, or stream a
body of hundreds of megabytes (chunked, generated as it is sent, with the socket's
back-pressure, so neither side holds it). Owning the socket makes those faults exact.
Keep-alive is supported (httpx pools connections); chunked request bodies are not
(no client of ours sends them).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

MAX_HEAD = 64 * 1024
MAX_BODY = 4 * 1024 * 1024
REASONS = {200: "OK", 302: "Found", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 410: "Gone",
           411: "Length Required", 413: "Payload Too Large", 500: "Internal Server Error",
           502: "Bad Gateway", 503: "Service Unavailable"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        """The parsed body, or None when it is not JSON."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None


Drop = Literal["none", "before", "mid"]


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    delay: float = 0.0
    drop: Drop = "none"  # close without answering, or after half the body
    send_bytes: int | None = None  # send only this many body bytes (and declare that length)
    headers: dict[str, str] = field(default_factory=dict)
    trickle: float = 0.0  # seconds between body bytes (0: all at once)
    stream: AsyncIterable[bytes] | None = None  # a generated body, sent chunked instead of `body`

    @classmethod
    def json(cls, doc: Any, status: int = 200) -> Response:
        return cls(status, json.dumps(doc, ensure_ascii=False).encode("utf-8"))

    @classmethod
    def text(cls, text: str, status: int, content_type: str = "text/plain; charset=utf-8") -> Response:
        return cls(status, text.encode("utf-8"), content_type)


Handler = Callable[[Request], Awaitable[Response]]
Sleep = Callable[[float], Awaitable[None]]  # the emulator clock's sleep


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    """The next request on the connection; None at a clean end of stream."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    if length < 0 or length > MAX_BODY:
        raise ValueError("request body too large")
    body = await reader.readexactly(length) if length else b""
    return Request(method.upper(), urlsplit(target).path, headers, body)


def _head(resp: Response, length: int | None, keep_alive: bool) -> bytes:
    """The status line and headers; `length` None means a chunked body."""
    framing = "Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}"
    lines = [f"HTTP/1.1 {resp.status} {REASONS.get(resp.status, 'Status')}",
             f"Content-Type: {resp.content_type}", framing,
             "Connection: " + ("keep-alive" if keep_alive else "close")]
    lines += [f"{k}: {v}" for k, v in resp.headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _send(writer: asyncio.StreamWriter, data: bytes, trickle: float, sleep: Sleep) -> None:
    """Write `data`, one byte per `trickle` seconds when trickling."""
    if trickle <= 0:
        writer.write(data)
        await writer.drain()
        return
    await writer.drain()
    for i in range(len(data)):
        await sleep(trickle)
        writer.write(data[i : i + 1])
        await writer.drain()  # raises once the client has gone: the trickle ends


async def _send_chunked(writer: asyncio.StreamWriter, resp: Response, keep_alive: bool) -> bool:
    """Stream `resp.stream` as chunks; drain() holds each back until the socket takes it."""
    assert resp.stream is not None
    writer.write(_head(resp, None, keep_alive))
    async for chunk in resp.stream:
        if chunk:
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
        if resp.drop == "mid":
            return False
    writer.write(b"0\r\n\r\n")
    await writer.drain()
    return keep_alive


async def _answer(writer: asyncio.StreamWriter, resp: Response, keep_alive: bool,
                  sleep: Sleep = asyncio.sleep) -> bool:
    """Write one response; False when the connection must close afterwards. Delays and
    trickles wait on `sleep` (the emulator's clock)."""
    if resp.delay > 0:
        await sleep(resp.delay)
    if resp.drop == "before":
        return False
    if resp.stream is not None:
        return await _send_chunked(writer, resp, keep_alive)
    body = resp.body if resp.send_bytes is None else resp.body[: resp.send_bytes]
    if resp.drop == "mid":
        writer.write(_head(resp, len(body), True))
        await _send(writer, body[: len(body) // 2], resp.trickle, sleep)
        return False
    writer.write(_head(resp, len(body), keep_alive))
    await _send(writer, body, resp.trickle, sleep)
    return keep_alive


async def serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handler: Handler,
                           sleep: Sleep = asyncio.sleep) -> None:
    """Answer requests on one connection until it closes or a fault drops it."""
    try:
        while True:
            try:
                req = await _read_request(reader)
            except (ValueError, asyncio.LimitOverrunError):
                await _answer(writer, Response.text("bad request", 400), False)
                return
            if req is None:
                return
            try:
                resp = await handler(req)
            except Exception:  # a bug in the emulator: answer 500, keep serving
                log.exception("emulator handler failed")
                resp = Response.text("emulator error", 500)
            keep_alive = req.headers.get("connection", "").lower() != "close"
            if not await _answer(writer, resp, keep_alive, sleep):
                return
    except (ConnectionError, asyncio.IncompleteReadError):
        return
    finally:
        writer.close()


async def start_server(handler: Handler, host: str, port: int, sleep: Sleep = asyncio.sleep) -> asyncio.Server:
    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_connection(reader, writer, handler, sleep)

    return await asyncio.start_server(on_connect, host, port, limit=MAX_HEAD)
