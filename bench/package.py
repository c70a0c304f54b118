"""Benchmark: a real book's whole packaging vs a bare sequential ffmpeg encode of the same PCM.

    .venv/bin/python bench/package.py [--runs 1] [--work bench/.work] [--chapters K]

Book: A Christmas Carol (../shared/corpus or /work/shared/corpus), offline voice. Its
clips are synthesized once (`audiobook build BOOK --backend local --no-package`, not
timed) into WORK/synth and reused by later runs. Each run (pipeline, then bare, so both
see the same machine load) times:
  1. pipeline: `audiobook build` in a fresh subprocess on a fresh copy of that directory
     (clips hard-linked, state copied, no package outputs): the build finds every clip
     cached and packages exactly as a build does (stitch, master, MP3s, M4B, check);
     the figure is report.json's `wall_seconds.package`;
  2. bare: what a naive script does with the same audio: the pipeline's chapter MP3s
     decoded once (untimed) to s16le PCM, then, sequentially, one CBR MP3 per chapter
     (libmp3lame at mp3_bitrate) and one M4B of the whole book (default AAC coder at
     m4b_bitrate).
--chapters K packages only chapters 1..K as `audiobook plan` numbers them.
Prints medians, the ratio, peak RSS of the pipeline (largest process by wait4, and the
sampled sum over its process tree), disk bytes per audio hour (clips / state /
deliverables), and every delivered MP3/M4B by ffmpeg's ebur128 meter.
Targets: ratio <= 0.6 (2 cores); RSS <= 400 MB; clips + state <= 150 MB per audio
hour; every file <= -3 dBTP and -20 +- 1 LUFS.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
BOOK = "charles-dickens_a-christmas-carol.epub"
CORPORA = (REPO.parent / "shared" / "corpus", Path("/work/shared/corpus"))
STATE = ".audiobook"
MB = 1e6


def find_book() -> Path:
    for folder in CORPORA:
        if (folder / BOOK).is_file():
            return folder / BOOK
    sys.exit(f"{BOOK} not found in any of: {', '.join(map(str, CORPORA))} (the shared corpus is needed)")


def audiobook(*args: str) -> list[str]:
    return [sys.executable, "-c", "from pipeline.cli import main; main()", *args]


def ensure_clips(book: Path, work: Path) -> Path:
    """WORK/synth with every clip of the book (synthesized on the first run only)."""
    synth, done = work / "synth", work / "synth.done"
    if done.is_file():
        return synth
    print(f"synthesizing {book.name} with the offline voice into {synth} (once; not timed) ...", flush=True)
    t = time.perf_counter()
    proc = subprocess.run(audiobook("build", str(book), "-o", str(synth), "--backend", "local", "--no-package"),
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"synthesis failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    done.write_text(f"{time.perf_counter() - t:.1f}\n")
    print(f"  done in {time.perf_counter() - t:.0f} s", flush=True)
    return synth


def source_for(book: Path, work: Path, chapters: int | None) -> Path:
    """The book itself, or a recipe that skips the chapters after `chapters`."""
    if chapters is None:
        return book
    recipe = work / f"first-{chapters}.yaml"
    recipe.write_text(f"book: {book}\nchapters:\n  - range: \"{chapters + 1}-99999\"\n    skip: true\n",
                      encoding="utf-8")
    return recipe


def fresh_copy(synth: Path, dest: Path) -> None:
    """Clips hard-linked, state copied: a build directory as `--no-package` leaves it."""
    shutil.rmtree(dest, ignore_errors=True)
    (dest / STATE).mkdir(parents=True)
    subprocess.run(["cp", "-al", str(synth / "clips"), str(dest / "clips")], check=True)
    for f in (synth / STATE).glob("state.sqlite*"):
        shutil.copy2(f, dest / STATE / f.name)


class TreeRss:
    """Sampled peak of the summed RSS of a process and all its descendants (/proc)."""

    def __init__(self, pid: int, every: float = 0.25) -> None:
        self.pid, self.every, self.peak = pid, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tree_kb(self) -> int:
        parents: dict[int, int] = {}
        rss: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                status = Path(f"/proc/{entry}/status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            parents[int(entry)] = int(fields.get("PPid", "0"))
            rss[int(entry)] = int(fields.get("VmRSS", "0 kB").split()[0])
        tree, grew = {self.pid}, True
        while grew:
            more = {p for p, pp in parents.items() if pp in tree} - tree
            tree |= more
            grew = bool(more)
        return sum(rss.get(p, 0) for p in tree)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, self._tree_kb())

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak / 1024


def run_pipeline(source: Path, synth: Path, out: Path) -> dict[str, float | str]:
    fresh_copy(synth, out)
    t = time.perf_counter()
    proc = subprocess.Popen(audiobook("build", str(source), "-o", str(out), "--backend", "local"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sampler = TreeRss(proc.pid)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall, tree_mb = time.perf_counter() - t, sampler.stop()
    if os.waitstatus_to_exitcode(status) != 0:  # a failed delivery check still exits 0 (see check_ok)
        sys.exit(f"pipeline build failed:\n{err.decode('utf-8', 'replace')[-2000:]}")
    report = json.loads((out / "report.json").read_text())
    check = report.get("check") or {}
    return {"pipeline_s": report["wall_seconds"]["package"], "build_wall_s": wall,
            "rss_mb": usage.ru_maxrss / 1024, "tree_rss_mb": tree_mb, "check_ok": float(bool(check.get("passed"))),
            "check_failed": ", ".join(check.get("failed_rules") or []) or str(check.get("error", ""))}


def delivered(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if p.suffix in (".mp3", ".m4b"))


def bare_pcm(out: Path, pcm_dir: Path, rate: int) -> list[Path]:
    """The pipeline's chapter MP3s decoded to s16le once (outside any timing)."""
    from pipeline.audio.ffmpeg import run_ffmpeg

    pcm_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for mp3 in (p for p in delivered(out) if p.suffix == ".mp3"):
        target = pcm_dir / f"{mp3.stem}.pcm"
        if not target.is_file():
            run_ffmpeg(["-i", str(mp3), "-f", "s16le", "-ac", "1", "-ar", str(rate), "-y", str(target)])
        files.append(target)
    return files


def run_bare(pcm: list[Path], out: Path, rate: int) -> dict[str, float]:
    """Sequential, default coders: one MP3 per chapter, then the whole book as one M4B."""
    from pipeline.audio.ffmpeg import ffmpeg_exe
    from pipeline.models import AudioSettings

    s = AudioSettings()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    raw = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
           "-f", "s16le", "-ar", str(rate), "-ac", "1", "-i"]
    t = time.perf_counter()
    for f in pcm:
        subprocess.run([*raw, str(f), "-c:a", "libmp3lame", "-b:a", s.mp3_bitrate, str(out / f"{f.stem}.mp3")],
                       check=True)
    joined = "concat:" + "|".join(str(f) for f in pcm)
    subprocess.run([*raw, joined, "-c:a", "aac", "-b:a", s.m4b_bitrate, "-f", "ipod", str(out / "book.m4b")],
                   check=True)
    return {"bare_s": time.perf_counter() - t}


@dataclass(frozen=True)
class Disk:
    clips: int
    state: int
    deliverables: int


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def disk(out: Path) -> Disk:
    clips, state = tree_bytes(out / "clips"), tree_bytes(out / STATE)
    return Disk(clips, state, tree_bytes(out) - clips - state)


def loudness_lines(out: Path) -> tuple[list[str], bool]:
    """Every delivered file by ffmpeg's ebur128 meter, the worst ones, and whether all pass."""
    from tests.audio.ebur128 import measure

    lines, figures = [], {}
    for f in delivered(out):
        m = figures[f.name] = measure(f)
        ok = m.true_peak <= -3.0 and abs(m.lufs + 20.0) <= 1.0
        lines.append(f"  {f.name:<48} {m.lufs:6.1f} LUFS {m.true_peak:6.1f} dBTP {'ok' if ok else 'FAIL'}")
    peak = max(figures.items(), key=lambda kv: kv[1].true_peak)
    off = max(figures.items(), key=lambda kv: abs(kv[1].lufs + 20.0))
    lines.append(f"  worst true peak {peak[1].true_peak:.1f} dBTP ({peak[0]}); "
                 f"furthest loudness {off[1].lufs:.1f} LUFS ({off[0]}) (targets <= -3 dBTP, -20 +- 1 LUFS)")
    passed = all(m.true_peak <= -3.0 and abs(m.lufs + 20.0) <= 1.0 for m in figures.values())
    return lines, passed


def audio_hours(pcm: list[Path], rate: int) -> float:
    return sum(f.stat().st_size for f in pcm) / (2 * rate) / 3600


def report(runs: list[dict], hours: float, d: Disk, loud: tuple[list[str], bool], partial: bool) -> None:
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k != "check_failed"}
    ratio = med["pipeline_s"] / med["bare_s"]
    per_run = statistics.median(r["pipeline_s"] / r["bare_s"] for r in runs)
    rss = max(r["tree_rss_mb"] for r in runs)
    kept = (d.clips + d.state) / hours / MB
    print(f"audio {hours:.2f} h; medians of {len(runs)} run(s); {os.cpu_count()} cores")
    print(f"pipeline packaging (report wall_seconds.package) {med['pipeline_s']:8.1f} s "
          f"(whole build process {med['build_wall_s']:.1f} s)")
    print(f"bare sequential ffmpeg (MP3 per chapter + M4B)     {med['bare_s']:8.1f} s")
    print(f"ratio pipeline/bare {ratio:.2f}x (median of per-run ratios {per_run:.2f}x) target <= 0.6x")
    print(f"peak RSS: largest process {max(r['rss_mb'] for r in runs):.0f} MB, "
          f"process tree (sampled sum) {rss:.0f} MB (target <= 400 MB)")
    print(f"disk per audio hour: clips {d.clips / hours / MB:.0f} MB, state {d.state / hours / MB:.0f} MB, "
          f"deliverables {d.deliverables / hours / MB:.0f} MB; clips + state {kept:.0f} MB (target <= 150 MB)")
    if partial:
        print("  (--chapters: clips/ and state hold the whole book; use a whole-book run for disk per hour)")
    failed = sorted({r["check_failed"] for r in runs if not r["check_ok"]})
    print("delivery check (audiobook check, acx): " + (f"FAILED: {'; '.join(failed)}" if failed else "passed"))
    print("ffmpeg ebur128 per delivered file:")
    print("\n".join(loud[0]))
    print("per run pipeline/bare: " + "; ".join(f"{r['pipeline_s']:.1f}/{r['bare_s']:.1f}" for r in runs))
    verdict = {"speed": ratio <= 0.6, "rss": rss <= 400, "disk": kept <= 150, "loudness": loud[1]}
    print("verdict: " + ", ".join(f"{k} {'PASS' if v else 'FAIL'}" for k, v in verdict.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--work", type=Path, default=REPO / "bench" / ".work")
    ap.add_argument("--chapters", type=int, default=None, help="package only chapters 1..K")
    args = ap.parse_args()
    from pipeline.models import AudioSettings

    rate = AudioSettings().sample_rate
    book, work = find_book(), args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    synth = ensure_clips(book, work)
    source = source_for(book, work, args.chapters)
    out, runs, pcm = work / "pipeline-out", [], []  # type: ignore[var-annotated]
    shutil.rmtree(work / "bare-pcm", ignore_errors=True)  # derived from this code's output: never stale
    for i in range(max(1, args.runs)):
        runs.append(run_pipeline(source, synth, out))
        print(f"run {i + 1}: pipeline {runs[-1]['pipeline_s']:.1f} s", end="", flush=True)
        pcm = pcm or bare_pcm(out, work / "bare-pcm", rate)
        runs[-1] |= run_bare(pcm, work / "bare-out", rate)
        print(f", bare {runs[-1]['bare_s']:.1f} s", flush=True)
    report(runs, audio_hours(pcm, rate), disk(out), loudness_lines(out), args.chapters is not None)


if __name__ == "__main__":
    main()
