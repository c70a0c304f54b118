"""What `audiobook status` shows: the checkpoint store and the spend ledger, no network.

Why the plan's keys: a store also keeps rows of segments an edit replaced; counting
those would say "120 of 100 segments done". The ledger, by contrast, is counted whole:
money spent on a replaced segment was still spent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipeline.synth.ledger import read_spend
from pipeline.synth.store import STATES, Store


def store_summary(store: Store, keys: Sequence[str] | None = None) -> dict[str, Any]:
    """Counts over the plan's segments (every row when `keys` is None) plus the ledger."""
    rows = store.rows(keys)
    states = dict.fromkeys(STATES, 0)
    for row in rows:
        states[row.state] = states.get(row.state, 0) + 1
    planned = sum(r.credits for r in rows)
    done = sum(r.credits for r in rows if r.state == "done")
    spend = read_spend(store)
    runs = int(store.conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])
    return {
        "store": str(store.path),
        "version": store.version,
        "segments": len(rows),
        "states": states,
        "credits_planned": planned,
        "credits_done": done,
        "credits_remaining": planned - done,
        "credits_spent": spend.spent,
        "spend": spend.as_dict(),
        "runs": runs,
        "ambiguous_resubmits": sum(r.ambiguous for r in rows),
        "recreated": sum(r.recreated for r in rows),
        "polls": sum(r.polls for r in rows),
        "creates": sum(r.creates for r in rows),
        "waiting_for_next_run": [
            {"chapter": r.chapter, "index": r.idx, "note": r.error} for r in rows
            if r.state == "submitted" and r.error
        ],
        "failures": [
            {"key": r.key, "chapter": r.chapter, "index": r.idx, "error": r.error} for r in rows
            if r.state == "failed"
        ],
    }


def last_backend(store: Store) -> str | None:
    """The backend of the most recent run recorded in this store (None before any)."""
    found = store.conn.execute("SELECT backend FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    return str(found[0]) if found else None
