"""Issues C and E: a build killed at random moments resumes to the same bytes, and pays
twice only where the spend ledger said it might have.

A reference build runs uninterrupted into dir A. The same recipe is then built into
dir B as a subprocess that is SIGKILLed at >= 20 random moments spread over synthesis
and packaging (and interrupted once with SIGINT, which must exit 130 quickly), each
time followed by another `build`. A third of create replies are slowed, so many kills
land while creates are in flight. At the end every clip and every output file in B is
byte-identical to A's, the emulator saw no duplicate create beyond the uncertain creates
the ledger counted, and what the emulator charged is within what the ledger says spent.

The kill goes to the build's whole process group, as a crash of the machine or the
OOM killer of the job would: ffmpeg children die with it. SIGINT also goes to the
group, as Ctrl-C in a terminal does.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench._emulator import sentence

SEED = 20240611
KEYS = ({"key": "ref-key", "credits": 100_000}, {"key": "crash-key", "credits": 100_000})
EMULATOR = {"rate_limit": 20, "max_open": 8, "task_time": (0.2, 0.6), "workers": 8,
            "audio": "tone", "seed": 11, "keys": list(KEYS), "faults": {"slow@create": 0.33},
            "slow_seconds": 0.6}
MIN_KILLS = 20
MIN_PER_PHASE = 6  # kills that must land in synthesis, and in packaging
MAX_INTERRUPTIONS = 48  # a safety stop for the kill loop

def write_book(path: Path, rng: random.Random, chapters: int = 4, paragraphs: int = 5) -> None:
    """Varied English prose: short sentences so ~50 one-credit segments read in a few minutes (fast to package)."""
    lines = ["# The Crash Test Book", ""]
    for number in range(1, chapters + 1):
        lines += [f"## Chapter {number}", ""]
        for _ in range(paragraphs):
            lines += [" ".join(sentence(rng) for _ in range(rng.randint(2, 4))), ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def write_recipe(path: Path, book: Path, out: Path) -> None:
    path.write_text(
        f"book: {book}\nlanguage: en\nmax_chars: 100\n"
        "synthesis:\n  max_open: 8\n  rate_limit: 15\n  confirm_above: 1000000\n"
        f"output:\n  directory: {out}\n  formats: [mp3, m4b]\n  sample_rate: 22050\n"
        "  mp3_bitrate: 64k\n  m4b_bitrate: 64k\n",
        encoding="utf-8",
    )


def _argv(recipe: Path, url: str) -> list[str]:
    return [sys.executable, "-m", "pipeline.cli", "-q", "build", str(recipe), "--yes", "--api-url", url]


def _env(key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDIOCLEANER_")}
    return {**env, "AUDIOCLEANER_API_KEY": key, "PYTHONUNBUFFERED": "1"}


def start_build(recipe: Path, url: str, key: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(_argv(recipe, url), env=_env(key), cwd=Path(__file__).resolve().parent.parent,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


READY = "Using the Audio Cleaner API at"  # printed once the recipe is loaded and imports are done


def wait_ready(proc: subprocess.Popen[bytes], timeout: float = 60) -> float:
    """Read stderr up to the build's first line; returns when it came (monotonic)."""
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line or READY.encode() in line:
            return time.monotonic()
    raise AssertionError("the build never started")


def finish(proc: subprocess.Popen[bytes], timeout: float = 120) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err.decode("utf-8", "replace")


def _query(out: Path, sql: str) -> Any:
    """One value from the checkpoint store (read after the build died: no writer)."""
    db = out / ".audiobook" / "state.sqlite"
    if not db.is_file():
        return None
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:  # killed before the table was created
        return None
    finally:
        conn.close()


def done_count(out: Path) -> int:
    return int(_query(out, "SELECT COUNT(*) FROM segments WHERE state='done'") or 0)


def landed_in(out: Path, since: float) -> str:
    """Which stage a killed run was in: it left traces (rows, files) newer than its start."""
    work = out / ".audiobook"
    package_files = [*out.glob("*.*"), *out.glob(".*.part"), *work.glob("tmp/*"), *work.glob("pcm/*"),
                     *work.glob("*.json"), *work.glob("*.txt"), *work.glob("*.ffmeta")]
    if any(p.is_file() and p.stat().st_mtime >= since for p in package_files if p.name != "report.json"):
        return "packaging"
    touched = _query(out, "SELECT MAX(updated_at) FROM segments")
    if touched is not None and touched >= since:
        return "synthesis"
    return "start-up"


def snapshot(out: Path) -> dict[str, bytes]:
    """Every clip (by cache path) and every visible output file, with their bytes."""
    files: dict[str, bytes] = {}
    for path in sorted((out / "clips").rglob("*")):
        if path.is_file() and not path.name.endswith(".part"):
            files[f"clips/{path.relative_to(out / 'clips')}"] = path.read_bytes()
    for path in sorted(out.iterdir()):
        if path.is_file() and not path.name.startswith(".") and path.name != "report.json":
            files[path.name] = path.read_bytes()
    return files


def leftovers(out: Path) -> list[str]:
    """Temp files a kill left behind (reported, not compared)."""
    return sorted(str(p.relative_to(out)) for p in out.rglob("*.part"))


class Interrupter:
    """Runs `build` into B again and again, killing it at seeded random moments."""

    def __init__(self, recipe: Path, out: Path, em: Any, jobs: int, timing: dict[str, float]) -> None:
        self.recipe, self.out, self.em, self.url, self.jobs = recipe, out, em, em.url, jobs
        self.rng = random.Random(SEED)
        self.synth, self.package = timing["synth"], timing["package"]
        self.kills: list[tuple[float, str]] = []  # (delay, phase it landed in)
        self.sigint: tuple[float, int, float, str] | None = None
        self.reports: list[dict[str, Any]] = []
        self.finished_early = 0

    def delay(self) -> float:
        """A random moment after the build began, in the stage still to be done."""
        if done_count(self.out) < self.jobs:  # short: a resumed build is quick, and 6 must land here
            return self.rng.uniform(0.03, 0.12) * self.synth
        return self.rng.uniform(0.05, 0.4) * self.package

    def kill_once(self) -> None:
        """Start a build and SIGKILL it (its whole process group) at a random moment."""
        wait = self.delay()
        since = time.time()
        proc = start_build(self.recipe, self.url, "crash-key")
        wait_ready(proc)
        try:
            code, err = finish(proc, timeout=wait)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            code, err = finish(proc)
            assert code == -signal.SIGKILL, err
            self.kills.append((round(wait, 2), landed_in(self.out, since)))
            return
        assert code == 0, f"build exited {code} before its kill:\n{err}"
        self.finished_early += 1

    def interrupt_once(self) -> None:
        """Ctrl-C mid-run: exit 130, quickly, with the state saved."""
        wait = self.rng.uniform(0.2, 1.0)
        since = time.time()
        proc = start_build(self.recipe, self.url, "crash-key")
        time.sleep(max(0.0, wait - (time.monotonic() - wait_ready(proc))))
        assert proc.poll() is None, "the build finished before the SIGINT"
        sent = time.monotonic()
        created_at_sigint = self.em.stats()["tasks_created"]
        os.killpg(proc.pid, signal.SIGINT)
        code, err = finish(proc, timeout=30)
        took = time.monotonic() - sent  # reported, not asserted: the machine may be busy
        self.sigint = (round(wait, 2), code, round(took, 2), landed_in(self.out, since))
        assert code == 130, f"SIGINT gave exit {code}, not 130:\n{err}"
        assert "Interrupted" in err, err
        # the first Ctrl-C stops creating: only creates already in flight may still land
        assert self.em.stats()["tasks_created"] <= created_at_sigint + EMULATOR["max_open"]
        self.read_report()

    def read_report(self) -> None:
        path = self.out / "report.json"
        if path.is_file():
            self.reports.append(json.loads(path.read_text(encoding="utf-8")))

    def phase_counts(self) -> dict[str, int]:
        counts = {"start-up": 0, "synthesis": 0, "packaging": 0}
        for _, phase in self.kills:
            counts[phase] += 1
        return counts

    def enough(self) -> bool:
        counts = self.phase_counts()
        return len(self.kills) >= MIN_KILLS and min(counts["synthesis"], counts["packaging"]) >= MIN_PER_PHASE

    def run(self) -> None:
        for attempt in range(MAX_INTERRUPTIONS):
            if self.enough():
                break
            if attempt == 2:
                self.interrupt_once()
            else:
                self.kill_once()
        assert self.enough(), f"kills (delay, stage): {self.kills}; {self.finished_early} runs finished first"
        assert self.sigint is not None


def reference_build(recipe: Path, url: str) -> dict[str, float]:
    """Build A uninterrupted; returns start-up, synthesis and packaging seconds."""
    started = time.monotonic()
    code, err = finish(start_build(recipe, url, "ref-key"))
    total = time.monotonic() - started
    assert code == 0, err
    report = json.loads((recipe.parent / "A" / "report.json").read_text(encoding="utf-8"))
    stages = report["wall_seconds"]
    startup = max(0.5, total - sum(stages.values()))
    return {"startup": startup, "synth": stages["synthesize"], "package": stages["package"], "total": total}


def store_summary(recipe: Path) -> dict[str, Any]:
    argv = [sys.executable, "-m", "pipeline.cli", "status", str(recipe), "--json"]
    done = subprocess.run(argv, env=_env("crash-key"), capture_output=True, check=True, timeout=60)
    return json.loads(done.stdout)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_killed_builds_resume_to_identical_bytes(emulator: Callable[..., Any], tmp_path: Path) -> None:
    em = emulator(**EMULATOR)
    rng = random.Random(SEED)
    book = tmp_path / "book.md"
    write_book(book, rng)
    recipe_a, recipe_b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    write_recipe(recipe_a, book, tmp_path / "A")
    write_recipe(recipe_b, book, tmp_path / "B")

    timing = reference_build(recipe_a, em.url)
    after_a = em.stats()
    report_a = json.loads((tmp_path / "A" / "report.json").read_text(encoding="utf-8"))
    jobs = report_a["synthesis"]["jobs"]
    assert 40 <= jobs <= 80, f"the book should make 40-80 segments, not {jobs}"
    assert after_a["duplicate_creates"] == 0 and after_a["tasks_created"] == jobs

    chaos = Interrupter(recipe_b, tmp_path / "B", em, jobs, timing)
    chaos.run()
    code, err = finish(start_build(recipe_b, em.url, "crash-key"))
    assert code == 0, err
    chaos.read_report()

    a, b = snapshot(tmp_path / "A"), snapshot(tmp_path / "B")
    assert sorted(a) == sorted(b), "different clip keys or output files"
    assert sum(1 for name in a if name.startswith("clips/")) == jobs
    different = [name for name in a if a[name] != b[name]]
    assert not different, f"not byte-identical after {len(chaos.kills)} kills: {different}"

    summary = store_summary(recipe_b)
    assert summary["states"]["done"] == jobs
    wait_until_settled(em)
    stats = em.stats()
    ledger = summary["spend"]
    duplicates = stats["duplicate_creates"]
    assert duplicates <= ledger["uncertain_creates"], f"{duplicates} duplicate creates, ledger: {ledger}"
    spent_b = KEYS[1]["credits"] - stats["keys"]["crash-key"]["balance"]
    planned = report_a["plan"]["credits"]
    assert planned <= spent_b <= ledger["spent"], f"emulator charged {spent_b}, ledger {ledger}"
    print(f"\ncrash test: {jobs} segments, reference {timing}, kills {chaos.kills}, "
          f"sigint (delay, code, seconds, phase) {chaos.sigint}, duplicates {duplicates} <= uncertain creates "
          f"{ledger['uncertain_creates']}, credits: emulator charged {spent_b}, ledger spent {ledger['spent']} "
          f"(charged {ledger['charged']}, uncertain {ledger['uncertain']}), planned {planned}, "
          f"leftovers {leftovers(tmp_path / 'B')}")


def wait_until_settled(em: Any, timeout: float = 60) -> None:
    """Orphan tasks of killed runs are charged when they end: wait for the emulator to finish them."""
    deadline = time.monotonic() + timeout
    while em.stats()["tasks_open"]:
        assert time.monotonic() < deadline, "emulator tasks never ended"
        time.sleep(0.05)
