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

Scope = Literal["create", "get", "download"]
SCOPES: tuple[Scope, ...] = ("create", "get", "download")
_API: frozenset[Scope] = frozenset({"create", "get"})
_ALL: frozenset[Scope] = frozenset(SCOPES)
# Each fault and the calls it can strike; NAME@SCOPE narrows a fault to one of them.
FAULT_SCOPES: dict[str, frozenset[Scope]] = {
    "task_failed": frozenset({"create"}), "http_500": _API, "http_502": _API, "http_503": _API,
    "drop": _ALL, "slow": _ALL, "malformed_json": _API, "job_expire": frozenset({"create"}),
    "url_expire": frozenset({"download"}), "truncated_download": frozenset({"download"}),
    "non_audio_download": frozenset({"download"}), "stuck": frozenset({"create"}), "trickle": _ALL,
    "huge_reply": _API, "echo_key": _API, "redirect": frozenset({"download"}),
}
FAULTS: tuple[str, ...] = tuple(FAULT_SCOPES)
TEMPLATE_FIELDS = ("base", "token", "key")
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
    trickle_seconds: float = 2.0  # pause between body bytes under the 'trickle' fault
    huge_reply_bytes: int = 300_000_000  # size of a 'huge_reply' envelope (streamed, never built)
    redirect_url: str = "http://127.0.0.1:9/x.mp3"  # where 'redirect' sends a download
    output_url: str = "{base}/_emulator/files/{token}.mp3"  # result URLs; {base} {token} {key}

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


def check_fault_name(name: str) -> str:
    """NAME or NAME@SCOPE, if the fault exists and can strike that scope; else UserError."""
    base, sep, scope = name.strip().partition("@")
    if base not in FAULT_SCOPES:
        raise UserError(f"unknown fault {base!r}; known: {', '.join(FAULTS)}")
    if sep and scope not in FAULT_SCOPES[base]:
        where = ", ".join(f"@{s}" for s in SCOPES if s in FAULT_SCOPES[base])
        raise UserError(f"fault {base!r} cannot be scoped to {'@' + scope!r}; it applies to {where}")
    return name.strip()


def _rate(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise UserError(f"fault {name!r}: the rate must be a number in 0..1")
    try:
        rate = float(value)
    except ValueError:
        raise UserError(f"fault {name!r}: the rate must be a number in 0..1") from None
    if not 0.0 <= rate <= 1.0:  # also refuses nan
        raise UserError(f"fault {name!r}: the rate must be in 0..1")
    return rate


def parse_fault(spec: str) -> tuple[str, float]:
    """NAME=RATE or NAME@SCOPE=RATE with RATE in 0..1 (no RATE means 1)."""
    name, sep, rate_text = spec.partition("=")
    try:
        return check_fault_name(name), _rate(rate_text, name) if sep else 1.0
    except UserError as exc:
        raise UserError(f"--fault {spec!r}: {exc.message}") from None


def parse_fault_rates(rates: object) -> dict[str, float]:
    """A mapping NAME[@SCOPE] -> rate (YAML, JSON, Python), checked; else UserError."""
    if not isinstance(rates, dict):
        raise UserError("faults must be an object of NAME[@SCOPE]: RATE")
    return {check_fault_name(str(name)): _rate(rate, str(name)) for name, rate in rates.items()}


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
            out["faults"] = parse_fault_rates(faults)
        else:
            out["faults"] = dict(parse_fault(str(f)) for f in faults)
    if "task_time" in out:
        out["task_time"] = parse_range(out["task_time"])
    return out


def check_template(option: str, template: str) -> None:
    """A URL template may use only {base}, {token} and {key}."""
    try:
        template.format(**{name: name for name in TEMPLATE_FIELDS})
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        fields = ", ".join("{" + name + "}" for name in TEMPLATE_FIELDS)
        raise UserError(f"{option} {template!r}: only the placeholders {fields} are allowed ({exc!s})") from None


def build_config(base: EmulatorConfig | None = None, **overrides: Any) -> EmulatorConfig:
    """A config from `base` (or defaults) with typed-or-loose overrides applied."""
    config = dataclasses.replace(base or EmulatorConfig(), **normalize(overrides))
    parse_fault_rates(config.faults)
    for option in ("output_url", "redirect_url"):
        check_template(option, getattr(config, option))
    if config.trickle_seconds < 0 or config.huge_reply_bytes < 0:
        raise UserError("trickle_seconds and huge_reply_bytes must not be negative")
    if config.charge_on not in ("create", "success"):
        raise UserError(f"charge_on must be create or success, not {config.charge_on!r}")
    if config.audio not in ("speech", "tone"):
        raise UserError(f"audio must be speech or tone, not {config.audio!r}")
    if config.workers < 1 or not config.keys:
        raise UserError("the emulator needs at least one worker and one key")
    return config
