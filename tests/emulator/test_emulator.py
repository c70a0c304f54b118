"""Emulator behaviour: billing models, statistics, determinism, queueing, config and CLI."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import click
import httpx
import pytest
from click.testing import CliRunner

from pipeline.audio.ffmpeg import decode_to_pcm
from pipeline.cli.emulator_cmd import emulator as emulator_command
from pipeline.emulator import EmulatorConfig, KeySpec, build_config, start_emulator
from pipeline.emulator.audio import TONE_RATE, tone_pcm
from pipeline.emulator.config import load_yaml, parse_fault, parse_key, parse_range
from pipeline.emulator.faults import FaultPlan
from pipeline.errors import UserError
from pipeline.synth.clock import SteppedClock
from tests.emulator_fixture import wait_sleeping

CREATE = "/audio/api/v1/api-keys/tts/task/create"
GET = "/audio/api/v1/api-keys/tts/task/get"


def create(url: str, text: str, key: str = "test-key") -> dict[str, Any]:
    body = {"voice_id": 1, "emotion": 0, "speed": 1, "language": "en", "text": text}
    return httpx.post(url + CREATE, json=body, headers={"api-key": key}).json()


def get(url: str, job_id: str, key: str = "test-key") -> dict[str, Any]:
    return httpx.post(url + GET, json={"global_id": job_id}, headers={"api-key": key}).json()


def wait_all(url: str, job_ids: list[str], timeout: float = 60.0) -> list[str]:
    """States once none is "waiting" (the timeout is only a safety net for a hung emulator)."""
    deadline = time.monotonic() + timeout
    while True:
        states = [get(url, j)["data"]["status"] for j in job_ids]
        if "waiting" not in states or time.monotonic() > deadline:
            return states
        time.sleep(0.05)


@pytest.mark.parametrize("charge_on", ["success", "create"])
def test_billing_ceil_chars_over_100_at_the_chosen_moment(emulator: Any, charge_on: str) -> None:
    clock = SteppedClock()  # no task ends before the test looks, however slow the creates
    em = emulator(charge_on=charge_on, task_time=(0.4, 0.4), clock=clock)
    jobs = [create(em.url, "a" * n)["data"]["job_id"] for n in (60, 100, 101, 215)]
    charged_now = em.stats()["credits_charged"]
    assert charged_now == (0 if charge_on == "success" else 1 + 1 + 2 + 3)
    wait_sleeping(clock, 4)
    clock.advance(0.4)
    assert wait_all(em.url, jobs) == ["success"] * 4
    stats = em.stats()
    assert stats["credits_charged"] == 7 and stats["keys"]["test-key"]["balance"] == 1_000_000 - 7


def test_code_points_not_bytes_are_billed(emulator: Any) -> None:
    em = emulator(charge_on="create")
    create(em.url, "日本語" * 33 + "🙂")  # 100 code points, 301 UTF-8 bytes
    assert em.stats()["credits_charged"] == 1


def test_failed_tasks_are_free_under_charge_on_success(emulator: Any) -> None:
    em = emulator(faults={"task_failed": 1.0})
    job = create(em.url, "Hello.")["data"]["job_id"]
    assert wait_all(em.url, [job]) == ["failed"]
    assert em.stats()["credits_charged"] == 0 and em.stats()["tasks_failed"] == 1


def test_duplicates_requests_and_task_seconds(emulator: Any) -> None:
    clock = SteppedClock()  # task seconds exact: each task takes 0.1 s of emulator time
    em = emulator(task_time=(0.1, 0.1), clock=clock)
    jobs = [create(em.url, t)["data"]["job_id"] for t in ("One.", "Two.", "One.")]
    wait_sleeping(clock, 3)
    clock.advance(0.1)
    wait_all(em.url, jobs)
    stats = em.stats()
    assert stats["duplicate_creates"] == 1 and stats["tasks_created"] == 3
    assert stats["requests"]["create"] == 3 and stats["requests"]["get"] >= 3
    assert stats["task_seconds"] == pytest.approx(0.3)


def test_workers_queue_tasks(emulator: Any) -> None:
    em = emulator(workers=1, task_time=(0.1, 0.1))
    jobs = [create(em.url, f"Text {i}.")["data"]["job_id"] for i in range(3)]
    assert wait_all(em.url, jobs) == ["success"] * 3
    spans = sorted((started, finished) for _, started, finished in httpx.get(em.url + "/_emulator/timeline").json()["tasks"])
    assert all(spans[i][1] <= spans[i + 1][0] for i in range(2)), spans  # one at a time, never overlapping


def test_faults_are_reproducible_whatever_the_order(emulator: Any) -> None:
    texts = [f"Sentence number {i}." for i in range(24)]
    outcomes = []
    for order in (texts, texts[::-1]):
        em = emulator(faults={"http_500": 0.5}, seed=7)
        failed = set()
        for text in order:
            resp = httpx.post(em.url + CREATE, headers={"api-key": em.key},
                              json={"voice_id": 1, "emotion": 0, "speed": 1, "language": "en", "text": text})
            if resp.status_code == 500:
                failed.add(text)
        outcomes.append(failed)
    assert outcomes[0] == outcomes[1]
    assert 3 < len(outcomes[0]) < 21  # about half


def test_fault_plan_is_keyed_by_identity_and_attempt() -> None:
    plan = FaultPlan(1, {"drop": 0.5})
    draws = [plan.draw("drop", f"x:{plan.attempt('x')}") for _ in range(3)]
    assert len(set(draws)) == 3  # each retry gets its own decision
    assert FaultPlan(1, {}).draw("drop", "x:0") == draws[0]
    assert FaultPlan(2, {}).draw("drop", "x:0") != draws[0]
    assert not FaultPlan(1, {"drop": 0.0}).fires("drop", "x:0")
    assert FaultPlan(1, {"drop": 1.0}).fires("drop", "x:0")


def test_tone_length_follows_text() -> None:
    short, long = tone_pcm(50), tone_pcm(200)
    assert len(long) / 2 / TONE_RATE == pytest.approx(200 * 0.06, abs=0.01)
    assert len(short) < len(long) and tone_pcm(50) == short


def test_speech_mode_serves_decodable_speech(emulator: Any) -> None:
    em = emulator(audio="speech", task_time=(0, 0))
    job = create(em.url, "Speech from the emulator.")["data"]["job_id"]
    assert wait_all(em.url, [job]) == ["success"]
    data = httpx.get(get(em.url, job)["data"]["output"]).content
    assert 0.8 < len(decode_to_pcm(data)) / 2 / 44100 < 6


def test_stop_frees_the_port() -> None:
    running = start_emulator(build_config(audio="tone", task_time=(0, 0)))
    port = int(running.url.rsplit(":", 1)[1])
    assert create(running.url, "Hi.")["code"] == 100000
    running.stop()
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0


# --- config and CLI -------------------------------------------------------------------


def test_parsers() -> None:
    assert parse_key("k") == KeySpec("k")
    assert parse_key("k:500") == KeySpec("k", 500)
    assert parse_key("k:disabled").state == "disabled"
    assert parse_key("a:b:not-enabled") == KeySpec("a:b", state="not-enabled")
    assert parse_fault("drop=0.25") == ("drop", 0.25)
    assert parse_range("1:3") == (1.0, 3.0) and parse_range("2") == (2.0, 2.0)
    for bad in (lambda: parse_key("k:lots"), lambda: parse_fault("nope=1"), lambda: parse_fault("drop=2"),
                lambda: parse_range("3:1"), lambda: parse_key(":5")):
        with pytest.raises(UserError):
            bad()


def test_yaml_config(tmp_path: Path) -> None:
    path = tmp_path / "emu.yaml"
    path.write_text("rate-limit: 5\nkeys: [alpha:10, {key: beta, state: disabled}]\n"
                    "faults: {drop: 0.1}\ntask_time: '0:1'\ncharge-on: create\n")
    config = build_config(**load_yaml(path))
    assert config.rate_limit == 5 and config.faults == {"drop": 0.1} and config.task_time == (0.0, 1.0)
    assert config.keys == (KeySpec("alpha", 10), KeySpec("beta", state="disabled"))
    assert build_config(config, rate_limit=1).rate_limit == 1  # flags override the file
    path.write_text("rate_limt: 5\n")
    with pytest.raises(UserError, match="rate_limt"):
        load_yaml(path)


def test_defaults() -> None:
    config = EmulatorConfig()
    assert config.host == "127.0.0.1" and config.charge_on == "success"
    assert config.keys == (KeySpec("test-key", 1_000_000),) and config.bucket_size == 1.0


def test_help_lists_every_option() -> None:
    result = CliRunner().invoke(click.Group(commands=[emulator_command]), ["emulator", "--help"])
    assert result.exit_code == 0
    for param in emulator_command.params:
        for opt in param.opts:
            assert opt in result.output, opt
    assert "[default: success]" in result.output


def test_timeline_shows_open_task_slots_and_refusals(emulator: Any) -> None:
    clock = SteppedClock()  # the task ends when the test says, after the refusal, however slow the calls
    em = emulator(task_time=(0.2, 0.2), max_open=1, clock=clock)
    first = create(em.url, "One.")["data"]["job_id"]
    assert create(em.url, "Two.")["code"] == 101004  # the only slot is taken
    wait_sleeping(clock, 1)
    clock.advance(0.2)
    wait_all(em.url, [first])
    doc = httpx.get(em.url + "/_emulator/timeline").json()
    [(created, started, finished)] = doc["tasks"]
    assert created <= started < finished and finished - started == pytest.approx(0.2)
    assert len(doc["refused"]) == 1 and created <= doc["refused"][0] < finished
