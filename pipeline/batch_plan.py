"""The plan of a batch: every book planned (no network) before anything is sent.

Why a batch plan and not N plans: the cost a user confirms, the cap and the report are
the batch's. A segment whose clip is already cached, or whose text and voice an earlier
book of the batch buys, is free here (the engine buys it once: pipeline.synth.batch).
A book that cannot be planned (unreadable, no chapters, no voice) is an input error:
every such error is listed and the batch does not start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.build import cached_keys, plan_build
from pipeline.catalogue import BatchInputs, BookEntry
from pipeline.errors import AudiobookError, UserError
from pipeline.models import Plan
from pipeline.plan import plan_to_dict
from pipeline.workspace import Workspace, check_output_dir


@dataclass(frozen=True)
class BookPlan:
    """One book of the batch: its recipe, its directory, its plan, and what is free."""

    index: int
    entry: BookEntry
    workspace: Workspace
    plan: Plan
    free: frozenset[str]  # keys not bought for this book: cached, or bought by an earlier book
    shared: int  # of which segments an earlier book of the batch buys

    @property
    def to_spend(self) -> int:
        return sum(j.credits for j in self.plan.jobs if j.key not in self.free)

    @property
    def name(self) -> str:
        return self.plan.title

    def to_dict(self) -> dict[str, object]:
        """The single-book `plan --json` object, with where the book comes from."""
        data = plan_to_dict(self.plan, set(self.free))
        totals = data["totals"]
        assert isinstance(totals, dict)
        totals["shared_segments"] = self.shared
        return {"origin": self.entry.origin, "output": str(self.workspace.output_dir), **data}


@dataclass(frozen=True)
class BatchPlan:
    books: tuple[BookPlan, ...]
    backend: str

    @property
    def credits(self) -> int:
        return sum(b.plan.credits for b in self.books)

    @property
    def to_spend(self) -> int:
        return sum(b.to_spend for b in self.books)

    def totals(self) -> dict[str, object]:
        jobs = [j for b in self.books for j in b.plan.jobs]
        return {
            "books": len(self.books),
            "chapters": sum(len(b.plan.active) for b in self.books),
            "chars": sum(len(j.segment.text) for j in jobs),
            "segments": len(jobs),
            "credits": self.credits,
            "min_credits": sum(c.min_credits for b in self.books for c in b.plan.active),
            "cached_segments": sum(1 for b in self.books for j in b.plan.jobs if j.key in b.free),
            "shared_segments": sum(b.shared for b in self.books),
            "credits_to_spend": self.to_spend,
            **({"money": money} if (money := self.money()) else {}),
        }

    def money(self) -> dict[str, dict[str, float]]:
        """Per currency, what the priced books' credits cost (books without `price:` left out)."""
        out: dict[str, dict[str, float]] = {}
        for b in self.books:
            if b.plan.price is not None:
                row = out.setdefault(b.plan.price.currency, {"planned": 0.0, "to_spend": 0.0})
                row["planned"] = round(row["planned"] + b.plan.price.of(b.plan.credits), 6)
                row["to_spend"] = round(row["to_spend"] + b.plan.price.of(b.to_spend), 6)
        return out

    def to_dict(self) -> dict[str, object]:
        return {"books": [b.to_dict() for b in self.books], "totals": self.totals()}


def plan_batch(inputs: BatchInputs, backend: str) -> BatchPlan:
    """Plan every book in order; raise one UserError listing every book that cannot be."""
    planned: list[tuple[BookEntry, Workspace, Plan]] = []
    errors: list[str] = []
    for entry in inputs.books:
        workspace = Workspace.of(entry.recipe)
        try:
            check_output_dir(workspace.output_dir)
            planned.append((entry, workspace, plan_build(entry.recipe, workspace, backend)))
        except AudiobookError as exc:
            errors.append(f"{entry.origin}: {exc.message}")
    if errors:
        raise UserError("\n".join(errors))
    return BatchPlan(_free_keys(planned), backend)


def _free_keys(planned: Sequence[tuple[BookEntry, Workspace, Plan]]) -> tuple[BookPlan, ...]:
    """Per book, the keys it need not buy: in its cache or another book's, or an earlier
    book's job (that book buys it, this one gets a copy)."""
    cached = [cached_keys(workspace, plan) for _, workspace, plan in planned]
    anywhere = set().union(*cached) if cached else set()
    bought: set[str] = set()
    books = []
    for i, (entry, workspace, plan) in enumerate(planned):
        keys = {j.key for j in plan.jobs}
        from_earlier = (keys & bought) - cached[i]
        free = frozenset((keys & anywhere) | from_earlier)
        books.append(BookPlan(i, entry, workspace, plan, free, len(from_earlier - anywhere)))
        bought |= keys
    return tuple(books)
