"""The emulated Audio Cleaner service: routes, faults, task processing.

State lives in one event loop (no locks); audio is rendered in a thread pool so the
server keeps answering while eSpeak and ffmpeg work. Fault decisions are keyed by
what is asked (see faults.py), so runs with one seed are reproducible.

Where faults strike (NAME@create, @get or @download narrows one to that call):
- http_500/502/503: API calls only, before anything happens (no task is created);
- drop, malformed_json, huge_reply, echo_key: after the call took effect (a create
  may leave an orphan task the client never heard of, as a real lost response would);
- slow: any response, delayed by slow_seconds; trickle: any body, one byte per
  trickle_seconds;
- stuck: the created task is never processed and stays "waiting" for ever;
- drop on a download closes the connection halfway through the body;
- truncated_download sends half the file under a matching Content-Length;
- non_audio_download answers 200 with an HTML error page;
- redirect answers a download with 302 to redirect_url.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import secrets
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pipeline.emulator.audio import render_mp3
from pipeline.emulator.config import EmulatorConfig, parse_fault_rates
from pipeline.emulator.faults import FaultPlan
from pipeline.emulator.hostile import echo_key, huge_body
from pipeline.emulator.http import Drop, Request, Response, start_server
from pipeline.emulator.state import Account, EmulatorState, Reply, Task, content_hash
from pipeline.errors import UserError
from pipeline.synth.clock import Clock, SystemClock

log = logging.getLogger(__name__)

CREATE_PATH = "/audio/api/v1/api-keys/tts/task/create"
GET_PATH = "/audio/api/v1/api-keys/tts/task/get"
FILES_PREFIX = "/_emulator/files/"
DIRECT_PREFIX = "/_emulator/direct/"  # the same files, never redirected (a redirect_url target)
_HTML_ERROR = (b"<!DOCTYPE html><html><head><title>Error</title></head>"
               b"<body><h1>Service temporarily unavailable</h1></body></html>")
_FAULT_PAGES = {500: b"<html><body><h1>500 Internal Server Error</h1></body></html>",
                502: b"<html><head><title>502 Bad Gateway</title></head><body><center>nginx</center></body></html>",
                503: b"Service Unavailable"}


def public_host(host: str) -> str:
    """The host to put in URLs: a wildcard bind is reached through loopback."""
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


class EmulatorApp:
    """Request handling and task processing for one running emulator.

    Every delay, task duration, rate window and URL expiry runs on `clock`, so a test
    can hold time still and step it (pipeline.synth.clock.SteppedClock)."""

    def __init__(self, config: EmulatorConfig, files_dir: Path, clock: Clock | None = None) -> None:
        self.config = config
        self.faults = FaultPlan(config.seed, config.faults)
        self.state = EmulatorState(config, self.faults)
        self.files_dir = files_dir
        self.base_url = ""
        self.clock: Clock = clock or SystemClock()
        self._slots = asyncio.Semaphore(config.workers)
        self._pool = ThreadPoolExecutor(max(1, config.audio_threads), thread_name_prefix="emulator-audio")
        self._jobs: set[asyncio.Task[None]] = set()
        self.state.reset(self.clock.monotonic())

    async def handle(self, req: Request) -> Response:
        path = req.path
        if path in (CREATE_PATH, GET_PATH):
            if req.method != "POST":
                return Response.text("method not allowed", 405)
            return await self._api(req, "create" if path == CREATE_PATH else "get")
        for prefix in (FILES_PREFIX, DIRECT_PREFIX):
            if path.startswith(prefix) and req.method == "GET":
                return self._file(path[len(prefix):], redirectable=prefix == FILES_PREFIX)
        if path == "/_emulator/faults" and req.method in ("GET", "POST"):
            return self._faults(req)
        if path == "/_emulator/stats" and req.method == "GET":
            return Response.json(self.stats())
        if path == "/_emulator/timeline" and req.method == "GET":
            return Response.json(self.state.timeline())
        if path == "/_emulator/reset" and req.method == "POST":
            self.reset()
            return Response.json({"ok": True})
        if path == "/_emulator/topup" and req.method == "POST":
            return self._topup(req.json())
        return Response.json({"detail": "Not Found"}, 404)

    # --- API calls ---------------------------------------------------------------------

    def _identity(self, kind: str, body: Any) -> tuple[str, str]:
        """(task identity, request identity) used for fault decisions."""
        if kind == "create":
            content = content_hash(body) if isinstance(body, dict) else "bad-body"
            task_identity = f"{content}:{self.faults.attempt('create:' + content)}"
            return task_identity, "create:" + task_identity
        gid = body.get("global_id") if isinstance(body, dict) else None
        tid = self.state.identity_of(gid)
        return tid, f"get:{tid}:{self.faults.attempt('get:' + tid)}"

    async def _api(self, req: Request, kind: str) -> Response:
        self.state.requests[kind] += 1
        body = req.json()
        task_identity, identity = self._identity(kind, body)
        for status in (500, 502, 503):
            if self.faults.fires(f"http_{status}", identity, kind):
                return Response(status, _FAULT_PAGES[status], "text/html")
        key = req.headers.get("api-key", "")
        account = self.state.authenticate(key)
        if isinstance(account, Reply):
            return self._after(account, identity, kind, key)
        account.inflight += 1
        try:
            now = self.clock.monotonic()
            reply = self.state.throttle(account, now) or self._call(kind, account, body, task_identity)
            resp = self._after(reply, identity, kind, key)
            if resp.delay:  # a slow answer stays "in flight" for the concurrency limit
                await self.clock.sleep(resp.delay)
                resp.delay = 0.0
            return resp
        finally:
            account.inflight -= 1

    def _call(self, kind: str, account: Account, body: Any, task_identity: str) -> Reply:
        now = self.clock.monotonic()
        if kind == "get":
            gid = body.get("global_id") if isinstance(body, dict) else None
            return self.state.get(account, gid, self.base_url, now)
        reply, task = self.state.create(account, body, task_identity, now)
        if task is not None and not task.stuck:
            job = asyncio.get_running_loop().create_task(self._process(task))
            self._jobs.add(job)
            job.add_done_callback(self._jobs.discard)
        return reply

    def _after(self, reply: Reply, identity: str, kind: str, key: str) -> Response:
        """The reply as HTTP, with the post-processing faults applied."""
        fires = self.faults.fires
        doc = reply.envelope()
        if fires("echo_key", identity, kind):
            doc = echo_key(doc, kind, key)
        resp = Response.json(doc)
        if fires("huge_reply", identity, kind):
            resp.stream = huge_body(doc, self.config.huge_reply_bytes)
        elif fires("malformed_json", identity, kind):
            resp.body = resp.body[: max(1, len(resp.body) // 2)]
        self._transport_faults(resp, identity, kind)
        return resp

    def _transport_faults(self, resp: Response, identity: str, scope: str) -> None:
        """drop, slow and trickle: how (or whether) a response travels."""
        if self.faults.fires("drop", identity, scope):
            kind_of_drop: Drop = "before" if self.faults.draw("drop-kind", identity) < 0.5 else "mid"
            resp.drop = "mid" if scope == "download" else kind_of_drop
        if self.faults.fires("slow", identity, scope):
            resp.delay = self.config.slow_seconds
        if self.faults.fires("trickle", identity, scope):
            resp.trickle = self.config.trickle_seconds

    # --- processing ------------------------------------------------------------------------

    def _duration(self, task: Task) -> float:
        low, high = self.config.task_time
        return self.faults.rng("task_time", task.identity).uniform(low, high) + self.config.per_char * len(task.text)

    async def _process(self, task: Task) -> None:
        """Queue for a worker slot, "work" for the drawn time, publish the file."""
        async with self._slots:
            self.state.started(task, self.clock.monotonic())
            loop = asyncio.get_running_loop()
            audio = None
            if not task.will_fail:
                audio = loop.run_in_executor(self._pool, render_mp3, task.text, task.voice, self.config.audio)
            await self.clock.sleep(self._duration(task))
            token = None
            if audio is not None:
                try:
                    data = await audio
                except Exception as exc:  # noqa: BLE001 - a task that cannot render fails, as on the vendor
                    log.warning("emulator could not render a task: %s", exc)
                else:
                    token = secrets.token_hex(16)
                    (self.files_dir / f"{token}.mp3").write_bytes(data)
            self.state.finished(task, token, self.clock.monotonic())

    # --- files and control -------------------------------------------------------------------

    def _file(self, name: str, redirectable: bool = True) -> Response:
        self.state.requests["download"] += 1
        self.state.counters["downloads"] += 1
        token = name.removesuffix(".mp3")
        task = self.state.files.get(token)
        path = self.files_dir / f"{token}.mp3"
        if task is None or not token.isalnum() or not path.is_file():
            return Response.text("<html><body>404 Not Found</body></html>", 404, "text/html")
        if task.url_expires_at is not None and self.clock.monotonic() >= task.url_expires_at:
            return Response.text("<html><body>410 Gone: this link has expired</body></html>", 410, "text/html")
        identity = f"dl:{task.identity}:{self.faults.attempt('dl:' + task.identity)}"
        if redirectable and self.faults.fires("redirect", identity, "download"):
            target = self.config.redirect_url.format(base=self.base_url, token=token, key=task.key)
            return Response(302, b"", "text/plain", headers={"Location": target})
        if self.faults.fires("non_audio_download", identity, "download"):
            return Response(200, _HTML_ERROR, "text/html")
        resp = Response(200, path.read_bytes(), "audio/mpeg")
        if self.faults.fires("truncated_download", identity, "download"):
            resp.send_bytes = len(resp.body) // 2
        self._transport_faults(resp, identity, "download")
        return resp

    def set_faults(self, rates: object) -> dict[str, float]:
        """Replace the active fault rates (checked first: UserError leaves them as they were)."""
        checked = parse_fault_rates(rates)
        self.faults.set_rates(checked)
        return dict(self.faults.rates)

    def _faults(self, req: Request) -> Response:
        if req.method == "GET":
            return Response.json(dict(self.faults.rates))
        try:
            return Response.json(self.set_faults(req.json()))
        except UserError as exc:
            return Response.json({"error": exc.message}, 400)

    def _topup(self, body: Any) -> Response:
        if not isinstance(body, dict) or not isinstance(body.get("credits"), int):
            return Response.json({"error": 'expected {"key": KEY, "credits": N}'}, 400)
        balance = self.state.topup(str(body.get("key", "")), body["credits"])
        if balance is None:
            return Response.json({"error": "unknown key"}, 404)
        return Response.json({"key": body["key"], "balance": balance})

    def stats(self) -> dict[str, Any]:
        return {"url": self.base_url, **self.state.stats()}

    def reset(self) -> None:
        """Forget every task, file and counter; restore the configured balances."""
        for job in list(self._jobs):
            job.cancel()
        for path in self.files_dir.glob("*.mp3"):
            path.unlink(missing_ok=True)
        self.state.reset(self.clock.monotonic())

    def close(self) -> None:
        for job in list(self._jobs):
            job.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)


async def serve(config: EmulatorConfig, stop: asyncio.Event, on_ready: Any = None, clock: Clock | None = None) -> None:
    """Run until `stop` is set; `on_ready(app)` is called once the port is bound."""
    with tempfile.TemporaryDirectory(prefix="audiobook-emulator-") as tmp:
        app = EmulatorApp(config, Path(tmp), clock)
        try:
            server = await start_server(app.handle, config.host, config.port, app.clock.sleep)
        except OSError as exc:
            app.close()
            raise _bind_error(config, exc) from None
        port = server.sockets[0].getsockname()[1]
        app.base_url = f"http://{public_host(config.host)}:{port}"
        log.info("emulator listening on %s", app.base_url)
        if on_ready is not None:
            on_ready(app)
        try:
            await stop.wait()
        finally:
            server.close()
            app.close()


def _bind_error(config: EmulatorConfig, exc: OSError) -> UserError:
    """One line for the usual reasons a port cannot be had."""
    if exc.errno == errno.EADDRINUSE:
        return UserError(f"port {config.port} on {config.host} is already in use")
    reason = exc.strerror or type(exc).__name__
    return UserError(f"cannot listen on {config.host} port {config.port}: {reason}")
