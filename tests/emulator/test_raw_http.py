"""The documented shapes, field by field, with plain httpx and hand-written paths and bodies."""

from __future__ import annotations

import time
from typing import Any

import httpx

from pipeline.synth.clock import SteppedClock
from tests.emulator_fixture import wait_sleeping

CREATE = "/audio/api/v1/api-keys/tts/task/create"
GET = "/audio/api/v1/api-keys/tts/task/get"
BODY = {"voice_id": 2072, "emotion": 0, "speed": 1, "language": "en", "text": "Hello from Audio Cleaner TTS API."}


def post(url: str, path: str, body: Any, key: str = "test-key") -> dict[str, Any]:
    resp = httpx.post(url + path, json=body, headers={"api-key": key, "Content-Type": "application/json"})
    doc = resp.json()
    assert set(doc) == {"code", "data", "message"}, doc
    return doc


def settled(url: str, job_id: str, timeout: float = 60) -> dict[str, Any]:
    """The first reply that is no longer "waiting" (the timeout is only a safety net)."""
    deadline = time.monotonic() + timeout
    while (doc := post(url, GET, {"global_id": job_id}))["data"]["status"] == "waiting":
        assert time.monotonic() < deadline, "the task never ended"
        time.sleep(0.02)
    return doc


def test_create_then_get_shapes(emulator: Any) -> None:
    clock = SteppedClock()  # the task ends when the test says: the first get sees it waiting
    em = emulator(task_time=(0.2, 0.2), clock=clock)
    created = post(em.url, CREATE, BODY)
    assert created["code"] == 100000 and created["message"] == "Request Success"
    job_id = created["data"]["job_id"]
    assert isinstance(job_id, str) and len(job_id) == 32 and set(created["data"]) == {"job_id"}

    first = post(em.url, GET, {"global_id": job_id})
    assert first == {"code": 100000, "data": {"status": "waiting", "output": ""}, "message": "Request Success"}
    wait_sleeping(clock, 1)
    clock.advance(0.2)
    doc = settled(em.url, job_id)
    assert doc["code"] == 100000 and doc["data"]["status"] == "success"
    output = doc["data"]["output"]
    assert output.startswith(em.url + "/_emulator/files/") and output.endswith(".mp3")
    audio = httpx.get(output)
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/mpeg"
    assert audio.content[:3] == b"ID3" or audio.content[0] == 0xFF


def test_failed_status_shape(emulator: Any) -> None:
    em = emulator(faults={"task_failed": 1.0}, task_time=(0, 0))
    job_id = post(em.url, CREATE, BODY)["data"]["job_id"]
    assert settled(em.url, job_id)["data"] == {"status": "failed", "output": ""}


def test_wrong_key_101002(emulator: Any) -> None:
    em = emulator()
    for path, body in ((CREATE, BODY), (GET, {"global_id": "x"})):
        assert post(em.url, path, body, key="nope") == {"code": 101002, "data": None, "message": "Invalid API key"}
    resp = httpx.post(em.url + CREATE, json=BODY)  # no api-key header at all
    assert resp.json()["code"] == 101002


def test_disabled_and_not_enabled_messages(emulator: Any) -> None:
    em = emulator(keys=["a:disabled", "b:not-enabled"])
    assert post(em.url, CREATE, BODY, key="a")["message"] == (
        "Your account is suspended. Status cannot be modified. Please contact the administrator")
    assert post(em.url, CREATE, BODY, key="a")["code"] == 101005
    assert post(em.url, GET, {"global_id": "x"}, key="b") == {
        "code": 101006, "data": None, "message": "API key not enabled"}


def test_over_the_rate_101003(emulator: Any) -> None:
    clock = SteppedClock()  # the bucket refills only when the test says, however slow the calls
    em = emulator(rate_limit=2, clock=clock)  # burst 2
    codes = [post(em.url, GET, {"global_id": "x"})["code"] for _ in range(3)]
    assert codes == [101008, 101008, 101003]
    limited = post(em.url, CREATE, BODY)
    assert limited == {"code": 101003, "data": None, "message": "API key rate limit exceeded"}
    clock.advance(0.49)  # not yet one token back
    assert post(em.url, CREATE, BODY)["code"] == 101003
    clock.advance(0.6)  # one token back
    assert post(em.url, CREATE, BODY)["code"] == 100000


def test_over_open_tasks_101004(emulator: Any) -> None:
    em = emulator(max_open=2, task_time=(10, 10), clock=SteppedClock())  # the tasks never end
    codes = [post(em.url, CREATE, {**BODY, "text": f"Sentence {i}."})["code"] for i in range(3)]
    assert codes == [100000, 100000, 101004]
    assert post(em.url, CREATE, BODY)["message"] == "API key concurrent request limit exceeded"


def test_empty_balance_100100(emulator: Any) -> None:
    em = emulator(keys=["test-key:0"])
    assert post(em.url, CREATE, BODY) == {"code": 100100, "data": None, "message": "Insufficient credit balance"}


def test_balance_too_small_for_the_text_100100(emulator: Any) -> None:
    em = emulator(keys=["test-key:2"])
    assert post(em.url, CREATE, {**BODY, "text": "a" * 201})["code"] == 100100  # 3 credits
    assert post(em.url, CREATE, {**BODY, "text": "a" * 200})["code"] == 100000  # 2 credits


def test_unknown_id_101008(emulator: Any) -> None:
    em = emulator()
    assert post(em.url, GET, {"global_id": "33b6251d7ba94edea8361c318736e746"}) == {
        "code": 101008, "data": None, "message": "Task not found"}
    assert post(em.url, GET, {"job_id": "wrong-field-name"})["code"] == 101008


def test_bad_bodies_are_rejected_without_a_task(emulator: Any) -> None:
    em = emulator()
    for body in ({**BODY, "language": "xx"}, {k: v for k, v in BODY.items() if k != "text"},
                 {**BODY, "voice_id": "2072"}, {**BODY, "text": "   "}, ["not", "an", "object"]):
        doc = post(em.url, CREATE, body)
        assert doc["code"] not in (100000,) and doc["data"] is None
    assert em.stats()["tasks_created"] == 0


def test_control_endpoints(emulator: Any) -> None:
    em = emulator(keys=["test-key:5"])
    post(em.url, CREATE, BODY)
    stats = httpx.get(em.url + "/_emulator/stats").json()
    for field in ("credits_charged", "tasks_created", "duplicate_creates", "requests", "rate_limited",
                  "concurrency_limited", "tasks_failed", "task_seconds", "keys", "faults"):
        assert field in stats
    assert stats["requests"] == {"create": 1} and stats["tasks_created"] == 1
    top = httpx.post(em.url + "/_emulator/topup", json={"key": "test-key", "credits": 10}).json()
    assert top["balance"] in (15, 14)  # 14 once the task has been charged
    assert httpx.post(em.url + "/_emulator/topup", json={"key": "zzz", "credits": 1}).status_code == 404
    assert httpx.post(em.url + "/_emulator/reset").json() == {"ok": True}
    after = httpx.get(em.url + "/_emulator/stats").json()
    assert after["tasks_created"] == 0 and after["keys"]["test-key"]["balance"] == 5
    assert httpx.get(em.url + "/nowhere").status_code == 404
    assert httpx.get(em.url + CREATE).status_code == 405
