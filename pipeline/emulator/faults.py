"""Seeded, order-independent fault decisions.

A fault fires when hash(seed, fault name, identity) falls under its rate. A rate may
be scoped (`slow@create`): where a scoped rate exists for the call at hand it wins
over the unscoped one, so `{"slow": 1, "slow@get": 0}` slows everything but gets. The identity
names *what* is being asked (a text's content hash plus how many times that text was
asked for, a job plus its query number), never *when* it was asked in the global
stream, so concurrent clients see the same faults on every run with the same seed.
"""

from __future__ import annotations

import collections
import hashlib
import random


class FaultPlan:
    """Decides and counts faults; `attempt` numbers repeated asks of one identity."""

    def __init__(self, seed: int, rates: dict[str, float]) -> None:
        self.seed = seed
        self.rates = dict(rates)
        self.fired: collections.Counter[str] = collections.Counter()
        self._attempts: collections.Counter[str] = collections.Counter()

    def reset(self) -> None:
        self.fired.clear()
        self._attempts.clear()

    def set_rates(self, rates: dict[str, float]) -> None:
        self.rates = dict(rates)

    def attempt(self, identity: str) -> int:
        """0 for the first ask of `identity`, then 1, 2, ..."""
        n = self._attempts[identity]
        self._attempts[identity] = n + 1
        return n

    def draw(self, name: str, identity: str) -> float:
        """A uniform number in [0, 1) fixed by (seed, name, identity)."""
        digest = hashlib.sha256(f"{self.seed}\x00{name}\x00{identity}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2.0**64

    def rate(self, name: str, scope: str | None = None) -> float:
        """The rate of `name` for a call of kind `scope` (create, get, download)."""
        if scope is not None:
            scoped = self.rates.get(f"{name}@{scope}")
            if scoped is not None:
                return scoped
        return self.rates.get(name, 0.0)

    def fires(self, name: str, identity: str, scope: str | None = None) -> bool:
        """Whether fault `name` hits `identity`; counted in `fired` (by name) when it does."""
        rate = self.rate(name, scope)
        if rate <= 0.0 or self.draw(name, identity) >= rate:
            return False
        self.fired[name] += 1
        return True

    def rng(self, purpose: str, identity: str) -> random.Random:
        """A private random stream for anything else keyed by identity (task times)."""
        return random.Random(self.draw(purpose, identity))
