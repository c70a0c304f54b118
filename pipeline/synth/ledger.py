"""The spend ledger: every create that may have been charged, written down before it is sent.

Why: the vendor documents no way to list tasks or read a balance, so what we may have
spent can only be known from our own records. Each create first commits an *intent*
row (with the segment's `submitting` mark, in one transaction), then the reply resolves
it:

- `charged`   the reply gave a job id: the service holds (and bills) a task;
- `refused`   a documented refusal code (or the request never left us): nothing taken;
- `uncertain` no readable reply (timeout, dropped connection, 5xx, garbage): a task may
              exist that we will never hear of, and it may be billed.

Spent = charged + uncertain (+ intents still in flight), pessimistically. That figure
is what reports, status and progress show and what the credit cap (`--max-credits`,
`synthesis.max_credits`) bounds, across every run of the same output directory. An
intent left unresolved by a crash becomes `uncertain` when the next run starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pipeline.synth.clock import Clock, SystemClock
from pipeline.synth.store import Store

Outcome = Literal["charged", "refused", "uncertain"]
OUTCOMES: tuple[str, ...] = ("intent", "charged", "refused", "uncertain")


@dataclass(frozen=True)
class Spend:
    """Credits by ledger outcome, and how many creates were sent or refused."""

    charged: int = 0
    uncertain: int = 0
    pending: int = 0  # intents not resolved yet: creates in flight
    creates: int = 0  # create requests recorded
    refused: int = 0  # of which refused (no charge)
    uncertain_creates: int = 0  # of which without a readable reply

    @property
    def spent(self) -> int:
        """What may have been taken: the figure the cap bounds and reports show."""
        return self.charged + self.uncertain + self.pending

    def as_dict(self) -> dict[str, int]:
        return {"spent": self.spent, "charged": self.charged, "uncertain": self.uncertain,
                "creates": self.creates, "refused_creates": self.refused,
                "uncertain_creates": self.uncertain_creates}


def read_spend(store: Store, run: int | None = None) -> Spend:
    """Totals from the file (all runs, or one): what `status` shows, no lock needed."""
    where, params = ("WHERE run=?", (run,)) if run is not None else ("", ())
    found = {outcome: (0, 0) for outcome in OUTCOMES}
    query = f"SELECT outcome, COUNT(*), COALESCE(SUM(credits),0) FROM ledger {where} GROUP BY outcome"
    for outcome, count, credits in store.conn.execute(query, params):
        found[str(outcome)] = (int(count), int(credits))
    return Spend(
        charged=found["charged"][1], uncertain=found["uncertain"][1], pending=found["intent"][1],
        creates=sum(n for n, _ in found.values()), refused=found["refused"][0],
        uncertain_creates=found["uncertain"][0],
    )


class CreditPool:
    """One cap over several ledgers (a batch's `--max-credits`): what the books of a batch
    may have spent together, over all their runs, stays at or under it."""

    def __init__(self, cap: int | None) -> None:
        self.cap = cap
        self.ledgers: list[Ledger] = []

    @property
    def spent(self) -> int:
        return sum(ledger.total.spent for ledger in self.ledgers)

    def join(self, ledger: Ledger) -> None:
        ledger.pool = self
        self.ledgers.append(ledger)


class Ledger:
    """One run's writer of the ledger. The build holds the output lock, so this process is
    the only writer and keeps running totals in memory (no SUM per create)."""

    def __init__(self, store: Store, run: int, cap: int | None, recovered: int, clock: Clock | None = None) -> None:
        self.store = store
        self.clock = clock or SystemClock()  # dates the rows (sent_at, resolved_at)
        self.run = run
        self.cap = cap
        self.recovered = recovered  # intents a crashed run left, now counted uncertain
        self.total = read_spend(store)
        self.this_run = Spend()
        self.pool: CreditPool | None = None  # a batch's shared cap, when in one

    @staticmethod
    def note_free_run(store: Store, backend: str, clock: Clock | None = None) -> None:
        """Record a run of an offline voice (no ledger, nothing spent), so `status` knows
        whose clips the directory holds (`piper:<model hash>` or local)."""
        now = (clock or SystemClock()).time()
        with store.atomic() as conn:
            conn.execute("INSERT INTO runs (started_at, backend, cap) VALUES (?, ?, NULL)", (now, backend))

    @classmethod
    def start(cls, store: Store, backend: str, cap: int | None, clock: Clock | None = None) -> Ledger:
        """Open a run: settle intents left by a crash (uncertain), then record the run."""
        clock = clock or SystemClock()
        now = clock.time()
        with store.atomic() as conn:
            recovered = conn.execute(
                "UPDATE ledger SET outcome='uncertain', resolved_at=?,"
                " detail='the run ended before the reply was read' WHERE outcome='intent'", (now,),
            ).rowcount
            cur = conn.execute("INSERT INTO runs (started_at, backend, cap) VALUES (?, ?, ?)", (now, backend, cap))
            run = int(cur.lastrowid or 0)
        return cls(store, run, cap, int(recovered), clock)

    def room(self, credits: int) -> bool:
        """Whether a create of `credits` keeps the spend at or under the cap (and the batch's)."""
        return self.over_cap(credits) is None

    def over_cap(self, credits: int) -> str | None:
        """Which cap a create of `credits` would cross, as a message; None if neither."""
        spend = self.total
        detail = f"(charged {spend.charged:,}, uncertain {spend.uncertain + spend.pending:,})"
        if self.cap is not None and spend.spent + credits > self.cap:
            return f"{spend.spent:,} of {self.cap:,} credits spent on this output directory {detail}"
        pool = self.pool
        if pool is not None and pool.cap is not None and pool.spent + credits > pool.cap:
            return f"{pool.spent:,} of {pool.cap:,} credits spent by this batch's books"
        return None

    def reserve(self, key: str, credits: int) -> int | None:
        """Commit an intent and the segment's `submitting` mark together, before the create is
        sent; None (and nothing written) when it would cross the cap."""
        if not self.room(credits):
            return None
        with self.store.atomic() as conn:
            cur = conn.execute(
                "INSERT INTO ledger (run, key, credits, sent_at) VALUES (?, ?, ?, ?)",
                (self.run, key, credits, self.clock.time()),
            )
            self.store.mark_submitting(key)
        self._add(pending=credits, creates=1)
        return int(cur.lastrowid or 0)

    def charged(self, entry: int, key: str, job_id: str, credits: int, at: float) -> None:
        """The create gave a job id: resolve the intent and save the job id in one commit."""
        with self.store.atomic():
            self._resolve(entry, "charged", job_id, None)
            self.store.mark_submitted(key, job_id, credits, at)
        self._add(pending=-credits, charged=credits)

    def refused(self, entry: int, key: str, credits: int, detail: str) -> None:
        """A documented refusal (or the request never left): nothing was taken."""
        with self.store.atomic():
            self._resolve(entry, "refused", None, detail)
            self.store.unmark_submitting(key)
        self._add(pending=-credits, refused=1)

    def uncertain(self, entry: int, key: str, credits: int, detail: str) -> None:
        """No readable reply: the credits stay counted as (maybe) spent."""
        with self.store.atomic():
            self._resolve(entry, "uncertain", None, detail)
            self.store.unmark_submitting(key)
        self._add(pending=-credits, uncertain=credits, uncertain_creates=1)

    def _resolve(self, entry: int, outcome: Outcome, job_id: str | None, detail: str | None) -> None:
        self.store.conn.execute(
            "UPDATE ledger SET outcome=?, job_id=?, detail=?, resolved_at=? WHERE id=? AND outcome='intent'",
            (outcome, job_id, detail[:200] if detail else None, self.clock.time(), entry),
        )

    def _add(self, **delta: int) -> None:
        def bump(spend: Spend) -> Spend:
            values = {name: getattr(spend, name) + delta.get(name, 0) for name in Spend.__dataclass_fields__}
            return Spend(**values)

        self.total = bump(self.total)
        self.this_run = bump(self.this_run)
