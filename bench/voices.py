"""Benchmark: the two offline voices on the same text, in one run.

    .venv/bin/python bench/voices.py [--runs 3] [--chars 6000]

Text: the opening of A Christmas Carol (../shared/corpus or /work/shared/corpus), else
the Markdown sample, cut into the segments a build would send (max_chars 500). Each voice
reads every segment through its backend's task interface (create / get / download, FLAC
encode included), as `audiobook build --backend local|piper` does.
Prints per voice the medians over runs of: wall seconds, audio seconds, real-time factor
(audio / wall), CPU seconds per audio hour (this process's threads and its ffmpeg
children), and the
Piper/eSpeak ratios. Needs the neural extra for Piper (else only eSpeak NG is measured).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.models import TTSRequest, Voice  # noqa: E402
from pipeline.tts.base import Backend  # noqa: E402

CORPUS = [REPO.parent / "shared" / "corpus", Path("/work/shared/corpus")]


def texts(chars: int) -> list[str]:
    """The first segments of the book's plan (as a build cuts them) up to `chars` characters."""
    from pipeline.build import fresh_plan
    from pipeline.recipe import Recipe

    carol = next((d / "charles-dickens_a-christmas-carol.epub" for d in CORPUS
                  if (d / "charles-dickens_a-christmas-carol.epub").is_file()), None)
    book = carol if carol is not None else REPO / "samples" / "the-cartographers-daughter.md"
    out, total = [], 0
    for job in fresh_plan(Recipe.for_book(book), "local").jobs:
        if total >= chars:
            break
        out.append(job.segment.text)
        total += len(job.segment.text)
    return out


async def read_all(backend: Backend, items: list[str], voice: Voice) -> float:
    """Every text through create/get/download, all submitted at once; the audio's seconds."""
    from pipeline.audio.sniff import declared_seconds

    async def one(text: str) -> float:
        job = await backend.create(TTSRequest(text, voice))
        status = await backend.get(job)
        return declared_seconds(await backend.download(status.output_url)) or 0.0

    seconds = await asyncio.gather(*(one(t) for t in items))
    await backend.aclose()
    return sum(seconds)


def cpu_seconds() -> float:
    """This process's threads and its finished children (the ffmpeg FLAC encodes)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def measure(name: str, items: list[str]) -> tuple[float, float, float]:
    """(wall s, audio s, CPU s) for one pass of one voice."""
    from pipeline.tts.local import LocalBackend

    backend: Backend
    if name == "piper":
        from pipeline.tts.piper import PiperBackend
        from pipeline.tts.piper_voices import PIPER_ID_BASE, voice_for

        backend, voice = PiperBackend(voice_for(None)), Voice(PIPER_ID_BASE)
    else:
        backend, voice = LocalBackend(workers=2), Voice(900021)
    cpu, wall = cpu_seconds(), time.perf_counter()
    audio = asyncio.run(read_all(backend, items, voice))
    return time.perf_counter() - wall, audio, cpu_seconds() - cpu


def main() -> None:
    from pipeline.tts.piper_voices import bundled_model, piper_installed

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--chars", type=int, default=6000)
    args = ap.parse_args()
    items = texts(args.chars)
    voices = ["espeak"] + (["piper"] if piper_installed() and bundled_model() is not None else [])
    if len(voices) == 1:
        print("Piper is not installed (pip install '.[neural]'): measuring eSpeak NG only")
    print(f"{sum(map(len, items)):,} characters in {len(items)} segments; {args.runs} runs per voice, alternating")
    if "piper" in voices:
        measure("piper", items[:1])  # load the model once, outside the timings
    results: dict[str, list[tuple[float, float, float]]] = {v: [] for v in voices}
    for _ in range(args.runs):
        for v in voices:
            results[v].append(measure(v, items))
    summary = {}
    for v, rows in results.items():
        wall, audio, cpu = (statistics.median(r[i] for r in rows) for i in range(3))
        summary[v] = (audio / wall, cpu / (audio / 3600))
        print(f"{v:7s} wall {wall:7.2f} s  audio {audio:7.1f} s  real-time factor {audio / wall:7.1f}x  "
              f"CPU {cpu / (audio / 3600):7.0f} s per audio hour")
    if "piper" in summary:
        (e_rtf, e_cpu), (p_rtf, p_cpu) = summary["espeak"], summary["piper"]
        print(f"piper/espeak: real-time factor {p_rtf / e_rtf:.3f}, CPU per audio hour {p_cpu / e_cpu:.1f}x")


if __name__ == "__main__":
    main()
