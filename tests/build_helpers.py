"""Shared by the end-to-end build tests: a small generated book, recipes, builds as processes.

Builds run as `python -m pipeline.cli` subprocesses (as a user runs them) so a test can
change the emulator's faults while a build is in flight, and wait on what the emulator
has seen rather than on sleeps.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench._emulator import sentence

REPO = Path(__file__).resolve().parent.parent


def write_book(path: Path, seed: int = 1, chapters: int = 3, paragraphs: int = 4) -> Path:
    """Short sentences in a few chapters: ~1-credit segments at max_chars 100."""
    rng = random.Random(seed)
    lines = [f"# Fault Book {seed}", ""]
    for number in range(1, chapters + 1):
        lines += [f"## Chapter {number}", ""]
        for _ in range(paragraphs):
            lines += [" ".join(sentence(rng) for _ in range(rng.randint(2, 3))), ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def write_long_book(tmp_path: Path, output: str, paragraphs: int, seed: int) -> tuple[Path, Path]:
    """A Markdown book with one long chapter ("One") and a short one ("Two"), and a recipe
    whose `output:` mapping is `output` plus the directory: (recipe, output directory)."""
    rng = random.Random(seed)
    text = "\n\n".join(" ".join(sentence(rng) for _ in range(4)) for _ in range(paragraphs))
    (tmp_path / "long.md").write_text(f"# Long\n\n## One\n\n{text}\n\n## Two\n\nA short end.\n", encoding="utf-8")
    out = tmp_path / "out"
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"book: long.md\nlanguage: en\noutput: {{{output}, directory: {out}}}\n", encoding="utf-8")
    return recipe, out


def write_recipe(path: Path, book: Path, out: Path, **synthesis: Any) -> Path:
    settings = {"max_open": 8, "rate_limit": 40, "confirm_above": 1_000_000, **synthesis}
    lines = [f"book: {json.dumps(str(book))}", "language: en", "max_chars: 100", f"synthesis: {json.dumps(settings)}",
             f"output: {{directory: {json.dumps(str(out))}, formats: [mp3], sample_rate: 22050, mp3_bitrate: 64k}}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def env_for(key: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDIOCLEANER_")}
    if key is not None:
        env["AUDIOCLEANER_API_KEY"] = key
    return {**env, "PYTHONUNBUFFERED": "1"}


def start_build(recipe: Path, url: str | None, key: str | None, *args: str,
                env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "pipeline.cli", "-q", "build", str(recipe), "--yes", *args]
    if url is not None:
        argv += ["--api-url", url]
    return subprocess.Popen(argv, env={**env_for(key), **(env or {})}, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def run_build(recipe: Path, url: str | None, key: str | None, *args: str, timeout: float = 240,
              env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run a build to its end: (exit code, stdout + stderr)."""
    proc = start_build(recipe, url, key, *args, env=env)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out + err


def run_cli(*args: str, key: str | None = None, timeout: float = 120) -> tuple[int, str, str]:
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", *args], env=env_for(key), cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)
    return done.returncode, done.stdout, done.stderr


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    """Poll a condition (the emulator's counters, a file) until it holds; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def report(out: Path) -> dict[str, Any]:
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def error_lines(text: str) -> list[str]:
    """The lines a failed command printed as its error (and tip)."""
    return [line for line in text.splitlines() if line.startswith(("Error:", "Tip:"))]


def status_json(recipe: Path) -> dict[str, Any]:
    code, out, err = run_cli("status", str(recipe), "--json")
    assert code == 0, err
    return json.loads(out)


_MEASURE = (
    "import json, resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
    "print(json.dumps({'code': done.returncode, 'peak_mb': peak, 'output': done.stdout + done.stderr}))\n"
)


def build_peak_rss(recipe: Path, url: str, key: str, *args: str) -> tuple[int, float, str]:
    """Run one build in a fresh wrapper process: (exit code, the build's peak RSS in MB, output)."""
    argv = [sys.executable, "-m", "pipeline.cli", "-q", "build", str(recipe), "--yes", "--api-url", url, *args]
    done = subprocess.run([sys.executable, "-c", _MEASURE, *argv], env=env_for(key), cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    result = json.loads(done.stdout)
    return int(result["code"]), float(result["peak_mb"]), str(result["output"])
