"""Where the API key comes from, and a wrapper that keeps it out of reprs and logs.

The key is a user secret: it may travel only in the `api-key` request header. Every
other place a value can surface (repr, str, f-strings in messages, vars() dumps of a
client) sees the `Secret` wrapper, which prints as `***`.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from pipeline.errors import UserError

log = logging.getLogger(__name__)

ENV_KEY = "AUDIOCLEANER_API_KEY"
ENV_URL = "AUDIOCLEANER_API_URL"
DEFAULT_URL = "https://audiocleaner.ai/"


class Secret:
    """A string that never shows itself; call `reveal()` at the one place it is sent.

    `scrub` and `found_in` see the key however a service echoes it: raw, or with any
    of its characters percent-encoded (either hex case, `+` for a space), because a
    reply may quote the key inside a URL it built.
    """

    __slots__ = ("_value", "_pattern")

    def __init__(self, value: str) -> None:
        self._value = value
        self._pattern = _echo_pattern(value) if value else None

    def reveal(self) -> str:
        return self._value

    def scrub(self, text: str) -> str:
        """`text` with every occurrence of the secret replaced (for echoed messages)."""
        return self._pattern.sub("***", text) if self._pattern is not None else text

    def found_in(self, text: str) -> bool:
        """Whether `text` carries the secret in any form `scrub` would replace."""
        return self._pattern is not None and self._pattern.search(text) is not None

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:  # never pickle the value by accident
        raise TypeError("Secret values cannot be pickled")


def _echo_pattern(value: str) -> re.Pattern[str]:
    """A regex for `value` where each character may also appear percent-encoded."""
    parts = []
    for char in value:
        encoded = "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))
        forms = [re.escape(char), f"(?i:{re.escape(encoded)})"]
        if char == " ":
            forms.append(r"\+")
        parts.append("(?:" + "|".join(forms) + ")")
    return re.compile("".join(parts))


def resolve_api_key(env: Mapping[str, str], key_file: Path | None) -> str | None:
    """The key from `key_file` (explicit beats ambient) or AUDIOCLEANER_API_KEY; else None.

    An unreadable or empty file is a UserError naming the file, never its content.
    """
    if key_file is not None:
        try:
            text = Path(key_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise UserError(f"Cannot read the API key file {key_file}: {reason}") from None
        key = text.strip()
        if not key:
            raise UserError(f"The API key file {key_file} is empty")
        return key
    key = env.get(ENV_KEY, "").strip()
    return key or None


def is_loopback_host(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1 (brackets allowed)."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_base_url(env: Mapping[str, str], override: str | None) -> str:
    """--api-url beats AUDIOCLEANER_API_URL beats the vendor's host.

    Plain http is accepted only to loopback (the emulator): elsewhere it would send
    the key in clear text.
    """
    url = (override or "").strip() or env.get(ENV_URL, "").strip() or DEFAULT_URL
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"The API URL {url!r} is not an http(s) URL")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise UserError(
            f"Refusing plain http to {parts.hostname}: the API key would travel unencrypted",
            tip="Use an https:// URL (plain http is only allowed to 127.0.0.1 / localhost).",
        )
    return url
