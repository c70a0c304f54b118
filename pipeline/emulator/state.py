"""The emulator's bookkeeping: keys, balances, limits, tasks and statistics.

Pure logic with the clock passed in, so the HTTP layer (server.py) stays about
transport and faults. Every vendor answer is a `Reply(code, data, message)` with the
contract's exact messages.

Credit rules (the vendor is vague; these are ours, documented in --help):
- cost = ceil(len(text) / 100) code points per task;
- charge_on="create": paid at create (no refund when the task fails);
- charge_on="success": paid when processing ends; a task whose cost the balance
  cannot cover then stays "waiting" and every get answers 100100 until a top-up;
- get also answers 100100 for any unfinished task while the balance is <= 0.
"""

from __future__ import annotations

import collections
import hashlib
import json
import math
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from pipeline.emulator.config import EmulatorConfig, KeySpec
from pipeline.emulator.faults import FaultPlan
from pipeline.models import VENDOR_LANGUAGES, Voice

OK = 100000
MESSAGES: dict[int, str] = {
    100000: "Request Success",
    100100: "Insufficient credit balance",
    101002: "Invalid API key",
    101003: "API key rate limit exceeded",
    101004: "API key concurrent request limit exceeded",
    101005: "Your account is suspended. Status cannot be modified. Please contact the administrator",
    101006: "API key not enabled",
    101008: "Task not found",
}
# Not documented by the vendor: our choices for a bad body and an over-long text.
PARAM_ERROR = 100001
TEXT_TOO_LONG = 100002

Phase = Literal["queued", "processing", "unpaid", "success", "failed", "expired"]
OPEN_PHASES: frozenset[Phase] = frozenset({"queued", "processing", "unpaid"})


@dataclass(frozen=True)
class Reply:
    code: int
    data: dict[str, Any] | None = None
    message: str = ""

    def envelope(self) -> dict[str, Any]:
        return {"code": self.code, "data": self.data, "message": self.message or MESSAGES.get(self.code, "")}


def err(code: int, message: str | None = None) -> Reply:
    return Reply(code, None, message or MESSAGES[code])


def credits_for(text: str) -> int:
    return max(1, math.ceil(len(text) / 100))


@dataclass
class Account:
    spec: KeySpec
    balance: int
    tokens: float
    refilled_at: float
    inflight: int = 0
    seen: set[str] = field(default_factory=set)


@dataclass
class Task:
    job_id: str
    key: str
    identity: str  # content hash + attempt number: what fault decisions key on
    text: str
    voice: Voice
    cost: int
    created_at: float
    will_fail: bool
    expires_at: float | None = None
    phase: Phase = "queued"
    paid: bool = False
    started_at: float | None = None
    finished_at: float | None = None
    file_token: str | None = None
    url_expires_at: float | None = None
    stuck: bool = False  # never processed: stays "waiting" (and open) for ever


def content_hash(body: dict[str, Any]) -> str:
    fields = {k: body.get(k) for k in ("text", "voice_id", "emotion", "speed", "language")}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:24]


def validate_body(body: Any, max_text: int) -> tuple[Voice, str] | Reply:
    """The voice and text of a create body, or the error reply."""
    if not isinstance(body, dict):
        return err(PARAM_ERROR, "Parameter error: the body must be a JSON object")
    for name in ("voice_id", "emotion", "speed", "language", "text"):
        if name not in body:
            return err(PARAM_ERROR, f"Parameter error: {name} is required")
    voice_id, emotion, speed = body["voice_id"], body["emotion"], body["speed"]
    if not isinstance(voice_id, int) or isinstance(voice_id, bool):
        return err(PARAM_ERROR, "Parameter error: voice_id must be a number")
    if not isinstance(emotion, int) or not 0 <= emotion <= 8:
        return err(PARAM_ERROR, "Parameter error: emotion must be an id from 0 to 8")
    if not isinstance(speed, (int, float)) or isinstance(speed, bool) or not 0.25 <= speed <= 4:
        return err(PARAM_ERROR, "Parameter error: speed must be a number")
    if body["language"] not in VENDOR_LANGUAGES:
        return err(PARAM_ERROR, "Parameter error: unsupported language")
    text = body["text"]
    if not isinstance(text, str) or not text.strip():
        return err(PARAM_ERROR, "Parameter error: text must be a non-empty string")
    if max_text and len(text) > max_text:
        return err(TEXT_TOO_LONG, f"Text is too long: {len(text)} characters, the limit is {max_text}")
    return Voice(voice_id, emotion, float(speed), body["language"]), text


class EmulatorState:
    """All mutable emulator state; callers hold no lock (one event loop owns it)."""

    def __init__(self, config: EmulatorConfig, faults: FaultPlan) -> None:
        self.config = config
        self.faults = faults
        self.reset(0.0)

    def reset(self, now: float) -> None:
        size = self.config.bucket_size
        self.accounts = {s.key: Account(s, s.credits, size, now) for s in self.config.keys}
        self.tasks: dict[str, Task] = {}
        self.files: dict[str, Task] = {}
        self.counters: collections.Counter[str] = collections.Counter()
        self.requests: collections.Counter[str] = collections.Counter()
        self.task_seconds = 0.0
        self.refused_at: list[float] = []  # creates answered 101004 for open tasks
        self.faults.reset()

    # --- guards shared by create and get --------------------------------------------

    def authenticate(self, key: str | None) -> Account | Reply:
        account = self.accounts.get(key or "")
        if account is None:
            return err(101002)
        if account.spec.state == "disabled":
            return err(101005)
        if account.spec.state == "not-enabled":
            return err(101006)
        return account

    def throttle(self, account: Account, now: float) -> Reply | None:
        """Token bucket over create+get together, then the in-flight request limit."""
        rate = self.config.rate_limit
        if rate > 0:
            size = self.config.bucket_size
            account.tokens = min(size, account.tokens + (now - account.refilled_at) * rate)
            account.refilled_at = now
            if account.tokens < 1.0:
                self.counters["rate_limited"] += 1
                return err(101003)
            account.tokens -= 1.0
        if self.config.max_inflight and account.inflight > self.config.max_inflight:
            self.counters["concurrency_limited"] += 1
            return err(101004)
        return None

    def open_tasks(self, key: str) -> int:
        return sum(1 for t in self.tasks.values() if t.key == key and t.phase in OPEN_PHASES)

    # --- the two API calls -----------------------------------------------------------

    def create(self, account: Account, body: Any, identity: str, now: float) -> tuple[Reply, Task | None]:
        checked = validate_body(body, self.config.max_text)
        if isinstance(checked, Reply):
            return checked, None
        voice, text = checked
        cost = credits_for(text)
        if account.balance < cost:
            return err(100100), None
        if self.config.max_open and self.open_tasks(account.spec.key) >= self.config.max_open:
            self.counters["concurrency_limited"] += 1
            self.refused_at.append(now)
            return err(101004), None
        content = identity.rsplit(":", 1)[0]
        if content in account.seen:
            self.counters["duplicate_creates"] += 1
        account.seen.add(content)
        task = Task(uuid.uuid4().hex, account.spec.key, identity, text, voice, cost, now,
                    will_fail=self.faults.fires("task_failed", identity, "create"),
                    stuck=self.faults.fires("stuck", identity, "create"))
        if self.faults.fires("job_expire", identity, "create"):
            task.expires_at = now + self.config.job_ttl
        if self.config.charge_on == "create":
            self._charge(account, task)
        self.tasks[task.job_id] = task
        self.counters["tasks_created"] += 1
        return Reply(OK, {"job_id": task.job_id}), task

    def get(self, account: Account, global_id: Any, base_url: str, now: float) -> Reply:
        task = self.tasks.get(global_id) if isinstance(global_id, str) else None
        if task is None or task.key != account.spec.key:
            return err(101008)
        if task.expires_at is not None and now >= task.expires_at:
            task.phase = "expired"
            return err(101008)
        if task.phase == "unpaid":
            if account.balance < task.cost:
                return err(100100)
            self._charge(account, task)
            task.phase = "success"
        if task.phase in ("queued", "processing") and account.balance <= 0:
            return err(100100)
        if task.phase == "success":
            url = self.config.output_url.format(base=base_url, token=task.file_token, key=task.key)
            return Reply(OK, {"status": "success", "output": url})
        if task.phase in ("failed", "expired"):
            return Reply(OK, {"status": "failed", "output": ""})
        return Reply(OK, {"status": "waiting", "output": ""})

    def identity_of(self, global_id: Any) -> str:
        task = self.tasks.get(global_id) if isinstance(global_id, str) else None
        return task.identity if task else f"unknown:{str(global_id)[:64]}"

    # --- processing outcomes ----------------------------------------------------------

    def started(self, task: Task, now: float) -> None:
        task.phase = "processing"
        task.started_at = now

    def finished(self, task: Task, file_token: str | None, now: float) -> None:
        """Record the end of processing: failed, success (paid) or unpaid."""
        task.finished_at = now
        self.task_seconds += now - (task.started_at or now)
        if task.phase == "expired":
            return
        if task.will_fail or file_token is None:
            task.phase = "failed"
            self.counters["tasks_failed"] += 1
            return
        task.file_token = file_token
        self.files[file_token] = task
        if self.faults.fires("url_expire", task.identity, "download"):
            task.url_expires_at = now + self.config.url_ttl
        account = self.accounts[task.key]
        if task.paid or account.balance >= task.cost:
            self._charge(account, task)
            task.phase = "success"
        else:
            task.phase = "unpaid"

    def _charge(self, account: Account, task: Task) -> None:
        if task.paid:
            return
        account.balance -= task.cost
        task.paid = True
        self.counters["credits_charged"] += task.cost

    def timeline(self) -> dict[str, Any]:
        """Per task (created, started, finished) and refused creates, in emulator-clock
        seconds: for benchmarks to see where open-task slots sat idle."""
        tasks = sorted(self.tasks.values(), key=lambda t: t.created_at)
        return {"tasks": [[t.created_at, t.started_at, t.finished_at] for t in tasks],
                "refused": list(self.refused_at)}

    def topup(self, key: str, credits: int) -> int | None:
        account = self.accounts.get(key)
        if account is None:
            return None
        account.balance += credits
        return account.balance

    def stats(self) -> dict[str, Any]:
        c = self.counters
        phases = collections.Counter(t.phase for t in self.tasks.values())
        return {
            "credits_charged": c["credits_charged"],
            "tasks_created": c["tasks_created"],
            "duplicate_creates": c["duplicate_creates"],
            "requests": dict(self.requests),
            "rate_limited": c["rate_limited"],
            "concurrency_limited": c["concurrency_limited"],
            "tasks_failed": c["tasks_failed"],
            "tasks_succeeded": phases["success"],
            "tasks_open": sum(phases[p] for p in OPEN_PHASES),
            "task_seconds": round(self.task_seconds, 3),
            "downloads": c["downloads"],
            "keys": {k: {"balance": a.balance, "state": a.spec.state} for k, a in self.accounts.items()},
            "faults": dict(self.faults.fired),
            "charge_on": self.config.charge_on,
        }
