"""Emulator settings: one frozen dataclass, built from CLI flags and/or a YAML file.

The parsers here turn the CLI's string forms (KEY:CREDITS, NAME=RATE, MIN:MAX) into
typed values so the CLI module stays a thin shell and tests can build configs directly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from pipeline.errors import UserError

KeyState = Literal["active", "disabled", "not-enabled"]
ChargeOn = Literal["create", "success"]
AudioMode = Literal["speech", "tone"]

FAULTS: tuple[str, ...] = (
    "task_failed", "http_500", "http_502", "http_503", "drop", "slow", "malformed_json",
    "job_expire", "url_expire", "truncated_download", "non_audio_download",
)
DEFAULT_KEY = "test-key"
DEFAULT_CREDITS = 1_000_000


@dataclass(frozen=True)
class KeySpec:
    key: str
    credits: int = DEFAULT_CREDITS
    state: KeyState = "active"


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything the emulator's behaviour depends on. 0 means "no limit" for limits."""

    host: str = "127.0.0.1"
    port: int = 0
    keys: tuple[KeySpec, ...] = (KeySpec(DEFAULT_KEY),)
    rate_limit: float = 0.0  # requests/s per key over create+get; 0 = unlimited
    burst: float | None = None  # token bucket size; default max(1, rate_limit)
    max_open: int = 0  # waiting tasks per key; 0 = unlimited
    max_inflight: int = 0  # HTTP requests in flight per key; 0 = unlimited
    max_text: int = 5000  # longest accepted text in code points; 0 = unlimited
    task_time: tuple[float, float] = (1.0, 3.0)
    per_char: float = 0.0
    workers: int = 4
    charge_on: ChargeOn = "success"
    faults: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    slow_seconds: float = 5.0
    job_ttl: float = 0.0  # lifetime of a job picked by job_expire
    url_ttl: float = 0.0  # lifetime of an output URL picked by url_expire
    audio: AudioMode = "speech"
    audio_threads: int = 2

    @property
    def bucket_size(self) -> float:
        return self.burst if self.burst is not None else max(1.0, self.rate_limit)

    def fault_rate(self, name: str) -> float:
        return self.faults.get(name, 0.0)


def parse_key(spec: str) -> KeySpec:
    """KEY, KEY:CREDITS, KEY:disabled or KEY:not-enabled."""
    key, sep, rest = spec.strip().rpartition(":")
    if not sep:
        key, rest = rest, ""
    if not key:
        raise UserError(f"--key {spec!r}: the key is empty")
    if rest in ("", "active"):
        return KeySpec(key)
    if rest in ("disabled", "not-enabled"):
        return KeySpec(key, state=rest)  # type: ignore[arg-type]
    try:
        credits = int(rest.replace("_", ""))
    except ValueError:
        raise UserError(f"--key {spec!r}: expected KEY[:CREDITS|:disabled|:not-enabled]") from None
    return KeySpec(key, credits=credits)


def parse_fault(spec: str) -> tuple[str, float]:
    """NAME=RATE with RATE in 0..1."""
    name, sep, rate_text = spec.partition("=")
    name = name.strip()
    if name not in FAULTS:
        raise UserError(f"--fault {spec!r}: unknown fault {name!r}; known: {', '.join(FAULTS)}")
    try:
        rate = float(rate_text) if sep else 1.0
    except ValueError:
        raise UserError(f"--fault {spec!r}: the rate must be a number in 0..1") from None
    if not 0.0 <= rate <= 1.0:
        raise UserError(f"--fault {spec!r}: the rate must be in 0..1")
    return name, rate


def parse_range(spec: str | float | list[float] | tuple[float, ...]) -> tuple[float, float]:
    """MIN:MAX seconds (a single number means a fixed time)."""
    if isinstance(spec, (int, float)):
        return float(spec), float(spec)
    parts = spec.split(":") if isinstance(spec, str) else [str(p) for p in spec]
    try:
        low, high = (float(parts[0]), float(parts[-1]))
    except (ValueError, IndexError):
        raise UserError(f"--task-time {spec!r}: expected MIN:MAX seconds") from None
    if low < 0 or high < low or len(parts) > 2:
        raise UserError(f"--task-time {spec!r}: expected 0 <= MIN <= MAX")
    return low, high


def _key_from_yaml(item: Any) -> KeySpec:
    if isinstance(item, str):
        return parse_key(item)
    if isinstance(item, dict) and "key" in item:
        return KeySpec(str(item["key"]), int(item.get("credits", DEFAULT_CREDITS)), item.get("state", "active"))
    raise UserError(f"emulator config: bad key entry {item!r}")


def load_yaml(path: Path) -> dict[str, Any]:
    """Overrides from a YAML file whose keys are the CLI option names (- or _)."""
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"Cannot read emulator config {path}: {exc}") from None
    if not isinstance(doc, dict):
        raise UserError(f"emulator config {path}: expected a mapping of option: value")
    known = {f.name for f in dataclasses.fields(EmulatorConfig)}
    out: dict[str, Any] = {}
    for raw_name, value in doc.items():
        name = str(raw_name).replace("-", "_")
        if name == "key":
            name = "keys"
        if name == "fault":
            name = "faults"
        if name not in known:
            raise UserError(f"emulator config {path}: unknown option {raw_name!r}")
        out[name] = value
    return normalize(out)


def normalize(values: dict[str, Any]) -> dict[str, Any]:
    """Turn loosely typed values (YAML, CLI) into EmulatorConfig field types."""
    out = dict(values)
    if "keys" in out:
        items = out["keys"] if isinstance(out["keys"], (list, tuple)) else [out["keys"]]
        out["keys"] = tuple(k if isinstance(k, KeySpec) else _key_from_yaml(k) for k in items)
    if "faults" in out:
        faults = out["faults"]
        if isinstance(faults, dict):
            out["faults"] = dict(parse_fault(f"{k}={v}") for k, v in faults.items())
        else:
            out["faults"] = dict(parse_fault(str(f)) for f in faults)
    if "task_time" in out:
        out["task_time"] = parse_range(out["task_time"])
    return out


def build_config(base: EmulatorConfig | None = None, **overrides: Any) -> EmulatorConfig:
    """A config from `base` (or defaults) with typed-or-loose overrides applied."""
    config = dataclasses.replace(base or EmulatorConfig(), **normalize(overrides))
    unknown = set(config.faults) - set(FAULTS)
    if unknown:
        raise UserError(f"unknown fault(s): {', '.join(sorted(unknown))}")
    if config.charge_on not in ("create", "success"):
        raise UserError(f"charge_on must be create or success, not {config.charge_on!r}")
    if config.audio not in ("speech", "tone"):
        raise UserError(f"audio must be speech or tone, not {config.audio!r}")
    if config.workers < 1 or not config.keys:
        raise UserError("the emulator needs at least one worker and one key")
    return config
