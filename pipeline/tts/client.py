"""The Audio Cleaner TTS client: three documented calls plus a verified download.

It classifies every outcome into pipeline.errors classes and never retries: the
scheduler owns retry policy, so one place decides how hard to push a paid service.
Vendor codes are read from the JSON body whatever the HTTP status, and mapped only
through `pipeline.errors.api_error` (the one code table).

The outcome contract of `create` (and `get`, with the same classes):

- success: the job id (get: a TaskStatus);
- a well-formed envelope with a non-success code: the APIError subclass that
  `api_error` maps it to (TextRejectedError for a length rejection on create);
- NotSentError: the request certainly never reached the service, because no
  connection was established (connection refused, name not resolved, connect
  timeout, no pooled connection free in time). On create nothing can be billed;
- ServerFaultError (or ReplyTooLargeError): the service may have acted but we
  cannot know what it did: a timeout after sending, a connection dropped mid-call
  (even a kept-alive one), the total `call_deadline` passed, a 5xx without a code,
  a non-JSON body, an envelope without code/data, success without a job id, a
  reply over `max_reply_bytes` (read no further), a job id or output URL that
  contains the API key (it cannot be stored safely). On create this is the
  *uncertain* outcome: a task may exist that we never heard of;
- UnknownAPIError: a 4xx without a code (usually a wrong --api-url).

The key travels only in the `api-key` header of the two API calls. Every string
from the service (message, status, job id, URL host) is scrubbed of it, raw or
percent-encoded, before it reaches a message or a log line.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import re
import time

import httpx

from pipeline.errors import (
    API_CODES,
    SUCCESS_CODE,
    APIError,
    NotSentError,
    ReplyTooLargeError,
    ServerFaultError,
    TextRejectedError,
    UnknownAPIError,
    api_error,
)
from pipeline.models import TaskState, TaskStatus, TTSRequest
from pipeline.tts.bodies import BodyEncodingError, BodyTooLarge, Clock, read_capped
from pipeline.tts.download import Downloader, DownloadLimits
from pipeline.tts.secrets import DEFAULT_URL, Secret, resolve_api_key, resolve_base_url
from pipeline.tts.urlpolicy import OutputURLPolicy, Resolver

__all__ = ["AudioCleanerClient", "DEFAULT_URL", "resolve_api_key", "resolve_base_url", "looks_like_length_rejection"]

log = logging.getLogger(__name__)

CREATE_PATH = "/audio/api/v1/api-keys/tts/task/create"
GET_PATH = "/audio/api/v1/api-keys/tts/task/get"
TASK_STATES: tuple[TaskState, ...] = ("waiting", "success", "failed")
MAX_JOB_ID = 256  # the vendor's are 32 hex digits; a megabyte "id" is not one
# A 4xx without a vendor code usually means a wrong URL (not worth retrying), except these.
TRANSIENT_4XX = frozenset({408, 425, 429})
# No connection was ever established: the request cannot have reached the service.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
# The vendor documents no "text too long" code. We treat a create reply as a length
# rejection when HTTP says 413, or when the code is undocumented and the message
# talks about length / characters / being too long.
_LENGTH_WORDS = re.compile(r"too long|length|too many char|characters?\b|\bchars?\b|max.?len", re.I)
Data = dict[str, object]


def looks_like_length_rejection(status: int, code: int | None, message: str) -> bool:
    """Heuristic for "the text is too long" on create (the vendor documents no code)."""
    if status == 413:
        return True
    return (code is None or code not in API_CODES) and bool(_LENGTH_WORDS.search(message))


class AudioCleanerClient:
    """Async client for the vendor's task API (also drives `audiobook emulator`).

    `timeout` bounds each network operation (connect, each read); `call_deadline`
    bounds a whole API call (send plus the entire reply), `max_reply_bytes` its
    reply. Downloads: `max_download_bytes`, `download_deadline`, and an average
    rate of at least `download_min_rate` bytes/s once `download_grace` seconds
    have passed (`clock` is injectable for exact tests). `resolve` replaces the
    system resolver for the output-URL policy (tests).
    """

    name = "audiocleaner"

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_URL,
        *,
        timeout: float = 30.0,
        max_reply_bytes: int = 1 << 20,
        call_deadline: float = 60.0,
        max_download_bytes: int = 50_000_000,
        download_deadline: float = 300.0,
        download_min_rate: float = 16 * 1024,
        download_grace: float = 10.0,
        clock: Clock = time.monotonic,
        resolve: Resolver | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("api_key is empty")
        if min(max_reply_bytes, max_download_bytes) <= 0 or min(call_deadline, download_deadline) <= 0:
            raise ValueError("caps and deadlines must be positive")
        self._key = Secret(api_key)
        self.base_url = base_url.rstrip("/")
        self.max_reply_bytes = max_reply_bytes
        self.call_deadline = call_deadline
        self.requests: collections.Counter[str] = collections.Counter()
        # The key goes per request (never on the client's default headers), so the
        # file-host downloads never carry it. Redirects are followed by hand (downloads only).
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport, follow_redirects=False)
        limits = DownloadLimits(max_download_bytes, download_deadline, download_min_rate, download_grace)
        self._downloads = Downloader(self._http, OutputURLPolicy(self.base_url, resolve), self._key, limits, clock)

    @property
    def max_download_bytes(self) -> int:
        return self._downloads.limits.max_bytes

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
        """Submit a task; return the vendor's `job_id` (see the module's contract)."""
        data = await self._call("create", CREATE_PATH, request.body(), text_chars=len(request.text))
        job_id = data.get("job_id")
        if not isinstance(job_id, str) or not job_id:
            raise ServerFaultError("Audio Cleaner create reply has no data.job_id")
        self._refuse_key("create", "data.job_id", job_id)
        if len(job_id) > MAX_JOB_ID or not job_id.isprintable():
            raise ServerFaultError(f"Audio Cleaner create reply has an implausible job id ({len(job_id)} characters)")
        log.debug("created task %s (%d chars)", job_id, len(request.text))
        return job_id

    async def get(self, job_id: str) -> TaskStatus:
        """Query a task; create's `job_id` travels as `global_id`."""
        data = await self._call("get", GET_PATH, {"global_id": job_id})
        state = data.get("status")
        output = data.get("output") or ""
        if not isinstance(output, str):
            raise ServerFaultError("Audio Cleaner get reply has an output that is not a string")
        self._refuse_key("get", "data.output", output)
        if state not in TASK_STATES:
            raise ServerFaultError(f"Audio Cleaner get reply has an unknown status {self._shown(state)}")
        if state == "success" and not output:
            raise ServerFaultError("Audio Cleaner reports success without an output URL")
        return TaskStatus(state=state, output_url=output)

    def _refuse_key(self, kind: str, field: str, value: str) -> None:
        """A value we would store or fetch must not carry the key (it would persist)."""
        if self._key.found_in(value):
            raise ServerFaultError(f"Audio Cleaner {kind} reply contains the API key (in {field}); not using it")

    def _shown(self, value: object, limit: int = 40) -> str:
        """A service value fit for a message: scrubbed first, then truncated, then repr'd."""
        text = self._key.scrub(value if isinstance(value, str) else json.dumps(value, default=str))
        return repr(text[:limit]) + ("..." if len(text) > limit else "")

    async def _call(self, kind: str, path: str, body: dict[str, object], text_chars: int = 0) -> Data:
        """POST under the call deadline, then turn the reply into `data` or its error."""
        self.requests[kind] += 1
        try:
            async with asyncio.timeout(self.call_deadline):
                status, raw = await self._post(kind, path, body)
        except TimeoutError:
            raise ServerFaultError(
                f"Audio Cleaner {kind}: timed out (no whole reply within the {self.call_deadline:g} s call deadline)"
            ) from None
        return self._envelope(kind, status, raw, text_chars)

    async def _post(self, kind: str, path: str, body: dict[str, object]) -> tuple[int, bytes]:
        """(HTTP status, body) with the body read streaming under `max_reply_bytes`."""
        headers = {"api-key": self._key.reveal(), "Content-Type": "application/json", "Accept-Encoding": "identity"}
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        try:
            async with self._http.stream("POST", self.base_url + path, content=payload, headers=headers) as resp:
                return resp.status_code, await read_capped(resp, self.max_reply_bytes)
        except BodyTooLarge as exc:
            size = f"declares {exc.size} bytes" if exc.declared else "kept going"
            raise ReplyTooLargeError(
                f"Audio Cleaner {kind}: the reply {size}, over the {self.max_reply_bytes}-byte cap (not read further)"
            ) from None
        except BodyEncodingError as exc:
            raise ServerFaultError(f"Audio Cleaner {kind}: {exc}") from None
        except httpx.TransportError as exc:
            raise _transport_fault(kind, exc) from None

    def _envelope(self, kind: str, status: int, raw: bytes, text_chars: int) -> Data:
        doc = _parse_json(raw)
        code = _as_int(doc.get("code")) if isinstance(doc, dict) else None
        if not isinstance(doc, dict) or code is None:
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
        """Fetch a result file and prove it is whole, decodable audio (see download.py)."""
        self.requests["download"] += 1
        return await self._downloads.download(url)


def _transport_fault(kind: str, exc: httpx.TransportError) -> ServerFaultError:
    """NotSentError only when no connection was made; anything later is uncertain."""
    name = type(exc).__name__
    if isinstance(exc, NOT_SENT):
        return NotSentError(f"Audio Cleaner {kind}: not sent, no connection could be made ({name})")
    if isinstance(exc, httpx.TimeoutException):
        return ServerFaultError(f"Audio Cleaner {kind}: timed out ({name})")
    return ServerFaultError(f"Audio Cleaner {kind}: connection failed ({name})")


def _parse_json(raw: bytes) -> object | None:
    """The decoded document, or None for anything that is not JSON (or absurdly nested)."""
    try:
        doc: object = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return doc


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None
