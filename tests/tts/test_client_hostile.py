"""The client against a hostile or broken service, played by the emulator's faults and
output-URL options: every behaviour ends in the documented exception, bounded in memory
and time, and the key appears in no message and no log record."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pipeline.errors import (
    DownloadError,
    InvalidKeyError,
    NotSentError,
    ReplyTooLargeError,
    ServerFaultError,
    UnsafeURLError,
)
from pipeline.models import TTSRequest
from pipeline.tts.client import AudioCleanerClient
from tests.tts.helpers import TEXT, VOICE, create_and_wait, run

REPO = Path(__file__).resolve().parents[2]
SENTINEL = "HOSTILE-KEY-5b2e91c0aa"


# --- oversized and trickling replies ----------------------------------------------------

_RSS_SCRIPT = textwrap.dedent("""
    import asyncio, json, resource
    from pipeline.emulator import build_config, start_emulator
    from pipeline.errors import ReplyTooLargeError
    from pipeline.models import TTSRequest, Voice
    from pipeline.tts.client import AudioCleanerClient

    em = start_emulator(build_config(audio="tone", task_time=(0.02, 0.05)))
    rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux

    async def main():
        async with AudioCleanerClient("test-key", em.url) as client:
            job = await client.create(TTSRequest("Warm up every code path first.", Voice(1)))
            await client.get(job)
            em.set_faults({"huge_reply": 1.0})  # 300 MB envelopes (the default size)
            before, errors = rss(), []
            for call in (lambda: client.create(TTSRequest("Now a huge reply.", Voice(1))),
                         lambda: client.get(job)):
                try:
                    await call()
                except ReplyTooLargeError as exc:
                    errors.append(str(exc))
            return before, rss(), errors

    before, after, errors = asyncio.run(main())
    print(json.dumps({"before_kib": before, "after_kib": after, "errors": errors,
                      "fired": em.stats()["faults"].get("huge_reply", 0)}))
    em.stop()
""")


def test_a_300_mb_reply_is_refused_with_bounded_memory() -> None:
    """A fresh process (emulator and client in it), so its peak RSS is this test's alone."""
    done = subprocess.run([sys.executable, "-c", _RSS_SCRIPT], cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["fired"] == 2 and len(result["errors"]) == 2
    assert all("over the 1048576-byte cap (not read further)" in e for e in result["errors"])
    growth_mib = (result["after_kib"] - result["before_kib"]) / 1024
    assert growth_mib < 100, f"peak RSS grew by {growth_mib:.0f} MiB"


@pytest.mark.parametrize("scope", ["create", "get"])
def test_huge_replies_are_reply_too_large(emulator: Any, scope: str) -> None:
    em = emulator(faults={f"huge_reply@{scope}": 1.0}, huge_reply_bytes=5_000_000)

    async def flow(client: AudioCleanerClient) -> None:
        job = await client.create(TTSRequest(TEXT, VOICE)) if scope == "get" else "unused"
        await (client.get(job) if scope == "get" else client.create(TTSRequest(TEXT, VOICE)))

    with pytest.raises(ReplyTooLargeError, match=f"{scope}: the reply kept going, over the 1048576-byte cap"):
        run(flow, em.url)
    assert em.stats()["faults"]["huge_reply"] == 1


def test_a_huge_reply_within_a_larger_cap_is_read(emulator: Any) -> None:
    em = emulator(faults={"huge_reply@create": 1.0}, huge_reply_bytes=300_000)
    job_id = run(lambda c: c.create(TTSRequest(TEXT, VOICE)), em.url, max_reply_bytes=400_000)
    assert len(job_id) == 32


def test_a_trickling_reply_stops_at_the_call_deadline(emulator: Any) -> None:
    em = emulator(faults={"trickle@create": 1.0}, trickle_seconds=0.05)
    with pytest.raises(ServerFaultError, match="create: timed out .no whole reply within the 0.3 s call deadline"
                       ) as info:
        run(lambda c: c.create(TTSRequest(TEXT, VOICE)), em.url, call_deadline=0.3, timeout=10)
    assert not isinstance(info.value, NotSentError)
    assert em.stats()["tasks_created"] == 1  # the service acted: the outcome really is uncertain


def test_a_trickling_download_fails_for_its_low_rate(emulator: Any) -> None:
    em = emulator(trickle_seconds=0.05)

    async def flow(client: AudioCleanerClient) -> bytes:
        status = await create_and_wait(client)
        em.set_faults({"trickle@download": 1.0})
        return await client.download(status.output_url)

    with pytest.raises(DownloadError) as info:
        run(flow, em.url, download_grace=0.3, download_min_rate=1024, timeout=10)
    message = str(info.value)
    assert message.startswith(f"Downloading from {em.url} was too slow: ")
    assert message.endswith("B/s on average, under the minimum of 1024 B/s")
    assert "_emulator" not in message and ".mp3" not in message


def test_a_trickling_download_that_keeps_its_rate_still_has_a_deadline(emulator: Any) -> None:
    em = emulator(trickle_seconds=0.05)

    async def flow(client: AudioCleanerClient) -> bytes:
        status = await create_and_wait(client)
        em.set_faults({"trickle@download": 1.0})
        return await client.download(status.output_url)

    with pytest.raises(DownloadError, match=f"^Downloading from {em.url} did not finish within the 0.4 s"):
        run(flow, em.url, download_deadline=0.4, download_min_rate=0, timeout=10)


# --- stuck tasks, dropped connections, a service that is not there ---------------------


def test_a_stuck_task_keeps_answering_waiting(emulator: Any) -> None:
    em = emulator(faults={"stuck": 1.0}, task_time=(0.02, 0.02))

    async def flow(client: AudioCleanerClient) -> tuple[list[str], str]:
        stuck = await client.create(TTSRequest(TEXT, VOICE))
        em.set_faults({})
        other = await create_and_wait(client, TEXT + " Not stuck.")  # created later, finished
        return [(await client.get(stuck)).state for _ in range(5)], other.state

    states, other = run(flow, em.url)
    assert states == ["waiting"] * 5 and other == "success"


def test_a_kept_alive_connection_dropped_after_sending_is_uncertain(emulator: Any) -> None:
    em = emulator()

    async def flow(client: AudioCleanerClient) -> None:
        try:
            await client.get("no-such-job")  # opens the connection the create will reuse
        except Exception:  # noqa: BLE001 - 101008 expected; only the connection matters
            pass
        em.set_faults({"drop@create": 1.0})
        await client.create(TTSRequest(TEXT, VOICE))

    with pytest.raises(ServerFaultError) as info:
        run(flow, em.url)
    assert not isinstance(info.value, NotSentError)
    assert em.stats()["tasks_created"] == 1  # the task exists though the reply was lost


def test_a_stopped_service_is_not_sent(emulator: Any) -> None:
    em = emulator()
    em.stop()
    with pytest.raises(NotSentError, match="create: not sent"):
        run(lambda c: c.create(TTSRequest(TEXT, VOICE)), em.url)


# --- the key echoed back ----------------------------------------------------------------


def test_echoed_keys_never_reach_a_message_or_a_log(emulator: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # the CLI quiets it; these tests read its lines
    em = emulator(keys=[SENTINEL], faults={"echo_key": 1.0})
    messages: list[str] = []

    async def attempt(client: AudioCleanerClient, call: Any) -> None:
        try:
            await call(client)
        except Exception as exc:  # noqa: BLE001 - every error's text is checked below
            messages.extend([str(exc), repr(exc), str(getattr(exc, "tip", ""))])

    async def flow(client: AudioCleanerClient) -> None:
        await attempt(client, lambda c: c.create(TTSRequest(TEXT, VOICE)))  # job id carries the key
        em.set_faults({})
        job = await client.create(TTSRequest(TEXT + " Clean.", VOICE))
        em.set_faults({"echo_key": 1.0})
        await attempt(client, lambda c: c.get(job))  # status is the key
        await attempt(client, lambda c: c.get("missing"))  # 101008 with the key in its message

    run(flow, em.url, key=SENTINEL)
    with pytest.raises(InvalidKeyError) as info:
        run(lambda c: c.create(TTSRequest(TEXT, VOICE)), em.url, key=SENTINEL + "-wrong")
    messages.append(str(info.value))
    assert len(messages) == 10
    assert "contains the API key (in data.job_id)" in messages[0] and "unknown status '***'" in messages[3]
    assert "Task not found (api-key: ***)" in messages[6] and "(api-key: ***)" in messages[9]
    logged = [r.getMessage() + repr(r.args) for r in caplog.records]
    assert any("HTTP Request" in line for line in logged)
    assert not [m for m in messages + logged if SENTINEL in m]
    assert em.stats()["faults"]["echo_key"] == 4


def test_an_output_url_carrying_the_key_is_refused(emulator: Any) -> None:
    em = emulator(keys=[SENTINEL], output_url="{base}/_emulator/files/{token}.mp3?k={key}")
    with pytest.raises(ServerFaultError, match=r"get reply contains the API key \(in data.output\)") as info:
        run(create_and_wait, em.url, key=SENTINEL)
    assert SENTINEL not in str(info.value)


# --- output URLs pointing where they must not ------------------------------------------

HOSTILE = [
    ("https://10.0.0.7/{token}.mp3", "https://10.0.0.7: a private address"),
    ("https://192.168.0.1:8443/{token}.mp3", "https://192.168.0.1:8443: a private address"),
    ("https://169.254.169.254/{token}.mp3", "https://169.254.169.254: a link-local address"),
    ("http://169.254.169.254/latest/meta-data/{token}", "http://169.254.169.254: a link-local address"),
    ("http://127.0.0.1:1/{token}.mp3", "http://127.0.0.1:1: a loopback address other than the API's own origin"),
    ("https://[::1]/{token}.mp3", "https://[::1]: a loopback address"),
    ("ftp://127.0.0.1/{token}.mp3", "ftp://127.0.0.1:0: only http(s) URLs are fetched"),
    ("http://user:pw@127.0.0.1:1/{token}.mp3", "http://127.0.0.1:1: the URL carries a user name or password"),
    ("http://example.com/{token}.mp3", "http://example.com: plain http is allowed only to the API's own origin"),
]


@pytest.mark.parametrize(("template", "refusal"), HOSTILE)
def test_hostile_output_urls_are_refused_naming_the_host(emulator: Any, template: str, refusal: str) -> None:
    em = emulator(output_url=template)

    async def flow(client: AudioCleanerClient) -> bytes:
        status = await create_and_wait(client)
        return await client.download(status.output_url)

    with pytest.raises(UnsafeURLError) as info:
        run(flow, em.url)
    message = str(info.value)
    assert message.startswith("Refusing to download from " + refusal), message
    assert "\n" not in message and ".mp3" not in message and "meta-data" not in message and "pw" not in message
    assert em.stats()["requests"].get("download", 0) == 0  # nothing was fetched from anywhere


def test_redirect_to_another_origin_is_refused(emulator: Any) -> None:
    em = emulator()

    async def flow(client: AudioCleanerClient) -> bytes:
        status = await create_and_wait(client)
        em.set_faults({"redirect": 1.0})
        return await client.download(status.output_url)

    with pytest.raises(UnsafeURLError) as info:
        run(flow, em.url)
    assert str(info.value) == f"Refusing to download from http://127.0.0.1:9: {em.url} redirected there (another origin)"
    assert em.stats()["requests"]["download"] == 1


def test_same_origin_redirects_are_followed_within_limits(emulator: Any) -> None:
    em = emulator(redirect_url="{base}/_emulator/direct/{token}.mp3")

    async def flow(client: AudioCleanerClient) -> bytes:
        status = await create_and_wait(client)
        em.set_faults({"redirect": 1.0})
        return await client.download(status.output_url)

    data = run(flow, em.url)
    assert data[:3] == b"ID3" or data[0] == 0xFF
    assert em.stats()["requests"]["download"] == 2


def test_a_same_origin_redirect_loop_stops_after_three(emulator: Any) -> None:
    em = emulator(redirect_url="{base}/_emulator/files/{token}.mp3")

    async def flow(client: AudioCleanerClient) -> bytes:
        status = await create_and_wait(client)
        em.set_faults({"redirect": 1.0})
        return await client.download(status.output_url)

    with pytest.raises(DownloadError, match=f"Downloading from {em.url} failed: more than 3 redirects"):
        run(flow, em.url)
    assert em.stats()["requests"]["download"] == 4
