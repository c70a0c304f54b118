"""The create/get outcome contract (module docstring of pipeline.tts.client), unit level:
NotSentError only when no connection was made; ServerFaultError whenever the service
may have acted; reply cap, call deadline, and the key kept out of every message."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import socket
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from pipeline.errors import NotSentError, ReplyTooLargeError, ServerFaultError, TaskNotFoundError, UnknownAPIError
from pipeline.models import TaskStatus
from pipeline.tts.client import AudioCleanerClient
from tests.tts.helpers import KEY, REQ, call, client_for, envelope

CALLS = [("create", (REQ,)), ("get", ("abc",))]
NOT_SENT = [httpx.ConnectError("refused"), httpx.ConnectTimeout("connect"), httpx.PoolTimeout("pool"),
            httpx.UnsupportedProtocol("gopher")]
MAYBE_ACTED = [httpx.ReadTimeout("read"), httpx.WriteTimeout("write"), httpx.ReadError("reset"),
               httpx.WriteError("broken pipe"), httpx.RemoteProtocolError("Server disconnected")]


@pytest.mark.parametrize(("method", "args"), CALLS)
@pytest.mark.parametrize("exc", NOT_SENT, ids=lambda e: type(e).__name__)
def test_no_connection_is_not_sent(method: str, args: tuple[Any, ...], exc: Exception) -> None:
    with pytest.raises(NotSentError, match=f"{method}: not sent.*{type(exc).__name__}"):
        call(client_for(exc), method, *args)


@pytest.mark.parametrize(("method", "args"), CALLS)
@pytest.mark.parametrize("exc", MAYBE_ACTED, ids=lambda e: type(e).__name__)
def test_failures_after_connecting_are_uncertain(method: str, args: tuple[Any, ...], exc: Exception) -> None:
    with pytest.raises(ServerFaultError) as info:
        call(client_for(exc), method, *args)
    assert not isinstance(info.value, NotSentError)
    assert info.value.retryable


@pytest.mark.parametrize(("method", "args"), CALLS)
@pytest.mark.parametrize(
    ("reply", "words"),
    [(httpx.Response(500, text="<html>oops</html>"), "HTTP 500 with a non-JSON body"),
     (httpx.Response(503, json={"message": "busy"}), "HTTP 503 with an envelope without a code"),
     (httpx.Response(200, text="{half"), "non-JSON"),
     (httpx.Response(200, content=b"[" * 100_000), "non-JSON"),  # nesting deep enough to recurse
     (httpx.Response(200, content=b"\xff\xfe\x00garbage"), "non-JSON"),
     (envelope(100000, None), "success envelope without data"),
     (envelope(100000, ["job"]), "success envelope without data")],
)
def test_unreadable_replies_are_uncertain(method: str, args: tuple[Any, ...], reply: httpx.Response,
                                          words: str) -> None:
    with pytest.raises(ServerFaultError, match=words) as info:
        call(client_for(reply), method, *args)
    assert not isinstance(info.value, NotSentError)


@pytest.mark.parametrize("data", [{}, {"job_id": ""}, {"job_id": 123}, {"job_id": None}])
def test_create_success_without_a_job_id(data: dict[str, Any]) -> None:
    with pytest.raises(ServerFaultError, match="no data.job_id"):
        call(client_for(envelope(100000, data)), "create", REQ)


@pytest.mark.parametrize("job_id", ["x" * 257, "abc\ndef", "abc\x00"])
def test_create_refuses_implausible_job_ids(job_id: str) -> None:
    with pytest.raises(ServerFaultError, match="implausible job id"):
        call(client_for(envelope(100000, {"job_id": job_id})), "create", REQ)


def test_a_refused_port_on_loopback_is_not_sent() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = AudioCleanerClient(KEY, f"http://127.0.0.1:{port}")
    with pytest.raises(NotSentError, match="ConnectError"):
        call(client, "create", REQ)


# --- the reply cap and the call deadline ------------------------------------------------


async def _chunks(parts: list[bytes], pause: float = 0.0) -> AsyncIterator[bytes]:
    for part in parts:
        if pause:
            await asyncio.sleep(pause)
        yield part


def test_declared_length_over_the_cap_is_refused_unread() -> None:
    body = json.dumps({"code": 100000, "data": {"job_id": "abc"}, "message": "x" * 5000}).encode()
    with pytest.raises(ReplyTooLargeError, match="declares 50.. bytes, over the 1000-byte cap"):
        call(client_for(httpx.Response(200, content=body), max_reply_bytes=1000), "create", REQ)


def test_streamed_reply_over_the_cap_stops_reading() -> None:
    served: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        yield b'{"code": 100000, "data": {"job_id": "abc"}, "message": "'
        for i in range(10_000):  # 640 MB if anyone read it all
            served.append(i)
            yield b"x" * 65536

    reply = httpx.Response(200, content=endless())
    with pytest.raises(ReplyTooLargeError, match="kept going, over the 1048576-byte cap"):
        call(client_for(reply), "get", "abc")
    assert len(served) <= 17  # 1 MiB in 64 KiB pieces, then the generator is abandoned


def test_a_reply_exactly_at_the_cap_is_read() -> None:
    body = json.dumps({"code": 100000, "data": {"job_id": "abc"}, "message": "padding"}).encode()
    assert call(client_for(httpx.Response(200, content=_chunks([body])), max_reply_bytes=len(body)),
                "create", REQ) == "abc"
    with pytest.raises(ReplyTooLargeError):
        call(client_for(httpx.Response(200, content=_chunks([body])), max_reply_bytes=len(body) - 1),
             "create", REQ)


def test_a_compressed_bomb_is_capped_after_decoding() -> None:
    bomb = gzip.compress(b'{"code": 100000, "message": "' + b" " * 50_000_000)  # ~50 KB on the wire
    reply = httpx.Response(200, content=_chunks([bomb[i:i + 4096] for i in range(0, len(bomb), 4096)]),
                           headers={"content-encoding": "gzip"})
    with pytest.raises(ReplyTooLargeError):
        call(client_for(reply), "get", "abc")


def test_a_compressed_reply_within_the_cap_is_decoded() -> None:
    body = gzip.compress(json.dumps({"code": 100000, "data": {"status": "waiting", "output": ""}}).encode())
    reply = httpx.Response(200, content=_chunks([body[:10], body[10:]]), headers={"content-encoding": "gzip"})
    assert call(client_for(reply), "get", "abc") == TaskStatus("waiting", "")


def test_unknown_content_encoding_is_a_server_fault() -> None:
    reply = httpx.Response(200, content=_chunks([b"\x1b\x00"]), headers={"content-encoding": "br"})
    with pytest.raises(ServerFaultError, match="unsupported Content-Encoding 'br'"):
        call(client_for(reply), "get", "abc")


def test_api_calls_ask_for_uncompressed_replies() -> None:
    seen: list[httpx.Request] = []
    call(client_for(envelope(100000, {"job_id": "abc"}), seen), "create", REQ)
    assert seen[0].headers["accept-encoding"] == "identity"


def test_a_trickling_reply_hits_the_call_deadline() -> None:
    """Each byte comes well within the per-read timeout; only the total deadline stops it."""
    parts = [bytes([b]) for b in b'{"code": 100000, "data": {"job_id": "abc"}}']
    reply = httpx.Response(200, content=_chunks(parts, pause=0.02))
    with pytest.raises(ServerFaultError, match="within the 0.1 s call deadline") as info:
        call(client_for(reply, call_deadline=0.1, timeout=30), "create", REQ)
    assert not isinstance(info.value, NotSentError)


# --- the key never surfaces -------------------------------------------------------------

ENCODED = urllib.parse.quote(KEY, safe="").replace("-", "%2D")


@pytest.mark.parametrize("echo", [KEY, ENCODED, ENCODED.lower(), urllib.parse.quote_plus(f" {KEY} ")])
def test_echoed_key_forms_are_scrubbed_from_messages(echo: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(UnknownAPIError) as info:
        call(client_for(envelope(999, message=f"key {echo} refused")), "create", REQ)
    assert "***" in str(info.value) and KEY not in str(info.value) and ENCODED.lower() not in str(info.value).lower()
    assert all(KEY not in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("status", [KEY, f"weird-{KEY}-status", ENCODED, "x" * 30 + KEY])
def test_unknown_status_is_scrubbed_then_truncated(status: str) -> None:
    with pytest.raises(ServerFaultError, match="unknown status") as info:
        call(client_for(envelope(100000, {"status": status, "output": ""})), "get", "abc")
    text = str(info.value)
    assert KEY not in text and KEY[:12] not in text  # no prefix survives the truncation either
    assert len(text) < 120


def test_unknown_status_of_another_type_is_shown_briefly() -> None:
    with pytest.raises(ServerFaultError, match=r"unknown status '\{\"k\": \[1, 2\]\}'"):
        call(client_for(envelope(100000, {"status": {"k": [1, 2]}, "output": ""})), "get", "abc")


@pytest.mark.parametrize("job_id", [KEY, f"job-{KEY}", f"job-{ENCODED}"])
def test_a_job_id_carrying_the_key_is_not_returned(job_id: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ServerFaultError, match="contains the API key .in data.job_id") as info:
        call(client_for(envelope(100000, {"job_id": job_id})), "create", REQ)
    assert KEY not in str(info.value) and not isinstance(info.value, NotSentError)
    assert all(KEY not in r.getMessage() and ENCODED not in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("state", ["success", "waiting", "failed"])
@pytest.mark.parametrize("url", [f"https://cdn.test/a.mp3?key={KEY}", f"https://cdn.test/{ENCODED}.mp3",
                                 f"https://{KEY}.cdn.test/a.mp3"])
def test_an_output_url_carrying_the_key_is_not_returned(state: str, url: str) -> None:
    with pytest.raises(ServerFaultError, match="contains the API key .in data.output") as info:
        call(client_for(envelope(100000, {"status": state, "output": url})), "get", "abc")
    assert KEY not in str(info.value)


def test_codes_still_win_over_echoes() -> None:
    with pytest.raises(TaskNotFoundError) as info:
        call(client_for(envelope(101008, message=f"no task for {KEY}")), "get", "abc")
    assert KEY not in str(info.value)
