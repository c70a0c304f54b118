"""The spend ledger on a real SQLite file: intents before sends, outcomes, the cap, crashes,
and a store that many processes open at once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from pipeline.synth.ledger import Ledger, read_spend
from pipeline.synth.status import store_summary
from pipeline.synth.store import MIGRATIONS, Store
from tests.synth.fakes import make_jobs

REPO = Path(__file__).resolve().parents[2]


def test_intent_is_committed_before_the_send_and_resolved_by_the_reply(tmp_path: Path) -> None:
    jobs = make_jobs(3, chars=150)  # 2 credits each
    with Store.open(tmp_path) as store:
        store.sync_plan(jobs)
        ledger = Ledger.start(store, "audiocleaner", cap=None)
        entries = [ledger.reserve(j.key, j.credits) for j in jobs]
        assert all(e is not None for e in entries)
        # before any reply, a second reader already sees the intents as (maybe) spent
        with Store.open(tmp_path, lock=False) as reader:
            assert read_spend(reader).pending == 6 and read_spend(reader).spent == 6
            assert reader.counts()["submitting"] == 3
        a, b, c = (e for e in entries if e is not None)
        ledger.charged(a, jobs[0].key, "job-a", 2, 1.0)
        ledger.refused(b, jobs[1].key, 2, "101004")
        ledger.uncertain(c, jobs[2].key, 2, "connection dropped")
        assert ledger.this_run.spent == 4 and ledger.this_run.charged == 2 and ledger.this_run.uncertain == 2
        spend = read_spend(store)
        assert (spend.charged, spend.uncertain, spend.pending, spend.refused, spend.creates) == (2, 2, 0, 1, 3)
        row = store.row(jobs[0].key)
        assert row is not None and row.state == "submitted" and row.job_id == "job-a"
        assert store.counts()["planned"] == 2  # refused and uncertain creates left no task we know of


def test_cap_counts_every_run_and_in_flight_intents(tmp_path: Path) -> None:
    jobs = make_jobs(6, chars=150)  # 2 credits each
    with Store.open(tmp_path) as store:
        store.sync_plan(jobs)
        first = Ledger.start(store, "audiocleaner", cap=7)
        e0, e1 = first.reserve(jobs[0].key, 2), first.reserve(jobs[1].key, 2)
        assert e0 is not None and e1 is not None
        first.charged(e0, jobs[0].key, "j0", 2, 1.0)
        first.uncertain(e1, jobs[1].key, 2, "timeout")
        e2 = first.reserve(jobs[2].key, 2)  # in flight: 2 + 2 + 2 = 6 <= 7
        assert e2 is not None
        assert first.reserve(jobs[3].key, 2) is None  # 8 > 7: refused before anything is written
        assert store.counts()["submitting"] == 1
        # the process dies with e2 in flight; the next run counts it as uncertain, not free
    with Store.open(tmp_path) as store:
        second = Ledger.start(store, "audiocleaner", cap=7)
        assert second.recovered == 1
        assert second.total.spent == 6 and second.total.uncertain == 4 and second.total.pending == 0
        assert second.this_run.spent == 0
        assert second.room(1) and not second.room(2)
        summary = store_summary(store)
        assert summary["spend"] == {"spent": 6, "charged": 2, "uncertain": 4, "creates": 3,
                                    "refused_creates": 0, "uncertain_creates": 2}
        assert summary["runs"] == 2


_OPENER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from pipeline.synth.store import Store
    with Store.open(Path(sys.argv[1]) / "state.sqlite", lock=False) as store:
        print(store.version)
    """
)


def test_concurrent_first_opens_migrate_once(tmp_path: Path) -> None:
    """`plan` and `status` open a store without the build lock; racing them on a fresh output
    directory used to fail with "duplicate column name"."""
    for round_ in range(3):
        folder = tmp_path / f"r{round_}"
        folder.mkdir()
        procs = [subprocess.Popen([sys.executable, "-c", _OPENER, str(folder)], cwd=REPO, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(6)]
        results = [p.communicate(timeout=60) for p in procs]
        assert all(p.returncode == 0 for p in procs), [err for _, err in results]
        assert {out.strip() for out, _ in results} == {str(len(MIGRATIONS))}
