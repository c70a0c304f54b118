"""Faults at run time (/_emulator/faults, set_faults), scoped faults, the new faults and
options, as seen on the wire with plain httpx; and a taken port reported in one line."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipeline.cli import main
from pipeline.emulator import build_config
from pipeline.emulator.config import FAULTS, load_yaml, parse_fault, parse_fault_rates
from pipeline.errors import UserError

CREATE = "/audio/api/v1/api-keys/tts/task/create"
GET = "/audio/api/v1/api-keys/tts/task/get"
BODY = {"voice_id": 1, "emotion": 0, "speed": 1, "language": "en", "text": "Hello there."}


def create(url: str, text: str = "Hello there.", key: str = "test-key") -> httpx.Response:
    return httpx.post(url + CREATE, json={**BODY, "text": text}, headers={"api-key": key})


def get(url: str, job_id: str, key: str = "test-key") -> httpx.Response:
    return httpx.post(url + GET, json={"global_id": job_id}, headers={"api-key": key})


def finished_output(url: str, text: str = "Hello there.") -> str:
    job = create(url, text).json()["data"]["job_id"]
    deadline = time.monotonic() + 60  # a safety net only: the loop ends when the task does
    while (doc := get(url, job).json())["data"]["status"] == "waiting":
        assert time.monotonic() < deadline, "task never finished"
        time.sleep(0.02)
    return str(doc["data"]["output"])


# --- /_emulator/faults and set_faults ----------------------------------------------------


def test_faults_endpoint_replaces_and_clears(emulator: Any) -> None:
    em = emulator(faults={"drop": 0.5})
    faults = em.url + "/_emulator/faults"
    assert httpx.get(faults).json() == {"drop": 0.5}
    new = {"http_500@create": 1.0, "slow@get": 0.25}
    assert httpx.post(faults, json=new).json() == new
    assert httpx.get(faults).json() == new and em.faults() == new  # drop is gone: replaced, not merged
    assert create(em.url).status_code == 500
    assert httpx.post(faults, json={}).json() == {}
    assert create(em.url).json()["code"] == 100000


@pytest.mark.parametrize(("body", "words"), [
    ({"nope": 1}, "unknown fault 'nope'"),
    ({"drop": 2}, "must be in 0..1"),
    ({"drop": -0.1}, "must be in 0..1"),
    ({"drop": "lots"}, "must be a number"),
    ({"drop": True}, "must be a number"),
    ({"drop": None}, "must be a number"),
    ({"task_failed@download": 1}, "cannot be scoped to '@download'; it applies to @create"),
    ({"drop@upload": 1}, "cannot be scoped to '@upload'"),
    (["drop"], "must be an object"),
])
def test_faults_endpoint_rejects_bad_rates_and_keeps_the_old(emulator: Any, body: Any, words: str) -> None:
    em = emulator(faults={"slow@download": 0.5})
    resp = httpx.post(em.url + "/_emulator/faults", json=body)
    assert resp.status_code == 400 and words in resp.json()["error"], resp.text
    assert httpx.get(em.url + "/_emulator/faults").json() == {"slow@download": 0.5}


def test_faults_endpoint_rejects_a_non_json_body(emulator: Any) -> None:
    em = emulator()
    resp = httpx.post(em.url + "/_emulator/faults", content=b"drop=1")
    assert resp.status_code == 400 and "error" in resp.json()


def test_set_faults_goes_through_the_same_checks(emulator: Any) -> None:
    em = emulator()
    assert em.set_faults({"echo_key@get": 1.0}, drop=0.5) == {"echo_key@get": 1.0, "drop": 0.5}
    assert httpx.get(em.url + "/_emulator/faults").json() == {"echo_key@get": 1.0, "drop": 0.5}
    with pytest.raises(UserError, match="unknown fault 'dorp'"):
        em.set_faults(dorp=1.0)
    assert em.faults() == {"echo_key@get": 1.0, "drop": 0.5}
    assert em.set_faults() == {}


# --- scoping ----------------------------------------------------------------------------


def test_scoped_faults_strike_only_their_call(emulator: Any) -> None:
    em = emulator(faults={"http_500@get": 1.0})
    job = create(em.url).json()["data"]["job_id"]  # create is untouched
    assert get(em.url, job).status_code == 500
    em.set_faults({"http_500@create": 1.0})
    assert get(em.url, job).json()["code"] == 100000 and create(em.url, "Other.").status_code == 500


def test_a_scoped_rate_wins_over_the_unscoped_one(emulator: Any) -> None:
    em = emulator(faults={"http_503": 1.0, "http_503@get": 0.0})
    assert create(em.url).status_code == 503
    assert get(em.url, "whatever").json()["code"] == 101008


def test_drop_scoped_to_downloads_leaves_the_api_alone(emulator: Any) -> None:
    em = emulator(faults={"drop@download": 1.0})
    url = finished_output(em.url)
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(url)
    assert em.stats()["faults"] == {"drop": 1}


def test_scoped_names_in_parsers_yaml_and_build_config(tmp_path: Path) -> None:
    assert parse_fault("slow@create=0.5") == ("slow@create", 0.5)
    assert parse_fault("trickle@download") == ("trickle@download", 1.0)
    assert parse_fault_rates({"drop@get": "0.1", "stuck": 1}) == {"drop@get": 0.1, "stuck": 1.0}
    path = tmp_path / "emu.yaml"
    path.write_text("faults: {slow@create: 0.5, redirect: 1}\noutput-url: 'https://10.0.0.7/{token}.mp3'\n"
                    "trickle-seconds: 0.5\nhuge_reply_bytes: 1000\n")
    config = build_config(**load_yaml(path))
    assert config.faults == {"slow@create": 0.5, "redirect": 1.0}
    assert (config.output_url, config.trickle_seconds, config.huge_reply_bytes) == (
        "https://10.0.0.7/{token}.mp3", 0.5, 1000)
    assert build_config(faults=["huge_reply@get=0.2"]).faults == {"huge_reply@get": 0.2}
    for bad in ({"faults": ["redirect@create=1"]}, {"faults": {"slow@": 1}}, {"output_url": "{base}/{path}"},
                {"redirect_url": "{0}"}, {"trickle_seconds": -1}):
        with pytest.raises(UserError):
            build_config(**bad)


# --- the new faults on the wire ---------------------------------------------------------


def test_stuck_task_stays_waiting_and_holds_its_slot(emulator: Any) -> None:
    em = emulator(faults={"stuck": 1.0}, task_time=(0.05, 0.05), max_open=2)
    stuck = create(em.url, "Stuck.").json()["data"]["job_id"]
    em.set_faults({})
    finished_output(em.url, "Free.")  # created later, same task time: done, so the first would be too
    for _ in range(5):
        assert get(em.url, stuck).json()["data"] == {"status": "waiting", "output": ""}
    assert em.stats()["tasks_open"] == 1 and em.stats()["faults"]["stuck"] == 1
    em.set_faults({"stuck": 1.0})  # the second one stuck too: open whatever the machine's pace
    assert create(em.url, "Two.").json()["code"] == 100000
    assert create(em.url, "Three.").json()["code"] == 101004  # the stuck ones still count


def test_trickle_sends_a_whole_reply_slowly(emulator: Any) -> None:
    em = emulator(faults={"trickle@create": 1.0}, trickle_seconds=0.002)
    resp = create(em.url)
    assert resp.json()["code"] == 100000 and em.stats()["faults"]["trickle"] == 1


def test_huge_reply_is_a_well_formed_padded_envelope_sent_chunked(emulator: Any) -> None:
    em = emulator(faults={"huge_reply@create": 1.0}, huge_reply_bytes=3_000_000)
    resp = create(em.url)
    assert resp.headers["transfer-encoding"] == "chunked" and "content-length" not in resp.headers
    assert len(resp.content) == 3_000_000
    doc = json.loads(resp.content)
    assert doc["code"] == 100000 and len(doc["data"]["job_id"]) == 32 and set(doc["padding"]) == {"x"}
    assert em.stats()["tasks_created"] == 1  # the call took effect


def test_huge_reply_on_an_error_envelope(emulator: Any) -> None:
    em = emulator(faults={"huge_reply": 1.0}, huge_reply_bytes=200_000)
    doc = json.loads(get(em.url, "nope").content)
    assert doc["code"] == 101008 and doc["data"] is None and len(json.dumps(doc)) >= 199_000


def test_echo_key_echoes_the_request_key(emulator: Any) -> None:
    em = emulator(keys=["SECRET-ECHO-1", "other"], faults={"echo_key": 1.0})
    created = create(em.url, key="SECRET-ECHO-1").json()
    assert "SECRET-ECHO-1" in created["message"] and created["data"]["job_id"].endswith("SECRET-ECHO-1")
    em.set_faults({})
    job = create(em.url, "Again.", key="SECRET-ECHO-1").json()["data"]["job_id"]
    em.set_faults(echo_key=1.0)
    assert get(em.url, job, key="SECRET-ECHO-1").json()["data"]["status"] == "SECRET-ECHO-1"
    assert "WRONG-KEY" in create(em.url, key="WRONG-KEY").json()["message"]  # errors echo too


def test_redirect_answers_302_to_the_configured_url(emulator: Any) -> None:
    em = emulator(faults={"redirect": 1.0})
    url = finished_output(em.url)
    resp = httpx.get(url)
    assert resp.status_code == 302 and resp.headers["location"] == "http://127.0.0.1:9/x.mp3"
    em.set_faults({})
    assert httpx.get(url).status_code == 200


def test_redirect_url_template_to_the_direct_file(emulator: Any) -> None:
    em = emulator(faults={"redirect": 1.0}, redirect_url="{base}/_emulator/direct/{token}.mp3")
    url = finished_output(em.url)
    token = url.rsplit("/", 1)[1]
    resp = httpx.get(url, follow_redirects=True)
    assert resp.status_code == 200 and resp.headers["content-type"] == "audio/mpeg"
    assert [str(r.headers["location"]) for r in resp.history] == [f"{em.url}/_emulator/direct/{token}"]


def test_output_url_template(emulator: Any) -> None:
    em = emulator(output_url="https://169.254.169.254/{token}.mp3?k={key}")
    output = finished_output(em.url)
    assert output.startswith("https://169.254.169.254/") and output.endswith(".mp3?k=test-key")
    token = output.split("/")[3].removesuffix(".mp3?k=test-key")
    assert httpx.get(f"{em.url}/_emulator/files/{token}.mp3").status_code == 200  # still served here


# --- the command ------------------------------------------------------------------------


def test_a_taken_port_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert main(["emulator", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err == f"Error: port {port} on 127.0.0.1 is already in use\n"


def test_help_documents_every_fault_and_the_control_endpoint(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emulator", "--help"]) == 0
    out = capsys.readouterr().out
    for name in FAULTS:
        assert name in out.split("Options:")[0], name  # described, not only listed
    for words in ("@create", "@get", "@download", "/_emulator/faults", "--output-url", "--redirect-url",
                  "--trickle-seconds", "--huge-reply-bytes", "{base}/_emulator/files/{token}.mp3"):
        assert words in out, words
