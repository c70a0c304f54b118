"""Where downloads may go: the policy table, redirects, and refusals that name only the host."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable

import httpx
import pytest

from pipeline.emulator.audio import render_mp3
from pipeline.errors import CorruptDownloadError, DownloadError, UnsafeURLError
from pipeline.models import Voice
from pipeline.tts.urlpolicy import Origin, OutputURLPolicy, address_problem, origin_of
from tests.tts.helpers import KEY, call, client_for, fake_resolver

API = "http://127.0.0.1:8765"

ALLOWED = [
    "http://127.0.0.1:8765/_emulator/files/a.mp3",  # the API's own origin, plain http included
    "http://127.0.0.1:8765",
    "https://cdn.test/a.mp3?sig=1",
    "https://CDN.test:443/a.mp3",
    "https://cdn.test./a.mp3",
    "https://dual.test/a.mp3",
    "https://93.184.216.34/a.mp3",
    "https://172.32.0.1/a.mp3",  # just outside 172.16/12
    "https://[2606:4700::1111]/a.mp3",
]

REFUSED = [
    ("http://127.0.0.1:8766/a.mp3", "http://127.0.0.1:8766", "a loopback address"),
    ("https://127.0.0.1:8765/a.mp3", "https://127.0.0.1:8765", "a loopback address"),  # another scheme
    ("https://127.0.0.2/a.mp3", "https://127.0.0.2", "a loopback address"),
    ("https://[::1]/a.mp3", "https://[::1]", "a loopback address"),
    ("https://10.0.0.7/a.mp3", "https://10.0.0.7", "a private address"),
    ("https://172.16.5.4/a.mp3", "https://172.16.5.4", "a private address"),
    ("https://172.31.255.255/a.mp3", "https://172.31.255.255", "a private address"),
    ("https://192.168.1.1:8443/a.mp3", "https://192.168.1.1:8443", "a private address"),
    ("https://[fc00::1]/a.mp3", "https://[fc00::1]", "a private address"),
    ("https://[fd12:3456::1]/a.mp3", "https://[fd12:3456::1]", "a private address"),
    ("https://169.254.169.254/latest/meta-data/", "https://169.254.169.254", "a link-local address"),
    ("https://169.254.1.1/a.mp3", "https://169.254.1.1", "a link-local address"),
    ("https://[fe80::1]/a.mp3", "https://[fe80::1]", "a link-local address"),
    ("https://0.0.0.0/a.mp3", "https://0.0.0.0", "an unspecified address"),
    ("https://[::]/a.mp3", "https://[::]", "an unspecified address"),
    ("https://224.0.0.1/a.mp3", "https://224.0.0.1", "a multicast address"),
    ("https://[ff02::1]/a.mp3", "https://[ff02::1]", "a multicast address"),
    ("https://240.0.0.1/a.mp3", "https://240.0.0.1", "a reserved address"),
    ("https://100.64.0.1/a.mp3", "https://100.64.0.1", "not a public address"),
    ("https://[::ffff:10.0.0.1]/a.mp3", "https://[::ffff:10.0.0.1]", "a private address"),
    ("https://[::ffff:127.0.0.1]/a.mp3", "https://[::ffff:127.0.0.1]", "a loopback address"),
    ("https://[::ffff:169.254.169.254]/", "https://[::ffff:169.254.169.254]", "a link-local address"),
    ("https://[2002:a00:1::]/a.mp3", "https://[2002:a00:1::]", "a private address"),  # 6to4 of 10.0.0.1
    ("http://cdn.test/a.mp3", "http://cdn.test", "plain http is allowed only to the API's own origin"),
    ("http://93.184.216.34/a.mp3", "http://93.184.216.34", "plain http"),
    ("ftp://cdn.test/a.mp3", "ftp://cdn.test:0", "only http(s) URLs are fetched"),
    ("ftp://127.0.0.1:8765/a.mp3", "ftp://127.0.0.1:8765", "only http(s)"),
    ("https://user:hunter2@cdn.test/a.mp3", "https://cdn.test", "a user name or password"),
    ("http://user@127.0.0.1:8765/a.mp3", "http://127.0.0.1:8765", "a user name or password"),
    ("https://internal.test/a.mp3", "https://internal.test", "it resolves to 10.0.0.7, a private address"),
    ("https://mixed.test/a.mp3", "https://mixed.test", "it resolves to 192.168.1.20, a private address"),
    ("https://metadata.test/a", "https://metadata.test", "it resolves to 169.254.169.254, a link-local address"),
    ("https://loop.test/a.mp3", "https://loop.test", "it resolves to 127.0.0.1, a loopback address"),
    ("https://mapped.test/a.mp3", "https://mapped.test", "it resolves to ::ffff:10.1.2.3, a private address"),
]


def check(url: str, api: str = API) -> Origin:
    return asyncio.run(OutputURLPolicy(api, fake_resolver()).check(url))


@pytest.mark.parametrize("url", ALLOWED)
def test_allowed(url: str) -> None:
    assert check(url) == origin_of(url)


@pytest.mark.parametrize(("url", "where", "reason"), REFUSED)
def test_refused(url: str, where: str, reason: str) -> None:
    with pytest.raises(UnsafeURLError) as info:
        check(url)
    message = str(info.value)
    assert message.startswith(f"Refusing to download from {where}: ") and reason in message, message
    assert "\n" not in message and "/a.mp3" not in message and "hunter2" not in message and "meta-data" not in message


@pytest.mark.parametrize("url", ["not a url", "file:///etc/passwd", "https://", "/relative/a.mp3",
                                 "https://cdn.test:99999/a.mp3"])
def test_unusable_urls(url: str) -> None:
    with pytest.raises(UnsafeURLError, match="not a valid URL|not an absolute URL|invalid port|only http"):
        check(url)


def test_an_unresolvable_host_is_a_retryable_download_error() -> None:
    with pytest.raises(DownloadError, match="Cannot resolve the host of https://nxdomain.test") as info:
        check("https://nxdomain.test/a.mp3")
    assert info.value.retryable and not isinstance(info.value, UnsafeURLError)


def test_origin_defaults_and_display() -> None:
    assert origin_of("https://Ex.COM/x") == Origin("https", "ex.com", 443)
    assert origin_of("http://[::1]:80/") == Origin("http", "::1", 80)
    assert str(Origin("https", "::1", 8443)) == "https://[::1]:8443" and str(Origin("https", "a.b", 443)) == "https://a.b"
    assert origin_of("https://bücher.test/").host == "xn--bcher-kva.test"


@pytest.mark.parametrize(("address", "problem"), [
    ("8.8.8.8", None), ("2606:4700::1111", None), ("::ffff:8.8.8.8", None),
    ("::10.0.0.1", "a reserved address"), ("64:ff9b::a00:1", "a reserved address"),
])
def test_address_problem_corner_cases(address: str, problem: str | None) -> None:
    assert address_problem(ipaddress.ip_address(address)) == problem


# --- redirects (MockTransport: the target of each hop is recorded) ---------------------


@pytest.fixture(scope="module")
def mp3() -> bytes:
    return render_mp3("A short clip for redirect tests.", Voice(1), "tone")


def routes(table: dict[str, httpx.Response], seen: list[str]) -> Callable[[httpx.Request], httpx.Response]:
    def reply(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return table.get(str(request.url), httpx.Response(404))

    return reply


def hop(location: str, status: int = 302) -> httpx.Response:
    return httpx.Response(status, headers={"location": location})


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_same_origin_redirect_is_followed(mp3: bytes, status: int) -> None:
    seen: list[str] = []
    table = {"https://cdn.test/a.mp3": hop("/b.mp3", status), "https://cdn.test/b.mp3": httpx.Response(200, content=mp3)}
    assert call(client_for(routes(table, seen)), "download", "https://cdn.test/a.mp3") == mp3
    assert seen == ["https://cdn.test/a.mp3", "https://cdn.test/b.mp3"]


def test_three_redirects_are_followed_a_fourth_is_not(mp3: bytes) -> None:
    chain = {f"https://cdn.test/{i}": hop(f"https://cdn.test/{i + 1}") for i in range(4)}
    seen: list[str] = []
    table = {**chain, "https://cdn.test/3": httpx.Response(200, content=mp3)}
    assert call(client_for(routes(table, seen)), "download", "https://cdn.test/0") == mp3
    seen.clear()
    table = {**chain, "https://cdn.test/4": httpx.Response(200, content=mp3)}
    with pytest.raises(DownloadError, match="https://cdn.test failed: more than 3 redirects"):
        call(client_for(routes(table, seen)), "download", "https://cdn.test/0")
    assert len(seen) == 4


@pytest.mark.parametrize(("location", "where"), [
    ("https://other.test/a.mp3", "https://other.test"),
    ("https://cdn.test:8443/a.mp3", "https://cdn.test:8443"),
    ("http://cdn.test/a.mp3", "http://cdn.test"),
    ("https://169.254.169.254/latest/meta-data/", "https://169.254.169.254"),
    ("http://127.0.0.1:9/x.mp3", "http://127.0.0.1:9"),
])
def test_redirect_to_another_origin_is_refused(location: str, where: str) -> None:
    seen: list[str] = []
    table = {"https://cdn.test/a.mp3": hop(location)}
    with pytest.raises(UnsafeURLError) as info:
        call(client_for(routes(table, seen)), "download", "https://cdn.test/a.mp3")
    assert str(info.value) == f"Refusing to download from {where}: https://cdn.test redirected there (another origin)"
    assert seen == ["https://cdn.test/a.mp3"]  # the target was never asked


def test_redirect_from_the_api_origin_to_loopback_elsewhere_is_refused() -> None:
    seen: list[str] = []
    table = {"https://api.test/files/a.mp3": hop("https://api.test:444/a.mp3")}
    with pytest.raises(UnsafeURLError, match="from https://api.test:444: https://api.test redirected there"):
        call(client_for(routes(table, seen)), "download", "https://api.test/files/a.mp3")


def test_redirect_carrying_the_key_is_refused_without_echoing_it() -> None:
    table = {"https://cdn.test/a.mp3": hop(f"/b.mp3?k={KEY}")}
    with pytest.raises(UnsafeURLError, match="redirected to a URL that contains the API key") as info:
        call(client_for(routes(table, [])), "download", "https://cdn.test/a.mp3")
    assert KEY not in str(info.value)


def test_redirect_without_location_is_a_download_error() -> None:
    with pytest.raises(DownloadError, match="HTTP 302 without a Location"):
        call(client_for(httpx.Response(302)), "download", "https://cdn.test/a.mp3")


def test_a_same_origin_redirect_is_checked_again(mp3: bytes) -> None:
    """Userinfo smuggled into a same-origin Location is still refused."""
    table = {"https://cdn.test/a.mp3": hop("https://x:y@cdn.test/b.mp3")}
    with pytest.raises(UnsafeURLError, match="user name or password"):
        call(client_for(routes(table, [])), "download", "https://cdn.test/a.mp3")


def test_downloads_never_send_the_key_nor_ask_for_compression() -> None:
    seen: list[httpx.Request] = []
    with pytest.raises(CorruptDownloadError, match="not audio .17 bytes of an HTML page"):
        call(client_for(httpx.Response(200, content=b"<html>oops</html>"), seen), "download", "https://cdn.test/a")
    assert "api-key" not in seen[0].headers and seen[0].headers["accept-encoding"] == "identity"
