"""Credit-optimal segmentation of a chapter into requests.

The vendor bills ceil(len/100) credits per request, so where the text is cut decides
the bill. `segment_chapter` runs an exact dynamic programme over candidate cut points
(sentence ends and stronger, verse lines, clause marks; word/character boundaries only
where needed) minimising, lexicographically: credits, then weighted weak cuts, then
the number of segments. `candidate_cuts` says where cuts may fall, `solve_cuts`
is the DP.

Cache-aware re-planning: finished clips are keyed by their text, so a segment whose
exact text was already synthesized (`reusable`) costs nothing again. Such segments
become zero-credit edges of the same DP (`reuse_edges`): editing one paragraph then
re-pays only the segments around the edit instead of re-cutting the whole chapter.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import Literal

from pipeline.models import Boundary, Segment, Sentence, joiner_for
from pipeline.text.cuts import CutTable, candidate_cuts

__all__ = [
    "WEAK_WEIGHT",
    "CutTable",
    "candidate_cuts",
    "credits_for",
    "join_segments",
    "paid_credits",
    "plan_cost",
    "reuse_edges",
    "segment_chapter",
    "solve_cuts",
]

# Secondary cost of a cut by kind (cuts at SENTENCE or stronger cost nothing).
WEAK_WEIGHT: dict[Boundary, int] = {
    Boundary.CHAR: 12,
    Boundary.WORD: 6,
    Boundary.CLAUSE: 2,
    Boundary.LINE: 1,
}
# Lexicographic (credits, weak, segments) packed in one int: fast to compare.
_CREDIT = 1 << 48
_WEAK = 1 << 22
_INF = 1 << 100


def credits_for(n_chars: int, billing_unit: int = 100) -> int:
    """Credits the vendor bills for a text of `n_chars` code points (0 for none)."""
    return -(-n_chars // billing_unit) if n_chars > 0 else 0


def segment_chapter(
    sentences: Sequence[Sentence],
    chapter: int,
    language: str,
    max_chars: int = 500,
    billing_unit: int = 100,
    cuts: Literal["clause", "word"] = "clause",
    *,
    reusable: Collection[str] = frozenset(),
    separate: Collection[Boundary] = frozenset(),
) -> tuple[Segment, ...]:
    """The chapter's segments at the fewest credits, with a cut forced after every
    sentence whose boundary is in `separate` (a heading: its own request, so the pause
    after it is real); the optimum is then taken within each run between forced cuts.
    """
    runs = _runs(sentences, separate)
    if len(runs) <= 1:
        return _segment_run(sentences, chapter, language, max_chars, billing_unit, cuts, reusable)
    out: list[Segment] = []
    for run in runs:
        segs = _segment_run(run, chapter, language, max_chars, billing_unit, cuts, reusable)
        base, last = len(out), len(segs) - 1
        out.extend(replace(seg, index=base + k, boundary_after=run[-1].boundary_after if k == last
                           else seg.boundary_after) for k, seg in enumerate(segs))
    result = tuple(out)
    _check(result, joiner_for(language).join(s.text for s in sentences), language, max_chars)
    return result


def _runs(sentences: Sequence[Sentence], separate: Collection[Boundary]) -> list[Sequence[Sentence]]:
    """The sentences split after each one whose boundary is in `separate`, unless the next
    one ends the same way (headings in a row, "Book I. Part I: 1805. Chapter I.", are one
    request: the pause after the last is the one a listener waits for)."""
    runs: list[Sequence[Sentence]] = []
    start = 0
    for i, s in enumerate(sentences):
        if s.boundary_after in separate and i < len(sentences) - 1 and sentences[i + 1].boundary_after not in separate:
            runs.append(sentences[start : i + 1])
            start = i + 1
    if start < len(sentences):
        runs.append(sentences[start:])
    return runs


def _segment_run(
    sentences: Sequence[Sentence], chapter: int, language: str, max_chars: int, billing_unit: int,
    cuts: Literal["clause", "word"], reusable: Collection[str],
) -> tuple[Segment, ...]:
    """The run's segments at the fewest credits (then fewest weak cuts, segments).

    A segment whose exact text is in `reusable` (clips already synthesized with the
    same voice) costs 0 credits: the objective is then (new credits, weak cuts,
    segments), over the same candidate cuts and limits. Joining the segments with the
    language's joiner (but "" after a CHAR cut, which only happens inside a run with
    no other cut longer than `max_chars`) gives the sentences' joined text back exactly.
    """
    if max_chars < 1 or billing_unit < 1:
        raise ValueError("max_chars and billing_unit must be positive")
    if not sentences:
        return ()
    joiner = joiner_for(language)
    text = joiner.join(s.text for s in sentences)
    table = candidate_cuts(sentences, language, max_chars, cuts, billing_unit)
    free = reuse_edges(table, text, reusable, max_chars) if reusable else None
    path = solve_cuts(table, max_chars, billing_unit, free)
    segments: list[Segment] = []
    start = 0
    for i in path:
        segments.append(Segment(chapter, len(segments), text[start : table.ends[i]], table.kinds[i]))
        start = table.starts[i]
    result = tuple(segments)
    _check(result, text, language, max_chars)
    return result


def join_segments(segments: Sequence[Segment], language: str) -> str:
    """The chapter text back from its segments (the inverse of segment_chapter)."""
    joiner = joiner_for(language)
    parts: list[str] = []
    for seg in segments:
        parts.append(seg.text)
        if seg.boundary_after != Boundary.CHAPTER:
            parts.append("" if seg.boundary_after == Boundary.CHAR else joiner)
    return "".join(parts)


def _check(segments: tuple[Segment, ...], text: str, language: str, max_chars: int) -> None:
    assert join_segments(segments, language) == text, "segmentation lost or added text"
    for seg in segments:
        assert 0 < len(seg.text) <= max_chars, f"segment of {len(seg.text)} chars"
        assert seg.text[0].isspace() is False and seg.text[-1].isspace() is False, "segment edge whitespace"


def reuse_edges(
    table: CutTable, text: str, reusable: Collection[str], max_chars: int
) -> dict[int, list[int]]:
    """Zero-credit edges {b: [a, ...]}: text[starts[a]:ends[b]] is a reusable text.

    Only occurrences that start and end exactly on candidate cuts count, so a free
    segment obeys every rule a paid one does (cut kinds, max_chars, lossless join).
    """
    by_start: dict[int, list[int]] = {}
    for a in range(len(table) - 1):
        by_start.setdefault(table.starts[a], []).append(a)
    by_end: dict[int, list[int]] = {}
    for b in range(1, len(table)):
        by_end.setdefault(table.ends[b], []).append(b)
    edges: dict[int, set[int]] = {}
    for piece in reusable:
        n = len(piece)
        if not 0 < n <= max_chars:
            continue
        pos = text.find(piece)
        while pos >= 0:
            heads, tails = by_start.get(pos), by_end.get(pos + n)
            if heads and tails:
                for b in tails:
                    edges.setdefault(b, set()).update(a for a in heads if a < b)
            pos = text.find(piece, pos + 1)
    return {b: sorted(a) for b, a in edges.items() if a}


# Why a resumed build re-plans exactly like an uninterrupted one. Let S* be the
# plan without reuse and R the free edges, all of them segments of S* (the cached
# clips of that plan, each text found only where S* put it). For any path P,
# credits(P) >= credits(S*) by optimality, so
#   new(P) = credits(P) - credits(P ∩ R) >= credits(S*) - credits(R) = new(S*),
# with equality only if P is credit-optimal too and contains all of R (each edge
# costs >= 1 credit). Ties on new credits are broken by the ORIGINAL secondary terms
# (total weak cuts, then segments, reused segments included), and S* already
# minimises those among credit-optimal paths, so the optimal set with reuse is the
# old optimal set restricted to paths through R: it still contains S*. Exact ties
# are broken as before: each cut's parent is the LATEST optimal predecessor (the
# deque keeps the latest of equal costs, smaller buckets mean later starts, free
# edges compare with `a > arg`), which selects the optimal path whose cuts, read
# from the end, are lexicographically greatest; S* is that path in the old set,
# hence in any subset containing it. (A reusable text that also occurs at another
# cut-aligned place is genuinely free there too and may win: that is a real saving.)


def solve_cuts(  # noqa: C901 - the DP's inner loops stay inlined: they are the plan's hot path
    table: CutTable, max_chars: int, unit: int, free: Mapping[int, Sequence[int]] | None = None
) -> list[int]:
    """Indices of the chosen cuts (the last is the chapter end): an exact DP.

    A segment from cut a to cut b spans text[starts[a]:ends[b]]. Its credits
    ceil(len/unit) take at most K = ceil(max_chars/unit) values; for each the admissible
    starts form a window of positions that only slides forward as b advances, so a
    monotone deque per k gives the window minimum in amortized O(1): O(n·K) total,
    exact for the packed (credits, weak, segments) cost. `free` adds zero-credit edges
    a→b (see `reuse_edges`); they only lower cost[b], computed before any deque reads
    it, so the windows stay exact.
    """
    m = len(table)
    starts, ends = table.starts, table.ends
    weights = {k: WEAK_WEIGHT.get(k, 0) * _WEAK + 1 for k in Boundary}
    pen = [weights[k] for k in table.kinds]
    cost, parent = [_INF] * m, [-1] * m
    cost[0] = 0
    n_buckets = -(-max_chars // unit)
    windows: list[deque[int]] = [deque() for _ in range(n_buckets)]
    pushed = [0] * n_buckets
    for b in range(1, m):
        eb = ends[b]
        best, arg = _INF, -1
        floor = eb - max_chars
        for k in range(n_buckets):
            # bucket k: starts in [lo, hi] give lengths in (k·unit, (k+1)·unit]: k+1 credits
            hi = eb - k * unit - 1
            lo = eb - (k + 1) * unit
            if lo < floor:
                lo = floor
            dq = windows[k]
            p = pushed[k]
            while starts[p] <= hi:
                if starts[p] >= lo:
                    c = cost[p]
                    while dq and cost[dq[-1]] >= c:
                        dq.pop()
                    dq.append(p)
                p += 1
            pushed[k] = p
            while dq and starts[dq[0]] < lo:
                dq.popleft()
            if dq:
                a = dq[0]
                v = cost[a] + (k + 1) * _CREDIT
                if v < best:
                    best = v
                    arg = a
        if free:
            for a in free.get(b, ()):
                v = cost[a]
                if v < _INF and (v < best or (v == best and a > arg)):
                    best = v
                    arg = a
        if arg >= 0:
            cost[b] = best + pen[b]
            parent[b] = arg
    return _backtrack(parent)


def _backtrack(parent: list[int]) -> list[int]:
    """The chosen cut indices, first to last, from the DP's parent links."""
    b = len(parent) - 1
    if b > 0 and parent[b] < 0:
        raise AssertionError("no feasible segmentation (candidate cuts leave a gap)")
    path: list[int] = []
    while b > 0:
        path.append(b)
        b = parent[b]
    path.reverse()
    return path


def plan_cost(
    table: CutTable, path: Sequence[int], unit: int, free: Mapping[int, Sequence[int]] | None = None
) -> tuple[int, int, int]:
    """(new credits, weighted weak cuts, segments) of a path: for tests and reports."""
    credits = weak = 0
    start = prev = 0
    for i in path:
        if not (free and prev in free.get(i, ())):
            credits += credits_for(table.ends[i] - start, unit)
        prev = i
        weak += WEAK_WEIGHT.get(table.kinds[i], 0)
        start = table.starts[i]
    return credits, weak, len(path)


def paid_credits(segments: Sequence[Segment], reusable: Collection[str], billing_unit: int = 100) -> int:
    """Credits still to pay for `segments` when the texts in `reusable` are cached."""
    return sum(credits_for(len(s.text), billing_unit) for s in segments if s.text not in reusable)
