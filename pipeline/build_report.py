"""What a build did, as typed results between the stages and as report.json.

The stages return these dataclasses; only `BuildReport.to_dict` knows the JSON shape
(keys and order as they always were, since users and tests read report.json).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import AudiobookError, DiskFullError, is_disk_full
from pipeline.fsio import write_atomic

if TYPE_CHECKING:
    from pipeline.audio.check import CheckReport
    from pipeline.synth.options import SynthResult

@dataclass(frozen=True)
class SynthOutcome:
    """The synthesis stage's counts, and why it stopped if it did (`stopped`)."""

    result: SynthResult | None
    stopped: str | None = None

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.result.warnings if self.result is not None else ()

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = dict(self.result.as_dict()) if self.result is not None else {}
        if self.stopped is not None:
            out["stopped"] = self.stopped
        return out


@dataclass(frozen=True)
class PackageReport:
    """The package stage: files delivered, those this run rewrote, the delivery check."""

    files: tuple[Path, ...]
    rewritten: tuple[Path, ...]
    check: CheckReport | None = None
    check_error: str | None = None  # the check could not run (the build still succeeds)

    def check_dict(self) -> dict[str, object]:
        if self.check is not None:
            return dict(self.check.to_dict())
        return {"error": self.check_error or "not checked"}


@dataclass
class BuildReport:
    """Filled in stage by stage; written as report.json even when the build stops."""

    plan: dict[str, object]  # the plan's totals (plan_to_dict(...)["totals"])
    backend: str
    warnings: list[str] = field(default_factory=list)
    synthesis: SynthOutcome | None = None
    package: PackageReport | None = None
    stopped: str | None = None
    wall_seconds: dict[str, float] = field(default_factory=dict)
    _ran_synthesis: bool = field(default=False, repr=False)

    def record_synthesis(self, outcome: SynthOutcome) -> None:
        self.synthesis = outcome
        self._ran_synthesis = True

    def stop(self, exc: BaseException) -> None:
        """The build is leaving with `exc`: say so in the report."""
        message = exc.message if isinstance(exc, AudiobookError) else None
        self.stopped = message or type(exc).__name__
        self._ran_synthesis = True  # a stopped build always reports its synthesis, maybe null

    @property
    def all_warnings(self) -> list[str]:
        return self.warnings + list(self.synthesis.warnings if self.synthesis is not None else ())

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"plan": self.plan, "backend": self.backend, "warnings": self.all_warnings}
        if self._ran_synthesis:
            out["synthesis"] = self.synthesis.to_dict() if self.synthesis is not None else None
        if self.package is not None:
            out["package"] = {"files": [str(p) for p in self.package.files],
                              "rewritten": [str(p) for p in self.package.rewritten]}
            out["check"] = self.package.check_dict()
        if self.stopped is not None:
            out["stopped"] = self.stopped
        out["wall_seconds"] = self.wall_seconds
        return out

    def write(self, path: Path, *, failing: bool) -> None:
        """Write report.json atomically; while another error is on its way out, a full
        disk must not hide it."""
        text = json.dumps(self.to_dict(), ensure_ascii=False, indent=2, default=str) + "\n"
        try:
            write_atomic(path, text.encode("utf-8"))
        except OSError as exc:
            if not (failing and is_disk_full(exc)):
                if is_disk_full(exc):
                    raise DiskFullError(
                        f"the disk is full: cannot write {path}; free some space, then run again") from None
                raise
