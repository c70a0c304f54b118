"""Replies of a hostile or broken service, for the faults that test a client's defences.

Kept apart from server.py so the routes stay about the vendor's behaviour and these
stay about misbehaviour: an envelope padded to hundreds of megabytes (generated as
it is sent, never built), and replies that echo the caller's API key back.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

PIECE = 64 * 1024


async def huge_body(envelope: dict[str, Any], size: int) -> AsyncIterator[bytes]:
    """`envelope` as well-formed JSON padded with a "padding" string to `size` bytes.

    Yields 64 KiB pieces of one shared buffer, so the emulator holds ~64 KiB whatever
    `size` is; the caller's socket back-pressure paces the generation.
    """
    head = json.dumps(envelope, ensure_ascii=False).encode("utf-8")
    prefix = head[:-1] + (b', "padding": "' if len(envelope) else b'"padding": "')
    suffix = b'"}'
    pad = max(0, size - len(prefix) - len(suffix))
    filler = b"x" * PIECE
    yield prefix
    for _ in range(pad // PIECE):
        yield filler
    yield filler[: pad % PIECE] + suffix


def echo_key(envelope: dict[str, Any], kind: str, key: str) -> dict[str, Any]:
    """The envelope with the request's key echoed: in the message always, and on
    success in create's data.job_id or as get's data.status."""
    doc = dict(envelope)
    doc["message"] = f"{doc.get('message') or ''} (api-key: {key})"
    data = doc.get("data")
    if isinstance(data, dict):
        data = dict(data)
        if kind == "create" and "job_id" in data:
            data["job_id"] = f"{data['job_id']}{key}"
        elif kind == "get" and "status" in data:
            data["status"] = key
        doc["data"] = data
    return doc
