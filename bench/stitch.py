"""Benchmark: stitch + master + encode one long chapter vs a bare ffmpeg encode.

    /work/venv/bin/python bench/stitch.py [--minutes 60] [--runs 3] [--clip-format wav]

Makes `minutes` of 6 s speech-like clips, then in a fresh subprocess per run stitches
them into one chapter and encodes the CBR MP3 (the real code path), and times a bare
`ffmpeg WAV -> MP3` encode of the same PCM. Prints medians, the ratio, and peak RSS
(the stitch process itself, and its ffmpeg encoder).
Targets: <= 1.3x the bare encode's time, <= 400 MB peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def make_clips(folder: Path, minutes: float, clip_s: float, fmt: str) -> int:
    from pipeline.audio.ffmpeg import encode_pcm
    from tests.audio.helpers import fake_speech, to_pcm

    count = int(minutes * 60 / clip_s)
    variants = [encode_pcm(to_pcm(fake_speech(clip_s, seed=s, level=0.1 + 0.02 * s)), 44100, 1, fmt, "128k")
                for s in range(20)]
    for i in range(count):
        (folder / f"{i:05d}.{fmt}").write_bytes(variants[i % len(variants)] or b"")
    return count


def child(clip_dir: Path, out: Path) -> None:
    """One measured run: the code path assemble_book uses for one chapter."""
    from pipeline.audio.master import EncodeTarget, master_chapter
    from pipeline.audio.stitch import ClipRef, stitch_chapter
    from pipeline.models import Boundary, Pauses

    kinds = [Boundary.SENTENCE, Boundary.CLAUSE, Boundary.SENTENCE, Boundary.PARAGRAPH]
    clips = [ClipRef(p, kinds[i % 4]) for i, p in enumerate(sorted(clip_dir.iterdir()))]
    t0 = time.perf_counter()
    st = stitch_chapter(clips, Pauses(), out / "chapter.raw")
    t1 = time.perf_counter()
    res = master_chapter(st, out / "chapter.wav", target_lufs=-20.0, true_peak_db=-3.0,
                         encodes=[EncodeTarget("mp3", out / "chapter.mp3", "192k")])
    t2 = time.perf_counter()
    print(json.dumps({
        "stitch_s": t1 - t0, "master_encode_s": t2 - t1, "seconds_audio": st.frames / 44100,
        "lufs": res.loudness_lufs, "self_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "ffmpeg_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }))


def run_stitch(clip_dir: Path, out: Path) -> dict[str, float]:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", str(clip_dir), str(out)],
                          capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t
    return json.loads(proc.stdout.strip().splitlines()[-1]) | {"wall_s": wall}


def run_bare(wav: Path, out: Path) -> float:
    from pipeline.audio.ffmpeg import run_ffmpeg

    t = time.perf_counter()
    run_ffmpeg(["-i", str(wav), "-c:a", "libmp3lame", "-b:a", "192k", "-y", str(out)])
    return time.perf_counter() - t


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
        stitch, bare = [], []
        for _ in range(args.runs):
            stitch.append(run_stitch(root / "clips", root))
            bare.append(run_bare(root / "chapter.wav", root / "bare.mp3"))
        med = {k: statistics.median(r[k] for r in stitch) for k in stitch[0]}
        bare_s = statistics.median(bare)
        print(f"audio {med['seconds_audio'] / 60:.1f} min, {med['lufs']:.2f} LUFS")
        print(f"stitch+master+encode  {med['wall_s']:7.2f} s wall (stitch {med['stitch_s']:.2f} s, "
              f"master+encode {med['master_encode_s']:.2f} s)")
        print(f"bare ffmpeg encode    {bare_s:7.2f} s")
        print(f"ratio                 {med['wall_s'] / bare_s:7.2f}x (target <= 1.3x)")
        print(f"peak RSS: stitch process {med['self_rss_mb']:.0f} MB, ffmpeg {med['ffmpeg_rss_mb']:.0f} MB "
              f"(target <= 400 MB)")


if __name__ == "__main__":
    main()
