"""The packaging manifest (.audiobook/assembly.json): what was built, from what, and how
every delivered file measured.

The measurements let the build's delivery check judge files without decoding them a
second time; they are trusted only while the file's size and mtime are the ones
recorded. The AAC pieces' 100 ms hop energies are kept beside them (.npy, tiny) so
the M4B's integrated loudness is gated over the whole book exactly.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

import numpy as np

from pipeline.audio.analyze import Measured
from pipeline.audio.chapter import CHAPTER_FORMATS, ChapterJob, ChapterOutput, aac_path
from pipeline.audio.loudness import gated_loudness
from pipeline.fsio import write_atomic

MANIFEST = "assembly.json"
MANIFEST_VERSION = 2  # 2: AAC pieces and measurements (1 kept mastered WAVs)
_LEVELS = [f.name for f in fields(Measured) if f.name != "hop_energies"]


def _stamp(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _record(path: Path, m: Measured) -> dict[str, object]:
    levels = {k: (None if isinstance(v, float) and math.isinf(v) else v) for k in _LEVELS
              if (v := getattr(m, k)) is not None}
    return {"name": path.name, **_stamp(path), **levels}


def _measured(rec: dict, energies: np.ndarray | None = None) -> Measured:
    def level(name: str) -> float:
        return -math.inf if rec.get(name) is None else float(rec[name])

    return Measured(
        frames=int(rec["frames"]), loudness_lufs=level("loudness_lufs"), sum_sq=level("sum_sq"),
        true_peak=level("true_peak"), floor_ms=level("floor_ms"), head_db=level("head_db"),
        tail_db=level("tail_db"), hop_energies=np.zeros(0) if energies is None else energies,
        sample_peak=level("sample_peak" if "sample_peak" in rec else "true_peak"),  # older records: the bound
    )


def _current(rec: dict | None, path: Path) -> bool:
    try:
        return rec is not None and rec.get("name") == path.name and _stamp(path) == {
            "size": rec.get("size"), "mtime_ns": rec.get("mtime_ns")}
    except OSError:
        return False


def entry_measured(entry: dict, files: Sequence[Path]) -> bool:
    """Every file of a chapter entry has measurements that still describe it."""
    recs = entry.get("files", {})
    return all(any(_current(r, p) for r in recs.values()) for p in files)


def combine(parts: Sequence[Measured], hop: int = 4410) -> Measured:
    """The figures of files played one after another (the M4B from its chapters' AAC)."""
    energies = np.concatenate([p.hop_energies for p in parts]) if parts else np.zeros(0)
    return Measured(
        frames=sum(p.frames for p in parts), loudness_lufs=gated_loudness(energies, hop),
        sum_sq=sum(p.sum_sq for p in parts), true_peak=max((p.true_peak for p in parts), default=0.0),
        sample_peak=max((p.sample_peak for p in parts), default=0.0),
        floor_ms=min((p.floor_ms for p in parts), default=0.0),
        head_db=parts[0].head_db if parts else -math.inf, tail_db=parts[-1].tail_db if parts else -math.inf,
        hop_energies=energies,
    )


class Manifest:
    """Chapter entries by index, the M4B's fingerprint and measurements."""

    def __init__(self, work: Path, data: dict) -> None:
        self.work = work
        self.data = data
        self.data.setdefault("chapters", {})
        self.loaded_stems = {e.get("stem") for e in self.data["chapters"].values()} - {None}

    @classmethod
    def load(cls, work: Path) -> Manifest:
        try:
            data = json.loads((work / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
            data = {}
        return cls(work, data | {"version": MANIFEST_VERSION})

    def save(self) -> None:
        text = json.dumps(self.data, indent=1, sort_keys=True, ensure_ascii=False)
        write_atomic(self.work / MANIFEST, text.encode("utf-8"))

    def chapter(self, index: int) -> dict:
        entry = self.data["chapters"].get(str(index), {})
        return entry if isinstance(entry, dict) else {}

    def frames(self, index: int) -> int:
        return int(self.chapter(index).get("frames", 0))

    def stem(self, index: int) -> str:
        return str(self.chapter(index)["stem"])

    def record_chapter(self, job: ChapterJob, fingerprint: str, out: ChapterOutput) -> None:
        files = {fmt: _record(path, out.measured[fmt]) for fmt, path in out.files.items()}
        if "aac" in out.measured:
            np.save(aac_path(self.work, out.index).with_suffix(".npy"), out.measured["aac"].hop_energies)
        self.data["chapters"][str(out.index)] = {
            "fingerprint": fingerprint, "frames": out.frames, "stem": job.stem, "title": job.chapter.title,
            "headroom_db": round(out.headroom_db, 2), "files": files, "clip_starts": list(out.clip_starts),
        }

    def clip_starts(self, index: int) -> tuple[int, ...]:
        """Where each clip starts in the chapter's audio, in frames (the proof page's times)."""
        return tuple(int(x) for x in self.chapter(index).get("clip_starts", ()))

    def measured(self, index: int, fmt: str) -> Measured:
        rec = self.chapter(index)["files"][fmt]
        energies = None
        if fmt == "aac":
            energies = np.load(aac_path(self.work, index).with_suffix(".npy"))
        return _measured(rec, energies)

    def drop_others(self, indices: Sequence[int], out: Path) -> None:
        """Forget chapters the book no longer has; delete files under stems no chapter uses."""
        keep = {str(i) for i in indices}
        for key in [k for k in self.data["chapters"] if k not in keep]:
            del self.data["chapters"][key]
            if key.isdigit():
                for p in (aac_path(self.work, int(key)), aac_path(self.work, int(key)).with_suffix(".npy")):
                    p.unlink(missing_ok=True)
        stems = {e.get("stem") for e in self.data["chapters"].values()}
        for stem in self.loaded_stems - stems:
            for fmt in CHAPTER_FORMATS:
                (out / f"{stem}.{fmt}").unlink(missing_ok=True)

    def m4b_fingerprint(self) -> str | None:
        m4b = self.data.get("m4b")
        return m4b.get("fingerprint") if isinstance(m4b, dict) else None

    def record_m4b(self, fingerprint: str, path: Path, measured: Measured) -> None:
        self.data["m4b"] = {"fingerprint": fingerprint, "file": _record(path, measured)}

    def product_fingerprint(self, name: str) -> str | None:
        """The fingerprint a whole-book product (the book MP3) was last built from."""
        rec = self.data.get("products", {}).get(name)
        return rec.get("fingerprint") if isinstance(rec, dict) else None

    def record_product(self, name: str, fingerprint: str) -> None:
        self.data.setdefault("products", {})[name] = {"fingerprint": fingerprint}

    def measured_files(self, out: Path, paths: Sequence[Path]) -> dict[Path, Measured]:
        """Measurements that still describe these delivered files (others are left out)."""
        recs = [r for e in self.data["chapters"].values() for r in e.get("files", {}).values()]
        if isinstance(self.data.get("m4b"), dict):
            recs.append(self.data["m4b"]["file"])
        by_name = {r["name"]: r for r in recs if isinstance(r, dict) and "name" in r}
        return {p: _measured(by_name[p.name]) for p in paths
                if p.parent == out and _current(by_name.get(p.name), p)}
