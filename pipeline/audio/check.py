"""`audiobook check`: judge delivered files against a distribution profile.

acx follows Audible's published submission rules (RMS -23..-18 dB, peak <= -3 dB,
noise floor <= -60 dB, 44.1 kHz, CBR MP3 >= 192 kbps, <= 120 min per file, room tone
at head and tail, one channel layout for all files); generic is a looser sanity check.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pipeline.audio.analyze import FileFacts, Measured, analyze_file
from pipeline.errors import UserError

AUDIO_SUFFIXES = frozenset({".mp3", ".m4b", ".m4a", ".wav", ".flac", ".ogg", ".opus", ".aac"})
BOOK_CONTAINERS = frozenset({"m4a"})  # whole-book files: no per-file duration limit


@dataclass(frozen=True)
class Profile:
    name: str
    rms: tuple[float, float]
    peak_max: float
    noise_max: float
    rates: tuple[int, ...]
    min_mp3_kbps: int
    require_cbr: bool
    max_minutes: float | None
    room_tone_db: float | None  # head/tail 0.5 s must be below this
    peak_kind: str = "true"  # "sample": the largest sample, as ACX's own checker measures the peak


PROFILES: dict[str, Profile] = {
    "acx": Profile("acx", (-23.0, -18.0), -3.0, -60.0, (44100,), 192, True, 120.0, -50.0, "sample"),
    "generic": Profile("generic", (-28.0, -14.0), -1.0, -50.0, (22050, 24000, 32000, 44100, 48000),
                       64, False, None, None),
}


@dataclass(frozen=True)
class RuleResult:
    rule: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class FileReport:
    facts: FileFacts
    results: tuple[RuleResult, ...]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> tuple[str, ...]:
        return tuple(r.rule for r in self.results if not r.passed)


def _num(x: float) -> float | None:
    return round(x, 2) if math.isfinite(x) else None


@dataclass(frozen=True)
class CheckReport:
    profile: str
    files: tuple[FileReport, ...]
    set_results: tuple[RuleResult, ...]  # rules across files (channel consistency)

    @property
    def passed(self) -> bool:
        return all(f.passed for f in self.files) and all(r.passed for r in self.set_results)

    @property
    def failed_rules(self) -> tuple[str, ...]:
        names = [r for f in self.files for r in f.failed] + [r.rule for r in self.set_results if not r.passed]
        return tuple(dict.fromkeys(names))

    def to_dict(self) -> dict[str, object]:
        return {
            "profile": self.profile,
            "passed": self.passed,
            "failed_rules": list(self.failed_rules),
            "set_rules": [vars(r) for r in self.set_results],
            "files": [_file_dict(f) for f in self.files],
        }


def _file_dict(f: FileReport) -> dict[str, object]:
    x = f.facts
    return {
        "path": str(x.path), "format": x.format, "codec": x.codec, "duration_s": round(x.duration_s, 3),
        "sample_rate": x.sample_rate, "channels": x.channels, "bitrate_kbps": x.bitrate_kbps,
        "bitrate_mode": None if x.vbr is None else ("VBR" if x.vbr else "CBR"),
        "loudness_lufs": _num(x.loudness_lufs), "rms_db": _num(x.rms_db), "true_peak_db": _num(x.true_peak_db),
        "sample_peak_db": _num(x.sample_peak_db),
        "noise_floor_db": _num(x.noise_floor_db), "head_db": _num(x.head_db), "tail_db": _num(x.tail_db),
        "chapters": [{"start": a, "end": b, "title": t} for a, b, t in x.chapters],
        "tags": x.tags, "cover": x.cover, "passed": f.passed,
        "rules": [vars(r) for r in f.results],
    }


Rule = Callable[[FileFacts, Profile], RuleResult | None]


def _rms(f: FileFacts, p: Profile) -> RuleResult:
    lo, hi = p.rms
    return RuleResult("rms", lo <= f.rms_db <= hi, f"RMS {f.rms_db:.1f} dB (want {lo:g}..{hi:g})")


def _peak(f: FileFacts, p: Profile) -> RuleResult:
    if p.peak_kind == "sample":
        return RuleResult("peak", f.sample_peak_db <= p.peak_max,
                          f"sample peak {f.sample_peak_db:.1f} dB (max {p.peak_max:g})")
    return RuleResult("peak", f.true_peak_db <= p.peak_max, f"true peak {f.true_peak_db:.1f} dBTP (max {p.peak_max:g})")


def _noise(f: FileFacts, p: Profile) -> RuleResult:
    return RuleResult("noise_floor", f.noise_floor_db <= p.noise_max,
                      f"noise floor {f.noise_floor_db:.1f} dB (max {p.noise_max:g})")


def _rate(f: FileFacts, p: Profile) -> RuleResult:
    return RuleResult("sample_rate", f.sample_rate in p.rates, f"{f.sample_rate} Hz")


def _mp3_mode(f: FileFacts, p: Profile) -> RuleResult | None:
    if f.vbr is None or not p.require_cbr:
        return None
    return RuleResult("cbr", not f.vbr, "VBR MP3 (CBR required)" if f.vbr else "CBR")


def _mp3_bitrate(f: FileFacts, p: Profile) -> RuleResult | None:
    if f.format != "mp3" or f.bitrate_kbps is None:
        return None
    return RuleResult("bitrate", f.bitrate_kbps >= p.min_mp3_kbps, f"{f.bitrate_kbps} kbps (min {p.min_mp3_kbps})")


def _duration(f: FileFacts, p: Profile) -> RuleResult | None:
    if p.max_minutes is None or f.format in BOOK_CONTAINERS or len(f.chapters) > 1:  # a whole book, with chapters
        return None
    minutes = f.duration_s / 60
    return RuleResult("duration", minutes <= p.max_minutes, f"{minutes:.1f} min (max {p.max_minutes:g})")


def _room_tone(f: FileFacts, p: Profile) -> RuleResult | None:
    if p.room_tone_db is None:
        return None
    ok = f.head_db <= p.room_tone_db and f.tail_db <= p.room_tone_db
    return RuleResult("room_tone", ok, f"head {f.head_db:.1f} dB, tail {f.tail_db:.1f} dB (max {p.room_tone_db:g})")


RULES: tuple[Rule, ...] = (_rms, _peak, _noise, _rate, _mp3_mode, _mp3_bitrate, _duration, _room_tone)


def judge(facts: FileFacts, profile: Profile) -> FileReport:
    results = tuple(r for rule in RULES if (r := rule(facts, profile)) is not None)
    return FileReport(facts, results)


def audio_files(path: Path) -> list[Path]:
    """The file itself, or the audio files directly inside a directory (sorted)."""
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES
                      and not p.name.startswith("."))
    raise UserError(f"no such file or directory: {path}")


def check_path(path: Path, profile: str = "acx", known: Mapping[Path, Measured] | None = None) -> CheckReport:
    """Measure and judge a file or every audio file of a directory.

    `known`: levels already measured (the build measured each file as it encoded it),
    so those files are not decoded again.
    """
    if profile not in PROFILES:
        raise UserError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    prof = PROFILES[profile]
    files = audio_files(Path(path))
    if not files:
        raise UserError(f"no audio files in {path}")
    reports = tuple(judge(analyze_file(f, (known or {}).get(f)), prof) for f in files)
    layouts = sorted({r.facts.channels for r in reports})
    same = RuleResult("channels_consistent", len(layouts) == 1,
                      "channels: " + ", ".join("mono" if c == 1 else f"{c} ch" for c in layouts))
    return CheckReport(prof.name, reports, (same,))
