"""Fetching a result file: URL policy, same-origin redirects, deadline, rate floor, cap,
and proof that the bytes are whole audio.

Why so strict: the output URL is chosen by the service, and the file host is not the
API. A download must not reach private networks, must not hang a build (a total
deadline, plus a minimum average rate after a grace period, so a host trickling a
byte every few seconds is cut off long before the deadline), must not fill memory
(the size cap), and must never carry or echo the API key (it is not sent, and
messages name only `scheme://host[:port]`).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass

import httpx

from pipeline.errors import AudioError, CorruptDownloadError, DownloadError, OutputExpiredError, UnsafeURLError
from pipeline.tts.bodies import BodyEncodingError, BodyTooLarge, BodyTooSlow, Clock, RateFloor, read_capped
from pipeline.tts.secrets import Secret
from pipeline.tts.urlpolicy import Origin, OutputURLPolicy, origin_of, refuse

EXPIRED_STATUSES = frozenset({403, 404, 410})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 3


@dataclass(frozen=True)
class DownloadLimits:
    """How big, how long and how slow a download may be (see the client's arguments)."""

    max_bytes: int = 50_000_000
    deadline: float = 300.0
    min_rate: float = 16 * 1024  # bytes/s on average, enforced after `grace`
    grace: float = 10.0


class Downloader:
    """Downloads result files for one client (shares its connection pool, never its key)."""

    def __init__(self, http: httpx.AsyncClient, policy: OutputURLPolicy, secret: Secret,
                 limits: DownloadLimits, clock: Clock = time.monotonic) -> None:
        self._http, self._policy, self._secret = http, policy, secret
        self.limits, self._clock = limits, clock

    async def download(self, url: str) -> bytes:
        """The verified audio bytes at `url`; DownloadError subclasses or UnsafeURLError."""
        where = self._where(url)
        if self._secret.found_in(url):
            raise refuse(where, "the URL contains the API key")
        floor = RateFloor(self.limits.min_rate, self.limits.grace, self._clock)
        try:
            async with asyncio.timeout(self.limits.deadline):
                data = await self._follow(url, floor)
        except TimeoutError:
            raise DownloadError(
                f"Downloading from {where} did not finish within the {self.limits.deadline:g} s download deadline"
            ) from None
        return await asyncio.to_thread(verify_audio, data, where)

    def _where(self, url: str) -> str:
        """`scheme://host[:port]` for messages, scrubbed (a host could echo the key)."""
        try:
            return self._secret.scrub(str(origin_of(url)))
        except UnsafeURLError:  # unparseable: named generically, the policy says why
            return "the output URL"

    async def _follow(self, url: str, floor: RateFloor) -> bytes:
        """GET `url`, following at most MAX_REDIRECTS redirects within its origin."""
        origin = await self._policy.check(url)
        for hops in itertools.count():
            outcome = await self._get(url, str(origin), floor)
            if isinstance(outcome, bytes):
                return outcome
            if hops == MAX_REDIRECTS:
                raise DownloadError(f"Downloading from {origin} failed: more than {MAX_REDIRECTS} redirects")
            url = self._redirect_target(url, origin, outcome)
            await self._policy.check(url)
        raise AssertionError("unreachable")  # pragma: no cover

    def _redirect_target(self, url: str, origin: Origin, location: str) -> str:
        """The absolute target of a redirect, if it stays in `origin`; else UnsafeURLError."""
        if self._secret.found_in(location):
            raise refuse(origin, "it redirected to a URL that contains the API key")
        try:
            target = httpx.URL(url).join(location)
        except (httpx.InvalidURL, ValueError, TypeError):
            raise refuse(origin, "it redirected to an invalid URL") from None
        target_origin = origin_of(target)
        if target_origin != origin:
            raise refuse(target_origin, f"{origin} redirected there (another origin)")
        return str(target)

    async def _get(self, url: str, where: str, floor: RateFloor) -> bytes | str:
        """The body of a 200, or the Location of a redirect."""
        limits = self.limits
        try:
            async with self._http.stream("GET", url, headers={"Accept-Encoding": "identity"}) as resp:
                status = resp.status_code
                if status in REDIRECT_STATUSES:
                    location: str = resp.headers.get("location", "")
                    if not location:
                        raise DownloadError(f"Downloading from {where} failed: HTTP {status} without a Location")
                    return location
                if status in EXPIRED_STATUSES:
                    raise OutputExpiredError(f"The output file at {where} has expired (HTTP {status})")
                if status != 200:
                    raise DownloadError(f"Downloading from {where} failed: HTTP {status}")
                return await read_capped(resp, limits.max_bytes, floor)
        except BodyTooLarge as exc:
            size = f"is {exc.size} bytes, over" if exc.declared else "exceeds"
            raise DownloadError(f"The output file at {where} {size} the {limits.max_bytes}-byte cap") from None
        except BodyTooSlow as exc:
            raise DownloadError(
                f"Downloading from {where} was too slow: {_rate(exc.rate)} on average, "
                f"under the minimum of {_rate(limits.min_rate)}"
            ) from None
        except BodyEncodingError as exc:
            raise DownloadError(f"Downloading from {where} failed: {exc}") from None
        except httpx.TimeoutException as exc:
            raise DownloadError(f"Downloading {where} timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise DownloadError(f"Downloading {where} was cut off ({type(exc).__name__})") from None


def _rate(bytes_per_second: float) -> str:
    if bytes_per_second >= 10 * 1024:
        return f"{bytes_per_second / 1024:.1f} KiB/s"
    return f"{bytes_per_second:.0f} B/s"


def _kind(data: bytes) -> str:
    """What a non-audio body looks like, without quoting it (it may echo anything)."""
    head = data[:64].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return "an HTML page"
    if head.startswith((b"<", b"{", b"[")):
        return {"<": "XML or HTML", "{": "JSON", "[": "JSON"}[chr(head[0])]
    return "unknown data" if data else "nothing"


def verify_audio(data: bytes, where: str) -> bytes:
    """The bytes, if they are whole, decodable audio; else CorruptDownloadError (retryable).

    The format comes from the bytes; decode_to_pcm also catches cut-off MP3/WAV/FLAC
    (ffmpeg alone would decode the first half of a truncated file without a word).
    """
    from pipeline.audio.ffmpeg import decode_to_pcm, detect_format  # audio stage, loaded late

    fmt = detect_format(data)
    if fmt is None:
        raise CorruptDownloadError(f"The file from {where} is not audio ({len(data)} bytes of {_kind(data)})")
    try:
        decode_to_pcm(data)
    except AudioError as exc:
        raise CorruptDownloadError(f"The {fmt} file from {where} is not whole audio: {exc.message}") from None
    return data
