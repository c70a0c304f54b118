"""`audiobook emulator`: run a local stand-in for the Audio Cleaner API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from pipeline.emulator.config import (
    DEFAULT_CREDITS,
    DEFAULT_KEY,
    FAULTS,
    EmulatorConfig,
    build_config,
    load_yaml,
)
from pipeline.emulator.runner import run_foreground
from pipeline.emulator.server import EmulatorApp

_D = EmulatorConfig()


@click.command(context_settings={"max_content_width": 100})
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML file with any of these options as keys (e.g. rate-limit: 5); flags override it.")
@click.option("--host", default=None, help=f"Interface to listen on. [default: {_D.host}]")
@click.option("--port", type=int, default=None, help="Port; 0 picks a free one. [default: 0]")
@click.option("--key", "keys", multiple=True, metavar="KEY[:CREDITS|:disabled|:not-enabled]",
              help=f"An API key the emulator accepts (repeatable). Disabled keys answer 101005, "
                   f"not-enabled ones 101006, unknown keys 101002. [default: {DEFAULT_KEY}:{DEFAULT_CREDITS}]")
@click.option("--rate-limit", type=float, default=None,
              help="Requests per second per key, create and get together (101003 beyond); 0 = unlimited. [default: 0]")
@click.option("--burst", type=float, default=None, help="Token bucket size for --rate-limit. [default: max(1, R)]")
@click.option("--max-open", type=int, default=None,
              help="Waiting tasks per key before create answers 101004; 0 = unlimited. [default: 0]")
@click.option("--max-inflight", type=int, default=None,
              help="HTTP requests in flight per key before any call answers 101004; 0 = unlimited. [default: 0]")
@click.option("--max-text", type=int, default=None,
              help=f"Longest text in characters; longer creates answer code 100002 (text too long); "
                   f"0 = unlimited. [default: {_D.max_text}]")
@click.option("--task-time", default=None, metavar="MIN:MAX",
              help="Processing seconds per task, uniform in MIN..MAX. "
                   f"[default: {_D.task_time[0]:g}:{_D.task_time[1]:g}]")
@click.option("--per-char", type=float, default=None, help="Extra processing seconds per character. [default: 0]")
@click.option("--workers", type=int, default=None,
              help=f"Tasks processed at once; more wait in a queue (still 'waiting'). [default: {_D.workers}]")
@click.option("--charge-on", type=click.Choice(["create", "success"]), default=None,
              help="When credits (ceil(chars/100) per task) are taken: at create, or when the task "
                   "succeeds (the vendor FAQ's model). [default: success]")
@click.option("--fault", "faults", multiple=True, metavar="NAME[@SCOPE]=RATE",
              help=f"Inject a fault with probability RATE in 0..1 (repeatable); @create, @get or "
                   f"@download limits it to that call (e.g. slow@create=0.5). Names: {', '.join(FAULTS)} "
                   f"(see below).")
@click.option("--seed", type=int, default=None, help="Seed for faults and task times (reproducible runs). [default: 0]")
@click.option("--slow-seconds", type=float, default=None,
              help=f"Delay added by the 'slow' fault. [default: {_D.slow_seconds:g}]")
@click.option("--job-ttl", type=float, default=None,
              help="Seconds a job picked by 'job_expire' lives before get answers 101008. [default: 0]")
@click.option("--url-ttl", type=float, default=None,
              help="Seconds an output URL picked by 'url_expire' stays downloadable (then 410). [default: 0]")
@click.option("--trickle-seconds", type=float, default=None,
              help=f"Pause between body bytes under the 'trickle' fault. [default: {_D.trickle_seconds:g}]")
@click.option("--huge-reply-bytes", type=int, default=None,
              help=f"Size of a 'huge_reply' envelope. [default: {_D.huge_reply_bytes}]")
@click.option("--redirect-url", default=None, metavar="TEMPLATE",
              help=f"Where the 'redirect' fault sends a download; {{base}} {{token}} {{key}} are filled in "
                   f"({{base}}/_emulator/direct/{{token}}.mp3 is the file, never redirected). "
                   f"[default: {_D.redirect_url}]")
@click.option("--output-url", default=None, metavar="TEMPLATE",
              help="Result URLs that get reports; {base} {token} {key} are filled in. Point it elsewhere "
                   "to play a hostile service, e.g. https://169.254.169.254/{token}.mp3. "
                   f"[default: {_D.output_url}]")
@click.option("--audio", type=click.Choice(["speech", "tone"]), default=None,
              help="Result audio: offline eSpeak speech, or a cheap tone as long as the text (benchmarks). "
                   "[default: speech]")
@click.option("--audio-threads", type=int, default=None,
              help=f"Threads rendering result audio. [default: {_D.audio_threads}]")
def emulator(config_file: Path | None, keys: tuple[str, ...], faults: tuple[str, ...], **options: Any) -> None:
    """Run a local Audio Cleaner API emulator (same paths, envelopes and codes).

    It serves create/get on 127.0.0.1, result MP3s under /_emulator/files/, and
    control endpoints: GET /_emulator/stats, POST /_emulator/reset, POST
    /_emulator/topup {"key": KEY, "credits": N}, GET /_emulator/faults (the active
    rates) and POST /_emulator/faults {"NAME[@SCOPE]": RATE, ...} (replaces them;
    {} clears them; a bad name or rate answers 400). Stop it with Ctrl-C.

    \b
    Faults (unscoped, a fault strikes every call it can; a scoped rate wins there):
      task_failed         the task ends "failed" (@create)
      http_500, http_502, http_503
                          create/get answer that status with an HTML page, before acting
      drop                the connection closes before the reply or halfway through it
      slow                the reply waits --slow-seconds
      malformed_json      the reply's JSON is cut in half, after the call took effect
      job_expire          get answers 101008 once --job-ttl has passed (@create)
      url_expire          the output URL answers 410 once --url-ttl has passed (@download)
      truncated_download  half the file under a matching Content-Length (@download)
      non_audio_download  200 with an HTML error page (@download)
      stuck               the task stays "waiting" for ever, decided per task (@create)
      trickle             the body comes one byte every --trickle-seconds
      huge_reply          a well-formed envelope padded to --huge-reply-bytes, sent
                          chunked as it is generated (@create, @get)
      echo_key            the reply echoes the request's api-key: in message, in
                          create's data.job_id, as get's data.status (@create, @get)
      redirect            a download answers 302 to --redirect-url (@download)

    \b
    Credits: ceil(characters/100) per task, taken at --charge-on. Create answers
    100100 when the balance cannot pay the text; get answers 100100 for an
    unfinished task while the balance is <= 0, and for a finished task the balance
    could not pay (it stays "waiting" until a top-up). Failed tasks are not refunded
    under --charge-on create. Faults are decided by hash(seed, fault, what was asked
    and its attempt number), so a seed gives the same faults whatever the timing.
    """
    base = build_config(**load_yaml(config_file)) if config_file else None
    overrides = {k: v for k, v in options.items() if v is not None}
    if keys:
        overrides["keys"] = list(keys)
    if faults:
        overrides["faults"] = list(faults)
    config = build_config(base, **overrides)
    try:
        run_foreground(config, _announce)
    except KeyboardInterrupt:
        click.echo("Emulator stopped.", err=True)


def _announce(app: EmulatorApp) -> None:
    """Print how to point the pipeline at this emulator (its keys are test keys, not secrets)."""
    usable = [k for k in app.config.keys if k.state == "active"]
    click.echo(f"Audio Cleaner emulator listening on {app.base_url}  (Ctrl-C to stop)")
    click.echo(f"  export AUDIOCLEANER_API_URL={app.base_url}")
    if usable:
        click.echo(f"  export AUDIOCLEANER_API_KEY={usable[0].key}")
    for spec in app.config.keys:
        detail = f"{spec.credits} credits" if spec.state == "active" else spec.state
        click.echo(f"  key {spec.key}: {detail}")
    click.echo(f"  stats: {app.base_url}/_emulator/stats   charge on: {app.config.charge_on}")
