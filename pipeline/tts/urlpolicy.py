"""Where result downloads may go: the API's own origin, or https to public addresses.

The output URL comes from the service's reply, so a hostile or compromised service
(or a poisoned cache) could point us at the cloud metadata endpoint, the user's
router or another local port. The rule, in order:

1. only http(s), no userinfo (a URL with credentials is never ours to use);
2. the API base URL's exact origin (scheme, host, port) is always allowed: that is
   where the emulator serves its files;
3. anything else must be https to a public address: an IP literal must be global
   (IPv4-mapped and 6to4 IPv6 unwrapped), a hostname must resolve only to global
   addresses (every address, since the connection may use any of them).

Every refusal is an UnsafeURLError of one line naming `scheme://host[:port]`,
never the path or query (they may carry signatures or an echoed key).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import NamedTuple

import httpx

from pipeline.errors import DownloadError, UnsafeURLError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the addresses a connection could use (strings as getaddrinfo gives them)
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
DEFAULT_PORTS = {"http": 80, "https": 443}


class Origin(NamedTuple):
    """scheme, lower-case host (IPv6 without brackets), port (default filled in)."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = DEFAULT_PORTS.get(self.scheme)
        return f"{self.scheme}://{host}" if self.port == default else f"{self.scheme}://{host}:{self.port}"


def parse_url(url: str) -> httpx.URL:
    """The URL, or UnsafeURLError without echoing it (it may carry anything)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise UnsafeURLError("The output URL is not a valid URL") from None
    if not parsed.scheme or not parsed.host:
        raise UnsafeURLError("The output URL is not an absolute URL")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise UnsafeURLError("The output URL has an invalid port")
    return parsed


def origin_of(url: str | httpx.URL) -> Origin:
    parsed = url if isinstance(url, httpx.URL) else parse_url(url)
    port = parsed.port if parsed.port is not None else DEFAULT_PORTS.get(parsed.scheme, 0)
    host = parsed.raw_host.decode("ascii", "replace").lower().rstrip(".")  # IDNA form
    return Origin(parsed.scheme, host, port)


def address_problem(ip: IPAddress) -> str | None:
    """Why a connection to `ip` is refused ("a private address"), or None if it is public.

    Explicit checks first: Python's `is_global` calls multicast and some reserved
    IPv6 ranges global, and 6to4 or IPv4-mapped addresses hide an IPv4 inside.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour
        if inner is not None:
            return address_problem(inner)
    checks = (
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_loopback, "a loopback address other than the API's own origin"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_reserved, "a reserved address"),
        (ip.is_private, "a private address"),
        (not ip.is_global, "not a public address"),
    )
    return next((reason for failed, reason in checks if failed), None)


async def system_resolver(host: str, port: int) -> Sequence[str]:
    """Every address the system resolver gives for host:port (async, no thread of ours)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class OutputURLPolicy:
    """Decides whether an output URL may be fetched (see the module docstring)."""

    def __init__(self, api_base_url: str, resolve: Resolver | None = None) -> None:
        self.api_origin = origin_of(httpx.URL(api_base_url))
        self._resolve = resolve or system_resolver

    async def check(self, url: str) -> Origin:
        """The URL's origin if it may be fetched; else UnsafeURLError (or DownloadError
        when its host cannot be resolved, which is worth retrying later)."""
        parsed = parse_url(url)
        origin = origin_of(parsed)
        if origin.scheme not in DEFAULT_PORTS:
            raise refuse(origin, "only http(s) URLs are fetched")
        if parsed.userinfo:
            raise refuse(origin, "the URL carries a user name or password")
        if origin == self.api_origin:
            return origin
        literal = _ip_literal(origin.host)
        if literal is not None and (problem := address_problem(literal)):
            raise refuse(origin, problem)
        if origin.scheme != "https":
            raise refuse(origin, "plain http is allowed only to the API's own origin")
        if literal is None:
            await self._check_resolved(origin)
        return origin

    async def _check_resolved(self, origin: Origin) -> None:
        try:
            addresses = await self._resolve(origin.host, origin.port)
        except (OSError, UnicodeError) as exc:
            raise DownloadError(f"Cannot resolve the host of {origin} ({type(exc).__name__})") from None
        if not addresses:
            raise DownloadError(f"Cannot resolve the host of {origin} (no addresses)")
        for text in addresses:
            ip = _ip_literal(text.split("%", 1)[0])
            problem = "an unreadable address" if ip is None else address_problem(ip)
            if problem:
                raise refuse(origin, f"it resolves to {text}, {problem}")


def refuse(origin: Origin | str, reason: str) -> UnsafeURLError:
    return UnsafeURLError(f"Refusing to download from {origin}: {reason}")


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
