"""Unit tests of the client's reply classification (httpx.MockTransport) and key/URL resolution."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipeline.errors import (
    APIError,
    ConcurrencyLimitedError,
    CorruptDownloadError,
    CreditsExhaustedError,
    DownloadError,
    InvalidKeyError,
    KeyDisabledError,
    KeyNotEnabledError,
    OutputExpiredError,
    RateLimitedError,
    ServerFaultError,
    TaskNotFoundError,
    TextRejectedError,
    UnknownAPIError,
    UnsafeURLError,
    UserError,
)
from pipeline.models import TaskStatus
from pipeline.tts.client import CREATE_PATH, GET_PATH, resolve_api_key, resolve_base_url
from tests.tts.helpers import KEY, REQ, Reply, call, client_for, envelope


def test_create_sends_documented_request() -> None:
    seen: list[httpx.Request] = []
    job = call(client_for(envelope(100000, {"job_id": "abc"}), seen), "create", REQ)
    assert job == "abc"
    req = seen[0]
    assert req.method == "POST" and req.url == "https://api.test" + CREATE_PATH
    assert req.headers["api-key"] == KEY and req.headers["content-type"] == "application/json"
    assert json.loads(req.content) == {"voice_id": 2072, "emotion": 0, "speed": 1, "language": "en",
                                       "text": "Hello there."}


def test_get_sends_global_id_and_parses_status() -> None:
    seen: list[httpx.Request] = []
    reply = envelope(100000, {"status": "success", "output": "https://cdn.test/a.mp3"})
    assert call(client_for(reply, seen), "get", "abc") == TaskStatus("success", "https://cdn.test/a.mp3")
    assert seen[0].url.path == GET_PATH and json.loads(seen[0].content) == {"global_id": "abc"}


@pytest.mark.parametrize(
    ("code", "cls"),
    [(100100, CreditsExhaustedError), (101002, InvalidKeyError), (101003, RateLimitedError),
     (101004, ConcurrencyLimitedError), (101005, KeyDisabledError), (101006, KeyNotEnabledError),
     (101008, TaskNotFoundError)],
)
@pytest.mark.parametrize("status", [200, 400, 429, 500])
def test_code_is_read_whatever_the_http_status(code: int, cls: type[APIError], status: int) -> None:
    with pytest.raises(cls) as info:
        call(client_for(envelope(code, status=status)), "get", "abc")
    assert info.value.code == code


@pytest.mark.parametrize(
    "reply",
    [httpx.Response(502, text="<html>Bad Gateway</html>"), httpx.Response(200, text="{not json"),
     httpx.Response(200, json={"data": {"job_id": "x"}}), httpx.Response(200, json={"code": 100000}),
     httpx.Response(200, json=[1, 2]), envelope(100000, {"job_id": ""}),
     httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("reset")],
)
def test_transient_server_faults(reply: Reply) -> None:
    with pytest.raises(ServerFaultError) as info:
        call(client_for(reply), "create", REQ)
    assert info.value.retryable


@pytest.mark.parametrize("data", [{"status": "processing", "output": ""}, {"status": "success", "output": ""}])
def test_bad_get_payloads_are_server_faults(data: dict[str, str]) -> None:
    with pytest.raises(ServerFaultError):
        call(client_for(envelope(100000, data)), "get", "abc")


@pytest.mark.parametrize(("status", "cls"), [(404, UnknownAPIError), (401, UnknownAPIError),
                                            (429, ServerFaultError), (408, ServerFaultError)])
def test_4xx_without_a_code(status: int, cls: type[APIError]) -> None:
    with pytest.raises(cls) as info:
        call(client_for(httpx.Response(status, text="<html>nope</html>")), "get", "abc")
    assert f"HTTP {status}" in str(info.value)
    assert info.value.retryable is (cls is ServerFaultError)


def test_unknown_code_names_code_and_message() -> None:
    with pytest.raises(UnknownAPIError, match="123456.*mystery"):
        call(client_for(envelope(123456, message="mystery")), "create", REQ)


@pytest.mark.parametrize(
    "reply",
    [envelope(100002, message="Text is too long"), envelope(140001, message="text length exceeds 1000"),
     httpx.Response(413, text="Request Entity Too Large")],
)
def test_length_rejections_on_create(reply: httpx.Response) -> None:
    with pytest.raises(TextRejectedError, match="too long"):
        call(client_for(reply), "create", REQ)


def test_length_words_on_a_documented_code_keep_that_code() -> None:
    with pytest.raises(RateLimitedError):
        call(client_for(envelope(101003, message="too many characters per second")), "create", REQ)


def test_echoed_key_is_scrubbed_from_messages() -> None:
    with pytest.raises(UnknownAPIError) as info:
        call(client_for(envelope(999, message=f"bad key {KEY}")), "create", REQ)
    assert KEY not in str(info.value) and "***" in str(info.value)
    assert KEY not in repr(client_for(envelope(999)))


# --- downloads -------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://example.com/a.mp3", "ftp://127.0.0.1/a.mp3", "file:///etc/passwd",
                                 "http://10.0.0.1/a.mp3", "http://127.example.com/a.mp3", "not a url"])
def test_unsafe_urls_are_refused(url: str) -> None:
    seen: list[httpx.Request] = []
    with pytest.raises(UnsafeURLError):
        call(client_for(httpx.Response(200), seen), "download", url)
    assert seen == []


@pytest.mark.parametrize("status", [403, 404, 410])
def test_expired_output(status: int) -> None:
    with pytest.raises(OutputExpiredError) as info:
        call(client_for(httpx.Response(status)), "download", "https://cdn.test/a.mp3")
    assert info.value.expired


def test_other_http_errors_are_plain_download_errors() -> None:
    with pytest.raises(DownloadError) as info:
        call(client_for(httpx.Response(500)), "download", "https://cdn.test/a.mp3")
    assert not getattr(info.value, "expired", False)


def test_download_never_sends_the_key_and_checks_audio() -> None:
    seen: list[httpx.Request] = []
    with pytest.raises(CorruptDownloadError, match="not audio"):
        call(client_for(httpx.Response(200, content=b"<html>oops</html>"), seen), "download", "https://cdn.test/a")
    assert "api-key" not in seen[0].headers


@pytest.mark.parametrize("declared", [True, False])
def test_size_cap(declared: bool) -> None:
    body = b"\xff\xfb" + b"\x00" * 5000
    headers = {} if declared else {"transfer-encoding": "chunked"}

    async def chunks() -> Any:
        yield body[:2000]
        yield body[2000:]

    reply = httpx.Response(200, content=body if declared else chunks(), headers=headers)
    with pytest.raises(DownloadError, match="cap"):
        call(client_for(reply, max_download_bytes=1000), "download", "https://cdn.test/a.mp3")


# --- key and URL resolution ------------------------------------------------------------


def test_resolve_api_key(tmp_path: Path) -> None:
    key_file = tmp_path / "key.txt"
    key_file.write_text("  from-file\n")
    assert resolve_api_key({"AUDIOCLEANER_API_KEY": " from-env "}, None) == "from-env"
    assert resolve_api_key({"AUDIOCLEANER_API_KEY": "from-env"}, key_file) == "from-file"
    assert resolve_api_key({}, None) is None and resolve_api_key({"AUDIOCLEANER_API_KEY": " "}, None) is None


@pytest.mark.parametrize("make", ["missing", "directory", "empty", "binary"])
def test_unreadable_key_file_names_the_file_not_the_content(tmp_path: Path, make: str) -> None:
    path = tmp_path / "secret.key"
    if make == "directory":
        path.mkdir()
    elif make == "empty":
        path.write_text("   \n")
    elif make == "binary":
        path.write_bytes(b"\xffTOPSECRET\xfe")
    with pytest.raises(UserError) as info:
        resolve_api_key({}, path)
    assert str(path) in str(info.value) and "TOPSECRET" not in str(info.value)


def test_resolve_base_url() -> None:
    env = {"AUDIOCLEANER_API_URL": "http://127.0.0.1:9000"}
    assert resolve_base_url({}, None) == "https://audiocleaner.ai/"
    assert resolve_base_url(env, None) == "http://127.0.0.1:9000"
    assert resolve_base_url(env, "https://other.test/") == "https://other.test/"
    assert resolve_base_url({}, "http://localhost:1") == "http://localhost:1"
    for bad in ("http://api.example.com", "ftp://x", "nonsense"):
        with pytest.raises(UserError):
            resolve_base_url({}, bad)
