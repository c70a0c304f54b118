"""Batch builds end to end: `audiobook build A B C` as a user runs it, against the emulator
(a real HTTP server on 127.0.0.1), with real packaging (ffmpeg) in the worker process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.build_helpers import REPO, env_for, run_cli, wait_until, write_book

pytestmark = pytest.mark.slow

LIMITS: dict[str, Any] = {"rate_limit": 40, "max_open": 6, "task_time": (0.02, 0.08)}


def _recipe(path: Path, book: Path, out: Path, formats: str = "[mp3, m4b]") -> Path:
    path.write_text(
        f"book: {json.dumps(str(book))}\nlanguage: en\nmax_chars: 100\n"
        "synthesis: {max_open: 6, rate_limit: 30, confirm_above: 1000000}\n"
        f"output: {{directory: {json.dumps(str(out))}, formats: {formats}, sample_rate: 22050, "
        "mp3_bitrate: 64k}\n", encoding="utf-8")
    return path


def _three(tmp_path: Path) -> list[Path]:
    return [_recipe(tmp_path / f"r{i}.yaml", write_book(tmp_path / f"b{i}.md", seed=10 + i, chapters=2, paragraphs=3),
                    tmp_path / f"out{i}") for i in range(3)]


def _plan(recipes: list[Path], key: str) -> dict[str, Any]:
    rc, out, err = run_cli("plan", *map(str, recipes), "--json", "--backend", "audiocleaner", key=key)
    assert rc == 0, err
    return dict(json.loads(out))


def _build(recipes: list[Path], em: Any, *more: str) -> tuple[int, str]:
    rc, out, err = run_cli("-q", "build", *map(str, recipes), "--yes", "--api-url", em.url, *more, key=em.key,
                           timeout=300)
    return rc, out + err


def _status(recipes: list[Path]) -> list[dict[str, Any]]:
    rc, out, err = run_cli("status", *map(str, recipes), "--json")
    assert rc == 0, err
    return list(json.loads(out)["books"])


def test_one_bad_recipe_stops_the_batch_before_any_request(tmp_path: Path, emulator: Callable[..., Any]) -> None:
    em = emulator(**LIMITS)
    recipes = _three(tmp_path)
    bad = recipes[1]
    bad.write_text(bad.read_text(encoding="utf-8") + "voise: 12\n", encoding="utf-8")
    rc, out = _build(recipes, em)
    assert rc == 2, out
    assert "r1.yaml:" in out and "voise" in out and "Traceback" not in out
    assert sum(em.stats()["requests"].values()) == 0
    assert not any((tmp_path / f"out{i}").exists() for i in range(3))


def test_credits_run_out_mid_batch_then_the_same_command_finishes_it(
        tmp_path: Path, emulator: Callable[..., Any]) -> None:
    recipes = _three(tmp_path)
    plan = _plan(recipes, "k")
    per_book = [int(b["totals"]["credits_to_spend"]) for b in plan["books"]]  # a text shared is paid by the first
    to_spend = int(plan["totals"]["credits_to_spend"])
    assert to_spend == sum(per_book)
    em = emulator(**LIMITS, keys=[{"key": "k1", "credits": per_book[0] + per_book[1] // 2}])
    rc, out = _build(recipes, em)
    assert rc == 3, out
    assert "run the same command again" in out
    assert list((tmp_path / "out0").glob("*.m4b")), "the first book is whole and packaged"
    rows = _status(recipes)
    assert [r["status"] for r in rows] == ["done", "partial", "not started"]
    assert rows[2]["credits_spent"] == 0 and not list((tmp_path / "out2").glob("*.mp3"))  # no chapter file
    shared = int(plan["books"][2]["totals"]["shared_segments"])  # texts an earlier book bought (titles)
    assert rows[2]["segments_done"] <= shared and len(list((tmp_path / "out2").rglob("*.mp3"))) <= shared
    em.topup(10_000)
    rc, out = _build(recipes, em)
    assert rc == 0, out
    stats = em.stats()
    assert stats["credits_charged"] == to_spend and stats["duplicate_creates"] == 0
    assert [r["status"] for r in _status(recipes)] == ["done", "done", "done"]
    report = json.loads((tmp_path / "out0" / "batch-report.json").read_text(encoding="utf-8"))
    assert report["totals"]["done"] == 3 and report["totals"]["credits_spent"] == to_spend


def test_a_paragraph_two_books_share_is_paid_once(tmp_path: Path, emulator: Callable[..., Any]) -> None:
    shared = "## Epigraph\n\nThe sea keeps what the land forgets, and the tide returns it in its own time.\n\n"
    books = []
    for i in range(2):
        own = write_book(tmp_path / f"own{i}.md", seed=30 + i, chapters=1, paragraphs=2).read_text(encoding="utf-8")
        title, rest = own.split("\n", 1)
        path = tmp_path / f"b{i}.md"
        path.write_text(f"{title}\n\n{shared}{rest}", encoding="utf-8")
        books.append(_recipe(tmp_path / f"r{i}.yaml", path, tmp_path / f"out{i}", "[mp3]"))
    plan = _plan(books, "k")
    second = plan["books"][1]["totals"]
    assert second["shared_segments"] >= 1
    assert plan["totals"]["credits_to_spend"] < plan["totals"]["credits"]
    em = emulator(**LIMITS)
    rc, out = _build(books, em)
    assert rc == 0, out
    stats = em.stats()
    assert stats["credits_charged"] == plan["totals"]["credits_to_spend"]
    assert stats["duplicate_creates"] == 0
    unique = {json.loads(line)["key"] for line in run_cli("plan", *map(str, books), "--segments",
                                                          "--backend", "audiocleaner", key="k")[1].splitlines()}
    assert stats["tasks_created"] == len(unique)


def test_a_book_the_service_refuses_fails_alone(tmp_path: Path, emulator: Callable[..., Any]) -> None:
    em = emulator(**LIMITS, max_text=150)
    recipes = _three(tmp_path)
    long_text = recipes[1].read_text(encoding="utf-8").replace("max_chars: 100", "max_chars: 400")
    recipes[1].write_text(long_text, encoding="utf-8")  # its segments are longer than the service takes
    rc, out = _build(recipes, em)
    assert rc == 1, out
    assert "failed" in out and "Traceback" not in out
    assert [r["status"] for r in _status(recipes)] == ["done", "failed", "done"]
    for i in (0, 2):
        assert list((tmp_path / f"out{i}").glob("*.m4b"))


def test_ctrl_c_stops_the_batch_and_the_same_command_resumes(tmp_path: Path, emulator: Callable[..., Any]) -> None:
    em = emulator(**{**LIMITS, "task_time": (0.2, 0.4)})
    recipes = _three(tmp_path)
    argv = [sys.executable, "-m", "pipeline.cli", "-q", "build", *map(str, recipes), "--yes", "--api-url", em.url]
    proc = subprocess.Popen(argv, env=env_for(em.key), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    wait_until(lambda: em.stats()["tasks_created"] >= 8 or proc.poll() is not None, "eight tasks created")
    assert proc.poll() is None, "the batch finished before the Ctrl-C"
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    rc, out = _build(recipes, em)
    assert rc == 0, out
    stats = em.stats()
    assert stats["duplicate_creates"] == 0
    assert [r["status"] for r in _status(recipes)] == ["done", "done", "done"]


def test_the_shipped_catalogue_plans_as_a_batch() -> None:
    rc, out, err = run_cli("plan", "recipes/catalogue.yaml", "--json", "--backend", "local")
    assert rc == 0, err
    plan = json.loads(out)
    assert [b["book"]["title"] for b in plan["books"]][1] == "The Salt Road"
    assert plan["totals"]["books"] == 2
    assert plan["totals"]["credits"] == sum(b["totals"]["credits"] for b in plan["books"])
    assert all(b["output"].endswith(("series/the-cartographers-daughter", "series/the-salt-road"))
               for b in plan["books"])
