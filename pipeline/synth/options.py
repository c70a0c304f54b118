"""Settings of a synthesis run and the deterministic bookkeeping it returns."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any

from pipeline.models import EngineSettings


@dataclass(frozen=True)
class SynthOptions(EngineSettings):
    """EngineSettings (what a recipe may set) plus knobs only code and tests set."""

    max_attempts: int = 6  # transient retries per request
    poll_initial: float | None = None  # first poll delay; None = learned
    retry_base: float = 0.2  # first transient-retry delay (seconds); doubles, capped at 5 s
    stop_grace: float = 1.5  # after a stop: seconds in-flight requests may take to finish
    billed: bool = True  # the backend charges credits (the offline voice does not): keep a ledger
    max_refetch: int = 2  # re-queries of a finished task for a fresh URL when its download fails

    @classmethod
    def from_settings(cls, settings: EngineSettings, *, billed: bool, max_credits: int | None) -> SynthOptions:
        """The engine's options for one run: the recipe's settings, whether the backend
        bills, and the credit cap in force (--max-credits wins over the recipe's)."""
        given = {f.name: getattr(settings, f.name) for f in fields(EngineSettings)}
        return cls(**{**given, "billed": billed, "max_credits": max_credits})


@dataclass
class Stats:
    """Mutable counters while running; frozen into SynthResult at the end."""

    requests: Counter[str] = field(default_factory=Counter)
    polls: Counter[str] = field(default_factory=Counter)  # per job key, this run
    credits_charged: int = 0  # estimate: credits of creates that were accepted
    creates_rejected: int = 0
    uncertain_creates: int = 0  # create replies lost (5xx, drop, timeout): maybe a billed orphan
    retries: int = 0
    recreated: int = 0
    failed_tasks: int = 0  # status "failed" replies seen
    rate_limited: int = 0
    concurrency_limited: int = 0
    expired: int = 0
    probes_landed: int = 0  # creates sent with every slot seemingly busy, accepted
    probes_refused: int = 0  # ... refused with 101004 (no task, no charge)
    done: int = 0
    cached: int = 0
    stalled: int = 0  # tasks with a job id left for the next run (polls/downloads failing)
    timed_out: int = 0  # ... of which still "waiting" after task_timeout
    repaired: int = 0  # cached clips that failed verification and were moved aside
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SynthResult:
    """Counts for report.json; identical inputs and service give identical counts."""

    jobs: int
    done: int
    cached: int  # done before this run started (zero requests)
    failed: int
    remaining: int  # not done and not failed (stopped, out of credits)
    credits_planned: int
    credits_charged: int  # this run, ledger: creates answered with a job id
    credits_remaining: int
    requests: dict[str, int]
    polls_per_task: float
    max_polls: int
    retries: int
    recreated: int
    failed_tasks: int
    ambiguous_resubmits: int  # rows found `submitting` after a crash: maybe paid twice
    uncertain_creates: int  # creates retried after a lost reply: maybe paid twice
    rate_limited: int
    concurrency_limited: int
    expired: int
    probes_landed: int
    probes_refused: int
    open_limit_history: tuple[int, ...]
    wall_time: float
    failures: tuple[str, ...] = ()
    credits_uncertain: int = 0  # this run, ledger: creates without a readable reply
    credits_spent: int = 0  # this run: charged + uncertain (what may have been taken)
    spend_total: dict[str, int] = field(default_factory=dict)  # the ledger over every run
    credit_cap: int | None = None
    stalled: int = 0
    timed_out: int = 0
    repaired: int = 0
    warnings: tuple[str, ...] = ()

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def api_requests(self) -> int:
        """Create + get calls: the ones the key's limits count (downloads are not API calls)."""
        return self.requests.get("create", 0) + self.requests.get("get", 0)

    @property
    def refused(self) -> int:
        """Requests the service refused for its limits (101003 + 101004, probes included)."""
        return self.rate_limited + self.concurrency_limited + self.probes_refused

    def refusal_line(self) -> str:
        """`refused: n of m requests (x %)`, for the build summary."""
        asked = self.api_requests
        share = self.refused / asked if asked else 0.0
        return f"refused: {self.refused:,} of {asked:,} requests ({share:.1%})"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in self.__dataclass_fields__}
        out["open_limit_history"] = list(self.open_limit_history)
        out["failures"] = list(self.failures)
        out["warnings"] = list(self.warnings)
        out["wall_time"] = round(self.wall_time, 3)
        out["polls_per_task"] = round(self.polls_per_task, 3)
        out["refused"] = self.refused
        out["refused_share"] = round(self.refused / self.api_requests, 4) if self.api_requests else 0.0
        return out
