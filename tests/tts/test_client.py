"""AudioCleanerClient against the real emulator over loopback: every code, every fault."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from pipeline.audio.ffmpeg import decode_to_pcm
from pipeline.errors import (
    BadAudioError,
    ConcurrencyLimitedError,
    CorruptDownloadError,
    CreditsExhaustedError,
    DownloadError,
    InvalidKeyError,
    KeyDisabledError,
    KeyNotEnabledError,
    NotSentError,
    OutputExpiredError,
    RateLimitedError,
    ServerFaultError,
    TaskNotFoundError,
    TextRejectedError,
)
from pipeline.models import TaskStatus, TTSRequest
from pipeline.synth.clock import SteppedClock
from pipeline.tts.client import AudioCleanerClient
from tests.emulator_fixture import wait_sleeping
from tests.tts.helpers import TEXT, VOICE, create_and_wait, run, wait_done  # noqa: E402

# --- happy path -------------------------------------------------------------------------


def test_happy_path_real_speech_end_to_end(emulator: Any) -> None:
    clock = SteppedClock()  # the task ends when the test says: the first get sees it waiting
    em = emulator(audio="speech", task_time=(0.3, 0.4), clock=clock)

    async def flow(client: AudioCleanerClient) -> tuple[list[str], bytes]:
        job_id = await client.create(TTSRequest(TEXT, VOICE))
        states = [(await client.get(job_id)).state]
        await asyncio.to_thread(wait_sleeping, clock, 1)
        clock.advance(0.4)
        final = await wait_done(client, job_id)
        states.append(final.state)
        return states, await client.download(final.output_url)

    states, data = run(flow, em.url)
    assert states == ["waiting", "success"]
    seconds = len(decode_to_pcm(data)) / 2 / 44100
    assert len(TEXT) / 30 < seconds < len(TEXT) / 5, seconds  # speech reads ~10-20 chars/s
    stats = em.stats()
    assert stats["credits_charged"] == 1 and stats["tasks_created"] == 1
    assert stats["requests"]["download"] == 1


def test_client_counts_requests_by_kind(emulator: Any) -> None:
    em = emulator()

    async def flow(client: AudioCleanerClient) -> dict[str, int]:
        status = await create_and_wait(client)
        await client.download(status.output_url)
        return dict(client.requests)

    counts = run(flow, em.url)
    assert counts["create"] == 1 and counts["download"] == 1 and counts["get"] >= 1
    assert counts["get"] == em.stats()["requests"]["get"]


# --- every documented code --------------------------------------------------------------


@pytest.mark.parametrize(
    ("key_spec", "error"),
    [("other-key", InvalidKeyError), ("test-key:disabled", KeyDisabledError),
     ("test-key:not-enabled", KeyNotEnabledError), ("test-key:0", CreditsExhaustedError)],
)
def test_create_codes_by_key(emulator: Any, key_spec: str, error: type[Exception]) -> None:
    em = emulator(keys=[key_spec])
    with pytest.raises(error) as info:
        run(lambda c: c.create(TTSRequest(TEXT, VOICE)), em.url, key="test-key")
    assert info.value.code == {InvalidKeyError: 101002, KeyDisabledError: 101005,
                               KeyNotEnabledError: 101006, CreditsExhaustedError: 100100}[error]
    assert str(info.value.code) in str(info.value)


def test_rate_limit_101003_counts_gets_and_creates_together(emulator: Any) -> None:
    em = emulator(rate_limit=1, burst=2)

    async def flow(client: AudioCleanerClient) -> None:
        job_id = await client.create(TTSRequest(TEXT, VOICE))
        await client.get(job_id)
        await client.get(job_id)  # third request inside one second

    with pytest.raises(RateLimitedError) as info:
        run(flow, em.url)
    assert info.value.retryable and em.stats()["rate_limited"] == 1


def test_open_tasks_101004(emulator: Any) -> None:
    em = emulator(max_open=1, task_time=(5, 5))

    async def flow(client: AudioCleanerClient) -> None:
        await client.create(TTSRequest(TEXT, VOICE))
        await client.create(TTSRequest(TEXT + " Again.", VOICE))

    with pytest.raises(ConcurrencyLimitedError):
        run(flow, em.url)
    assert em.stats()["concurrency_limited"] == 1


def test_inflight_requests_101004(emulator: Any) -> None:
    em = emulator(max_inflight=1, faults={"slow": 1.0}, slow_seconds=0.5)

    async def flow(client: AudioCleanerClient) -> list[object]:
        calls = [client.get("no-such-job") for _ in range(2)]
        return await asyncio.gather(*calls, return_exceptions=True)

    results = run(flow, em.url)
    kinds = sorted(type(r).__name__ for r in results)
    assert kinds == ["ConcurrencyLimitedError", "TaskNotFoundError"]


def test_unknown_job_101008(emulator: Any) -> None:
    em = emulator()
    with pytest.raises(TaskNotFoundError) as info:
        run(lambda c: c.get("0123456789abcdef0123456789abcdef"), em.url)
    assert info.value.code == 101008 and not info.value.retryable


def test_job_of_another_key_is_not_found(emulator: Any) -> None:
    em = emulator(keys=["alpha", "beta"])
    job_id = run(lambda c: c.create(TTSRequest(TEXT, VOICE)), em.url, key="alpha")
    with pytest.raises(TaskNotFoundError):
        run(lambda c: c.get(job_id), em.url, key="beta")


def test_get_answers_100100_when_balance_cannot_pay_then_topup_recovers(emulator: Any) -> None:
    em = emulator(keys=["test-key:2"], charge_on="success")
    long_text = "x" * 150  # 2 credits each; the balance pays for one

    async def first(client: AudioCleanerClient) -> tuple[str, str]:
        a = await client.create(TTSRequest(long_text, VOICE))
        b = await client.create(TTSRequest(long_text + "y", VOICE))
        return a, b

    async def outcome(client: AudioCleanerClient, job: str) -> str | int:
        """Poll until the task is paid ("success") or unpayable (100100)."""
        for _ in range(200):
            try:
                state = (await client.get(job)).state
            except CreditsExhaustedError as exc:
                return exc.code or 0
            if state != "waiting":
                return state
            await asyncio.sleep(0.05)
        raise AssertionError("still waiting")

    a, b = run(first, em.url)
    outcomes = [run(lambda c, j=job: outcome(c, j), em.url) for job in (a, b)]
    assert sorted(outcomes, key=str) == [100100, "success"]
    em.topup(2)  # the unpayable one may still be processing (100100 at a zero balance): wait for its end
    assert [run(lambda c, j=job: wait_done(c, j), em.url).state for job in (a, b)] == ["success", "success"]
    assert em.stats()["credits_charged"] == 4


def test_too_long_text_is_rejected_clearly(emulator: Any) -> None:
    em = emulator(max_text=120)
    with pytest.raises(TextRejectedError) as info:
        run(lambda c: c.create(TTSRequest("word " * 40, VOICE)), em.url)
    assert "200-character text as too long" in str(info.value)
    assert not info.value.retryable and info.value.tip


# --- every fault kind -------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["http_500", "http_502", "http_503", "drop", "malformed_json"])
def test_transport_faults_are_server_faults(emulator: Any, fault: str) -> None:
    em = emulator(faults={fault: 1.0})
    with pytest.raises(ServerFaultError) as info:
        run(lambda c: c.create(TTSRequest(TEXT, VOICE)), em.url)
    assert info.value.retryable and not isinstance(info.value, NotSentError)
    assert em.stats()["faults"][fault] == 1


def test_both_kinds_of_drop_are_server_faults(emulator: Any) -> None:
    em = emulator(faults={"drop": 1.0})

    async def flow(client: AudioCleanerClient) -> list[object]:
        calls = [client.create(TTSRequest(f"Drop number {i}.", VOICE)) for i in range(8)]
        return await asyncio.gather(*calls, return_exceptions=True)

    results = run(flow, em.url)
    assert all(isinstance(r, ServerFaultError) for r in results), results
    assert em.stats()["tasks_created"] == 8  # the replies were lost, not the tasks


def test_slow_reply_times_out_as_server_fault(emulator: Any) -> None:
    em = emulator(faults={"slow": 1.0}, slow_seconds=30.0)  # far past the 0.3 s timeout, even on a starved loop
    with pytest.raises(ServerFaultError, match="timed out .ReadTimeout") as info:
        run(lambda c: c.create(TTSRequest(TEXT, VOICE)), em.url, timeout=0.3)
    assert not isinstance(info.value, NotSentError)  # the request was sent: the outcome is uncertain


def test_dropped_create_still_created_the_task(emulator: Any) -> None:
    em = emulator(faults={"drop": 1.0})
    with pytest.raises(ServerFaultError):
        run(lambda c: c.create(TTSRequest(TEXT, VOICE)), em.url)
    em.set_faults()
    run(lambda c: c.create(TTSRequest(TEXT, VOICE)), em.url)
    stats = em.stats()
    assert stats["tasks_created"] == 2 and stats["duplicate_creates"] == 1


def test_task_failed_fault(emulator: Any) -> None:
    em = emulator(faults={"task_failed": 1.0})
    status = run(create_and_wait, em.url)
    assert status == TaskStatus("failed", "")
    assert em.stats()["tasks_failed"] == 1 and em.stats()["credits_charged"] == 0


def test_job_expire_fault_gives_101008_for_a_known_job(emulator: Any) -> None:
    clock = SteppedClock()  # the job expires when the test moves time, not when the machine is slow
    em = emulator(faults={"job_expire": 1.0}, job_ttl=0.2, task_time=(1, 1), clock=clock)
    answers: list[str] = []

    async def flow(client: AudioCleanerClient) -> None:
        job_id = await client.create(TTSRequest(TEXT, VOICE))
        clock.advance(0.1)
        answers.append((await client.get(job_id)).state)  # still known before its ttl
        clock.advance(0.2)
        await client.get(job_id)

    with pytest.raises(TaskNotFoundError):
        run(flow, em.url)
    assert answers == ["waiting"]


def _download_with(em: Any, **faults: float) -> bytes:
    """Create and finish a task fault-free, then download it under `faults`."""

    status = run(create_and_wait, em.url)  # at the default timeout: a busy machine may be slow here
    em.set_faults(**faults)
    return run(lambda c: c.download(status.output_url), em.url, timeout=1.0)


def test_url_expire_fault(emulator: Any) -> None:
    em = emulator(faults={"url_expire": 1.0}, url_ttl=0.0)
    status = run(create_and_wait, em.url)
    with pytest.raises(OutputExpiredError) as info:
        run(lambda c: c.download(status.output_url), em.url)
    assert info.value.expired is True and isinstance(info.value, DownloadError)


@pytest.mark.parametrize("fault", ["truncated_download", "non_audio_download"])
def test_corrupt_downloads_are_not_clips(emulator: Any, fault: str) -> None:
    em = emulator()
    with pytest.raises(CorruptDownloadError) as info:
        _download_with(em, **{fault: 1.0})
    assert isinstance(info.value, BadAudioError) and info.value.retryable
    assert em.stats()["faults"][fault] == 1


@pytest.mark.parametrize("fault", ["drop", "slow"])
def test_download_cut_or_stalled(emulator: Any, fault: str) -> None:
    em = emulator(slow_seconds=30.0)  # far past the 1 s timeout, even on a starved loop
    with pytest.raises(DownloadError) as info:
        _download_with(em, **{fault: 1.0})
    assert not isinstance(info.value, CorruptDownloadError)
    assert getattr(info.value, "expired", False) is False


def test_a_clean_download_after_faults_is_a_clip(emulator: Any) -> None:
    em = emulator()
    data = _download_with(em)
    assert len(decode_to_pcm(data)) > 44100  # tone: 0.06 s per character


# --- the key never leaks ----------------------------------------------------------------

SENTINEL = "SENTINEL-KEY-7f3a9c21d4"


def test_sentinel_key_never_appears(emulator: Any, caplog: pytest.LogCaptureFixture) -> None:
    em = emulator(keys=[f"{SENTINEL}:3"], rate_limit=50, max_text=300)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # the CLI quiets it; these tests read its lines
    texts: list[str] = []

    async def session(client: AudioCleanerClient) -> None:
        texts.append(repr(client))
        texts.append(str(vars(client)))
        status = await create_and_wait(client)
        await client.download(status.output_url)
        for bad in (lambda: client.get("missing"), lambda: client.create(TTSRequest("y" * 400, VOICE)),
                    lambda: client.create(TTSRequest("z" * 300, VOICE)),
                    lambda: client.download("http://example.com/x.mp3")):
            try:
                await bad()
            except Exception as exc:  # noqa: BLE001 - every error's text is checked below
                texts.extend([str(exc), repr(exc), str(exc.__cause__), str(getattr(exc, "tip", ""))])

    run(session, em.url, key=SENTINEL)
    try:
        run(lambda c: c.create(TTSRequest(TEXT, VOICE)), em.url, key=SENTINEL + "-wrong")
    except InvalidKeyError as exc:
        texts.extend([str(exc), repr(exc)])
    assert len(texts) >= 10
    logged = "\n".join(r.getMessage() + repr(r.args) for r in caplog.records)
    assert "HTTP Request" in logged  # httpx did log request lines at INFO/DEBUG ...
    assert SENTINEL not in logged  # ... without headers
    assert all(SENTINEL not in t for t in texts)
