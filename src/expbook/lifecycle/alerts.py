"""Alerts: run a command (an argv list, never a shell) and/or POST a webhook with an event as
JSON — a sweep's new best trial, a CI check's failed rules. Failures and timeouts are logged
to stderr and never raised: an alert must not stop the sweep or change the check's verdict.

Used by `expbook sweep --on-best/--on-best-url` (via `BestWatch`) and `expbook check
--on-fail/--on-fail-url`; Python: `Alerts.from_options("notify.sh --loud", None).send(event)`.
"""

from __future__ import annotations

import json
import math
import os
import queue
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from typing import Any

from expbook import env as envnames
from expbook.errors import ExpbookError

TIMEOUT_S = 5.0  # per command run and per webhook POST (connect and read)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class Alerts:
    """Where events go: `command` gets the event JSON on stdin (extra env vars set), `url`
    gets it as a JSON POST. Either may be empty."""

    def __init__(
        self,
        command: Sequence[str] = (),
        url: str | None = None,
        *,
        timeout: float = TIMEOUT_S,
        log: Callable[[str], None] = _stderr,
    ) -> None:
        self.command = list(command)
        self.url = url
        self.timeout = timeout
        self.log = log

    @classmethod
    def from_options(
        cls, command: str | None, url: str | None, option: str = "--on-best"
    ) -> Alerts | None:
        """Alerts from CLI text (`command` split like a POSIX shell would, run without one);
        None when neither is given. Bad input raises ExpbookError naming the option."""
        argv: list[str] = []
        if command is not None:
            try:
                argv = shlex.split(command)
            except ValueError as exc:
                raise ExpbookError(f"{option} {command!r}: {exc}") from None
            if not argv:
                raise ExpbookError(f"{option} is empty: give a command to run")
        if url is not None and not url.lower().startswith(("http://", "https://")):
            raise ExpbookError(f"{option}-url {url!r}: only http:// and https:// URLs are posted")
        if not argv and not url:
            return None
        return cls(argv, url)

    def send(self, event: dict[str, Any], env: dict[str, str] | None = None) -> list[str]:
        """Deliver one event to the command and the URL; returns (and logs) what went wrong."""
        data = json.dumps(event, default=str, sort_keys=True).encode()
        problems = []
        if self.command:
            problems += self._run(data, env or {})
        if self.url:
            problems += self._post(data)
        for line in problems:
            self.log(f"warning: {line}")
        return problems

    def _run(self, data: bytes, env: dict[str, str]) -> list[str]:
        name = self.command[0]
        # output goes to files, not pipes: a hook's own children holding a pipe open would
        # otherwise keep us waiting after the hook itself is killed
        with tempfile.TemporaryFile() as out:
            try:
                proc = subprocess.Popen(
                    self.command,
                    stdin=subprocess.PIPE,
                    stdout=out,
                    stderr=out,
                    env={**os.environ, **env},
                    start_new_session=True,  # its own process group: a timeout kills it all
                )
            except OSError as exc:
                return [f"alert command {name!r} could not start: {exc.strerror or exc}"]
            try:
                proc.communicate(data, timeout=self.timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                return [f"alert command {name!r} timed out after {self.timeout:g} s; killed"]
            except BrokenPipeError:  # it exited without reading stdin: fine
                proc.wait()
            if proc.returncode != 0:
                out.seek(0)
                tail = out.read()[-300:].decode("utf-8", "replace").strip()
                return [f"alert command {name!r} exited {proc.returncode}: {tail}"]
        return []

    def _post(self, data: bytes) -> list[str]:
        import urllib.error  # here: urllib.request costs every `expbook sweep` ~0.05 s to import
        import urllib.request

        assert self.url is not None
        request = urllib.request.Request(
            self.url,
            data=data,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "expbook"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                resp.read(65536)
        except urllib.error.HTTPError as exc:
            return [f"webhook {self.url} answered {exc.code} {exc.reason}"]
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            return [f"webhook {self.url} failed: {reason}"]
        return []


def _kill_group(proc: subprocess.Popen[Any]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()


class AlertQueue:
    """Sends events in order on one background thread, so a slow hook never holds up the
    caller; `close()` waits for what is queued (each delivery is bounded by the timeout)."""

    def __init__(self, alerts: Alerts) -> None:
        self.alerts = alerts
        self._queue: queue.Queue[tuple[dict[str, Any], dict[str, str]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="expbook-alerts", daemon=True)
        self._thread.start()

    def put(self, event: dict[str, Any], env: dict[str, str]) -> None:
        self._queue.put((event, env))

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self.alerts.send(*item)
            except Exception as exc:  # an alert is never fatal, whatever went wrong
                self.alerts.log(f"warning: alert failed: {exc}")

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if math.isnan(value) else float(value)


class BestWatch:
    """Tracks a sweep's best value of its first metric and alerts on each strict improvement.

    `seed(record)` takes finished trials of an earlier run (no alert), `offer(record)` a newly
    finished one; only `success` trials with a numeric value count.
    """

    def __init__(
        self, alerts: Alerts, sweep: str, metric: str, mode: str | None, source: str | None = None
    ) -> None:
        if mode not in ("max", "min"):  # "new best" means nothing without a direction
            from expbook.registry.directions import DirectionError, unknown_message

            raise DirectionError(unknown_message(metric))
        self.sender = AlertQueue(alerts)
        self.sweep, self.metric, self.mode, self.source = sweep, metric, mode, source
        self.best: float | None = None
        self.sent = 0

    def _value(self, record: dict[str, Any]) -> float | None:
        if record.get("status") != "success":
            return None
        values = record.get("values") or []
        return _number(values[0]) if values else None

    def _beats(self, value: float) -> bool:
        if self.best is None:
            return True
        return value > self.best if self.mode == "max" else value < self.best

    def seed(self, record: dict[str, Any]) -> None:
        value = self._value(record)
        if value is not None and self._beats(value):
            self.best = value

    def offer(self, record: dict[str, Any]) -> bool:
        value = self._value(record)
        if value is None or not self._beats(value):
            return False
        previous, self.best = self.best, value
        event = {
            "event": "new_best",
            "sweep": self.sweep,
            "metric": self.metric,
            "mode": self.mode,
            "mode_source": self.source,
            "value": value,
            "previous_best": previous,
            **{
                k: record.get(k)
                for k in ("name", "number", "rev", "ref", "status", "values", "config", "seed")
            },
            "overrides": record.get("overrides"),
        }
        env = {envnames.BEST_NAME: str(record.get("name")), envnames.BEST_VALUE: repr(value)}
        self.sender.put(event, env)
        self.sent += 1
        return True

    def close(self) -> None:
        self.sender.close()
