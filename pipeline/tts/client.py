"""The Audio Cleaner TTS client: three documented calls plus a verified download.

It classifies every outcome into pipeline.errors classes and never retries: the
scheduler owns retry policy, so one place decides how hard to push a paid service.
Vendor codes are read from the JSON body whatever the HTTP status, and mapped only
through `pipeline.errors.api_error` (the one code table).
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import re
from typing import Any

import httpx

from pipeline.errors import (
    API_CODES,
    SUCCESS_CODE,
    APIError,
    AudioError,
    CorruptDownloadError,
    DownloadError,
    OutputExpiredError,
    ServerFaultError,
    TextRejectedError,
    UnknownAPIError,
    UnsafeURLError,
    api_error,
)
from pipeline.models import TaskState, TaskStatus, TTSRequest
from pipeline.tts.secrets import DEFAULT_URL, Secret, is_loopback_host, resolve_api_key, resolve_base_url

__all__ = ["AudioCleanerClient", "DEFAULT_URL", "resolve_api_key", "resolve_base_url", "looks_like_length_rejection"]

log = logging.getLogger(__name__)

CREATE_PATH = "/audio/api/v1/api-keys/tts/task/create"
GET_PATH = "/audio/api/v1/api-keys/tts/task/get"
TASK_STATES: tuple[TaskState, ...] = ("waiting", "success", "failed")
EXPIRED_STATUSES = frozenset({403, 404, 410})
# A 4xx without a vendor code usually means a wrong URL (not worth retrying), except these.
TRANSIENT_4XX = frozenset({408, 425, 429})
# The vendor documents no "text too long" code. We treat a create reply as a length
# rejection when HTTP says 413, or when the code is undocumented and the message
# talks about length / characters / being too long.
_LENGTH_WORDS = re.compile(r"too long|length|too many char|characters?\b|\bchars?\b|max.?len", re.I)


def looks_like_length_rejection(status: int, code: int | None, message: str) -> bool:
    """Heuristic for "the text is too long" on create (the vendor documents no code)."""
    if status == 413:
        return True
    return (code is None or code not in API_CODES) and bool(_LENGTH_WORDS.search(message))


class AudioCleanerClient:
    """Async client for the vendor's task API (also drives `audiobook emulator`)."""

    name = "audiocleaner"

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_URL,
        *,
        timeout: float = 30.0,
        max_download_bytes: int = 50_000_000,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("api_key is empty")
        self._key = Secret(api_key)
        self.base_url = base_url.rstrip("/")
        self.max_download_bytes = max_download_bytes
        self.requests: collections.Counter[str] = collections.Counter()
        # The key goes per request (never on the client's default headers), so the
        # file-host downloads never carry it.
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport, follow_redirects=False)

    def __repr__(self) -> str:
        return f"AudioCleanerClient(base_url={self.base_url!r}, api_key=***)"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AudioCleanerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- the two API calls ------------------------------------------------------

    async def create(self, request: TTSRequest) -> str:
        """Submit a task; return the vendor's `job_id`."""
        data = await self._call("create", CREATE_PATH, request.body(), text_chars=len(request.text))
        job_id = data.get("job_id")
        if not isinstance(job_id, str) or not job_id:
            raise ServerFaultError("Audio Cleaner create reply has no data.job_id")
        log.debug("created task %s (%d chars)", job_id, len(request.text))
        return job_id

    async def get(self, job_id: str) -> TaskStatus:
        """Query a task; create's `job_id` travels as `global_id`."""
        data = await self._call("get", GET_PATH, {"global_id": job_id})
        state = data.get("status")
        output = data.get("output") or ""
        if state not in TASK_STATES or not isinstance(output, str):
            raise ServerFaultError(f"Audio Cleaner get reply has an unknown status {str(state)[:40]!r}")
        if state == "success" and not output:
            raise ServerFaultError("Audio Cleaner reports success without an output URL")
        return TaskStatus(state=state, output_url=output)

    async def _call(self, kind: str, path: str, body: dict[str, object], text_chars: int = 0) -> dict[str, Any]:
        """POST, then turn the reply into `data` or the one matching error."""
        self.requests[kind] += 1
        headers = {"api-key": self._key.reveal(), "Content-Type": "application/json"}
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        try:
            resp = await self._http.post(self.base_url + path, content=payload, headers=headers)
        except httpx.TimeoutException as exc:
            raise ServerFaultError(f"Audio Cleaner {kind}: timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise ServerFaultError(f"Audio Cleaner {kind}: connection failed ({type(exc).__name__})") from None
        return self._envelope(kind, resp, text_chars)

    def _envelope(self, kind: str, resp: httpx.Response, text_chars: int) -> dict[str, Any]:
        status = resp.status_code
        try:
            doc = resp.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
            doc = None
        code = _as_int(doc.get("code")) if isinstance(doc, dict) else None
        if code is None:
            if kind == "create" and status == 413:
                raise self._too_long(status, None, "HTTP 413", text_chars)
            what = "a non-JSON body" if doc is None else "an envelope without a code"
            if 400 <= status < 500 and status not in TRANSIENT_4XX:
                raise UnknownAPIError(
                    f"Audio Cleaner {kind}: HTTP {status} with {what}",
                    tip="Check the API URL (--api-url / AUDIOCLEANER_API_URL).",
                )
            raise ServerFaultError(f"Audio Cleaner {kind}: HTTP {status} with {what}")
        message = self._key.scrub(str(doc.get("message") or ""))[:300]
        if code != SUCCESS_CODE:
            log.debug("%s answered code %d (HTTP %d)", kind, code, status)
            if kind == "create" and looks_like_length_rejection(status, code, message):
                raise self._too_long(status, code, message, text_chars)
            raise api_error(code, message)
        data = doc.get("data")
        if not isinstance(data, dict):
            raise ServerFaultError(f"Audio Cleaner {kind}: success envelope without data")
        return data

    @staticmethod
    def _too_long(status: int, code: int | None, message: str, chars: int) -> APIError:
        named = f"code {code}" if code is not None else f"HTTP {status}"
        return TextRejectedError(
            f"Audio Cleaner rejected a {chars}-character text as too long ({named}: {message})",
            code=code,
            tip="Lower the longest segment length in the recipe, then run the same command again.",
        )

    # --- download -------------------------------------------------------------------

    async def download(self, url: str) -> bytes:
        """Fetch a result file and prove it is whole, decodable audio."""
        self.requests["download"] += 1
        where = _check_url(url)
        data = await self._fetch(url, where)
        return await asyncio.to_thread(_verify_audio, data, where)

    async def _fetch(self, url: str, where: str) -> bytes:
        cap = self.max_download_bytes
        try:
            async with self._http.stream("GET", url) as resp:
                if resp.status_code in EXPIRED_STATUSES:
                    raise OutputExpiredError(f"The output file at {where} has expired (HTTP {resp.status_code})")
                if resp.status_code != 200:
                    raise DownloadError(f"Downloading {where} failed: HTTP {resp.status_code}")
                declared = _as_int(resp.headers.get("content-length"))
                if declared is not None and declared > cap:
                    raise DownloadError(f"The output file at {where} is {declared} bytes, over the {cap}-byte cap")
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.aiter_bytes():
                    size += len(chunk)
                    if size > cap:
                        raise DownloadError(f"The output file at {where} exceeds the {cap}-byte cap")
                    chunks.append(chunk)
        except httpx.TimeoutException as exc:
            raise DownloadError(f"Downloading {where} timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise DownloadError(f"Downloading {where} was cut off ({type(exc).__name__})") from None
        return b"".join(chunks)


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _check_url(url: str) -> str:
    """`scheme://host` of an acceptable output URL (for messages); else UnsafeURLError."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise UnsafeURLError("The output URL is not a valid URL") from None
    where = f"{parsed.scheme}://{parsed.host}"
    if parsed.scheme == "https" and parsed.host:
        return where
    if parsed.scheme == "http" and is_loopback_host(parsed.host):
        return where
    raise UnsafeURLError(f"Refusing to download from {where}: only https, or http to loopback, is allowed")


def _verify_audio(data: bytes, where: str) -> bytes:
    """The bytes, if they are whole, decodable audio; else CorruptDownloadError (retryable).

    The format comes from the bytes; decode_to_pcm also catches cut-off MP3/WAV/FLAC
    (ffmpeg alone would decode the first half of a truncated file without a word).
    """
    from pipeline.audio.ffmpeg import decode_to_pcm, detect_format  # audio stage, loaded late

    fmt = detect_format(data)
    if fmt is None:
        head = data[:16].decode("ascii", "replace")
        raise CorruptDownloadError(f"The file from {where} is not audio ({len(data)} bytes starting {head!r})")
    try:
        decode_to_pcm(data)
    except AudioError as exc:
        raise CorruptDownloadError(f"The {fmt} file from {where} is not whole audio: {exc.message}") from None
    return data
