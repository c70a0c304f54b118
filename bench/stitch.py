"""Benchmark: stitch + master + encode one long chapter vs a bare ffmpeg encode.

    /work/venv/bin/python bench/stitch.py [--minutes 60] [--runs 3] [--clip-format wav]

Makes `minutes` of 6 s speech-like clips. Each run (alternating, so both see the same
machine load) does:
  1. in a fresh subprocess, what `assemble_book` does for one chapter with the default
     formats (mp3 + m4b): stitch, master, encode the CBR MP3, write the mastered WAV the
     M4B is later built from, tag the MP3;
  2. a bare encode of the same mastered PCM with the identical ffmpeg command
     (`encoder_argv`: s16le on stdin -> libmp3lame CBR), stdin being that PCM.
Prints medians of both, their ratio, and peak RSS (the Python process and its ffmpeg).
"pipeline" is timed inside the process (interpreter start and imports are paid once per
build, not per chapter); "wall" includes them.
Targets: <= 1.3x the bare encode's time, <= 400 MB peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
RATE = 44100


def make_clips(folder: Path, minutes: float, clip_s: float, fmt: str) -> int:
    from pipeline.audio.ffmpeg import encode_pcm
    from tests.audio.helpers import fake_speech, to_pcm

    count = int(minutes * 60 / clip_s)
    variants = [encode_pcm(to_pcm(fake_speech(clip_s, seed=s, level=0.1 + 0.02 * s)), RATE, 1, fmt, "128k")
                for s in range(20)]
    for i in range(count):
        (folder / f"{i:05d}.{fmt}").write_bytes(variants[i % len(variants)] or b"")
    return count


def child(clip_dir: Path, out: Path) -> None:
    """One measured run: exactly the per-chapter code path of assemble_book."""
    from pipeline.audio import package, stitch
    from pipeline.audio.cover import usable_cover
    from pipeline.audio.tags import BookInfo
    from pipeline.models import AudioSettings, Boundary

    kinds = [Boundary.SENTENCE, Boundary.CLAUSE, Boundary.SENTENCE, Boundary.PARAGRAPH]
    clips = tuple(stitch.ClipRef(p, kinds[i % 4]) for i, p in enumerate(sorted(clip_dir.iterdir())))
    info = BookInfo("Bench", ("Nobody",), "en", None)
    settings = AudioSettings()
    cover = usable_cover(None, info.title, info.authors)
    job = package._Job(stitch.ChapterInput(1, "One", clips), "01 - One", 1, 1)  # noqa: SLF001
    timings: dict[str, float] = {}
    real_stitch, real_master = package.stitch_chapter, package.master_chapter

    def timed(name: str, fn):  # type: ignore[no-untyped-def]
        def run(*a, **k):  # type: ignore[no-untyped-def]
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                timings[name] = time.perf_counter() - t
        return run

    package.stitch_chapter = timed("stitch_s", real_stitch)
    package.master_chapter = timed("master_encode_s", real_master)
    t0 = time.perf_counter()
    _, report = package._build_chapter(job, info, cover, settings, out, out / ".audiobook")  # noqa: SLF001
    total = time.perf_counter() - t0
    print(json.dumps(timings | {
        "pipeline_s": total, "seconds_audio": report.frames / RATE, "lufs": report.loudness_lufs,
        "self_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "ffmpeg_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }))


def run_pipeline(clip_dir: Path, out: Path) -> dict[str, float]:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", str(clip_dir), str(out)],
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"pipeline run failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1]) | {"wall_s": wall}


def run_bare(wav: Path, out: Path) -> dict[str, float]:
    """The pipeline's own encoder command, fed the same mastered PCM on stdin."""
    from pipeline.audio.master import encoder_argv

    argv = encoder_argv("mp3", "192k", RATE, 1, str(out))
    with open(wav, "rb") as pcm:
        pcm.seek(44)  # the canonical header wav_header() writes
        t = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=pcm, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        secs = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"bare ffmpeg failed: {proc.returncode}")
    return {"bare_s": secs, "bare_rss_mb": usage.ru_maxrss / 1024}


def report(runs: list[dict[str, float]]) -> None:
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    ratios = [r["pipeline_s"] / r["bare_s"] for r in runs]
    print(f"audio {med['seconds_audio'] / 60:.1f} min, {med['lufs']:.2f} LUFS; medians of {len(runs)} runs")
    print(f"pipeline (stitch+master+encode+tag) {med['pipeline_s']:7.2f} s "
          f"(stitch {med['stitch_s']:.2f} s, master+encode {med['master_encode_s']:.2f} s); "
          f"wall incl. interpreter start {med['wall_s']:.2f} s")
    print(f"bare ffmpeg encode (same argv)      {med['bare_s']:7.2f} s")
    print(f"ratio  {med['pipeline_s'] / med['bare_s']:.2f}x (median of per-run ratios "
          f"{statistics.median(ratios):.2f}x; wall {med['wall_s'] / med['bare_s']:.2f}x) target <= 1.3x")
    print(f"peak RSS: pipeline process {med['self_rss_mb']:.0f} MB, its ffmpeg {med['ffmpeg_rss_mb']:.0f} MB, "
          f"bare ffmpeg {med['bare_rss_mb']:.0f} MB (target <= 400 MB)")
    print("per run: " + "; ".join(f"{r['pipeline_s']:.2f}/{r['bare_s']:.2f}" for r in runs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--clip-seconds", type=float, default=6.0)
    ap.add_argument("--clip-format", choices=["wav", "mp3"], default="wav")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory(prefix="bench-stitch-") as tmp:
        root = Path(tmp)
        (root / "clips").mkdir()
        n = make_clips(root / "clips", args.minutes, args.clip_seconds, args.clip_format)
        print(f"{n} clips of {args.clip_seconds:g} s ({args.clip_format}), {args.runs} runs")
        runs = []
        for _ in range(max(1, args.runs)):
            res = run_pipeline(root / "clips", root / "out")
            res |= run_bare(root / "out" / ".audiobook" / "pcm" / "0001.wav", root / "bare.mp3")
            runs.append(res)
        report(runs)


if __name__ == "__main__":
    main()
