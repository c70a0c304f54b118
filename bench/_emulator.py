"""Shared by the benches: an `audiobook emulator` server process and a generated book.

The emulator runs as its own process (as a user would run it), so its event loop and
audio rendering do not share a GIL with the build being measured. It listens on
127.0.0.1 only, on a port it picks itself (--port 0) and announces on stdout.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


@dataclass
class EmulatorProcess:
    """A running `audiobook emulator`; control calls go over its HTTP endpoints."""

    url: str
    key: str
    proc: subprocess.Popen[str]

    def _call(self, path: str, method: str = "GET") -> Any:
        data = b"{}" if method == "POST" else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback only
            return json.loads(resp.read())

    def stats(self) -> dict[str, Any]:
        return self._call("/_emulator/stats")

    def timeline(self) -> dict[str, Any]:
        return self._call("/_emulator/timeline")

    def reset(self) -> None:
        self._call("/_emulator/reset", "POST")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_emulator(args: Sequence[str], key: str = "bench-key", timeout: float = 30) -> EmulatorProcess:
    """Start `audiobook emulator --host 127.0.0.1 --port 0 --key KEY ARGS...`; wait for its URL."""
    argv = [sys.executable, "-m", "pipeline.cli", "-q", "emulator", "--host", "127.0.0.1", "--port", "0",
            "--key", f"{key}:100000000", *args]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        found = _LISTENING.search(line)
        if found:
            return EmulatorProcess(found.group(1), key, proc)
    proc.kill()
    raise RuntimeError(f"the emulator did not start: {' '.join(argv)}")


_SUBJECTS = ("The old ferryman", "Mira", "A tired clerk", "The harbour cat", "Her brother", "The surveyor",
             "Nobody in town", "The captain", "Two fishermen", "The baker's son", "A stranger", "The widow")
_VERBS = ("walked along", "looked at", "remembered", "counted", "painted", "argued about", "forgot",
          "measured", "sketched", "waited by", "dreamed of", "sold")
_OBJECTS = ("the northern shore", "a box of brass tools", "the keeper's ledger", "seven grey gulls",
            "the unfinished map", "the river mouth", "a pair of wet boots", "the market square",
            "the lighthouse stairs", "an old compass")
_TAILS = ("before the rain", "at dawn", "for the third time", "in silence", "as the tide turned",
          "while the bells rang", "", "", "")


def sentence(rng: random.Random) -> str:
    words = f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}"
    tail = rng.choice(_TAILS)
    if tail:
        words += (", " if rng.random() < 0.5 else " ") + tail
    return words + rng.choice(".....!?")


def write_book(path: Path, chars: int, chapters: int = 8, seed: int = 1) -> None:
    """Varied English Markdown of about `chars` characters in `chapters` `##` chapters."""
    rng = random.Random(seed)
    lines = ["# The Benchmark Book", ""]
    per_chapter = chars // chapters
    for number in range(1, chapters + 1):
        lines += [f"## Chapter {number}", ""]
        written = 0
        while written < per_chapter:
            para = " ".join(sentence(rng) for _ in range(rng.randint(2, 6)))
            lines += [para, ""]
            written += len(para) + 1
    path.write_text("\n".join(lines), encoding="utf-8")
