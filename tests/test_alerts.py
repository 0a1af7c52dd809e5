"""New-best alerts (`expbook sweep --on-best/--on-best-url`) and failed-check alerts (`expbook
check --on-fail/--on-fail-url`): a recording hook script, a real HTTP server on 127.0.0.1, and
hooks that fail or hang without stopping the sweep."""

from __future__ import annotations

import json
import socket
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from conftest import sh
from expbook.errors import ExpbookError
from expbook.lifecycle.alerts import Alerts
from test_sweep_support import run_cli, tiny_repo

RECORDER = textwrap.dedent("""\
    import json, os, sys
    event = json.load(sys.stdin)
    with open(sys.argv[1], "a") as f:
        f.write(json.dumps({"event": event, "name": os.environ["EXPBOOK_BEST_NAME"],
                            "value": os.environ["EXPBOOK_BEST_VALUE"]}) + "\\n")
""")


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append(json.loads(body))  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):  # keep test output quiet
        pass


@pytest.fixture
def webhook():
    """A real HTTP server on 127.0.0.1 collecting POSTed JSON; stopped after the test."""
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "command, url, fragment",
    [
        ("", None, "empty"),
        ("notify 'unclosed", None, "closing quotation"),
        (None, "file:///etc/passwd", "only http"),
        (None, "ftp://x", "only http"),
    ],
)
def test_bad_alert_options_are_errors(command, url, fragment):
    with pytest.raises(ExpbookError, match=fragment):
        Alerts.from_options(command, url)


def test_no_options_no_alerts():
    assert Alerts.from_options(None, None) is None


def test_command_gets_json_on_stdin_and_env(tmp_path):
    out = tmp_path / "calls.jsonl"
    script = tmp_path / "rec.py"
    script.write_text(RECORDER)
    alerts = Alerts([sys.executable, str(script), str(out)], log=lambda line: None)
    assert alerts.send({"x": 1}, {"EXPBOOK_BEST_NAME": "t-1", "EXPBOOK_BEST_VALUE": "0.5"}) == []
    call = json.loads(out.read_text())
    assert call == {"event": {"x": 1}, "name": "t-1", "value": "0.5"}


def test_failing_hanging_and_missing_hooks_are_reported_not_raised(tmp_path):
    logged: list[str] = []
    fail = Alerts([sys.executable, "-c", "import sys; sys.exit('boom')"], log=logged.append)
    assert "exited 1: boom" in fail.send({})[0]
    # the hook's own child keeps the output open: the whole group is killed at the timeout
    hang = Alerts(["sh", "-c", "sleep 30 & sleep 30"], timeout=0.5, log=logged.append)
    start = time.monotonic()
    assert "timed out" in hang.send({})[0]
    assert time.monotonic() - start < 10
    missing = Alerts([str(tmp_path / "no-such-hook")], log=logged.append)
    assert "could not start" in missing.send({})[0]
    nowhere = Alerts(url=f"http://127.0.0.1:{_closed_port()}/", log=logged.append)
    assert "failed" in nowhere.send({})[0]
    assert len(logged) == 4 and all(line.startswith("warning: ") for line in logged)


def test_webhook_posts_json(webhook):
    url = f"http://127.0.0.1:{webhook.server_port}/hook"
    assert Alerts(url=url).send({"event": "new_best", "value": 0.9}) == []
    assert webhook.received == [{"event": "new_best", "value": 0.9}]


def _improvements(trials: list[dict], mode: str = "max") -> list[tuple[str, float]]:
    best, out = None, []
    for t in sorted(trials, key=lambda t: t["number"]):
        value = (t.get("values") or [None])[0]
        if t["status"] != "success" or value is None:
            continue
        if best is None or (value > best if mode == "max" else value < best):
            best = value
            out.append((t["name"], value))
    return out


@pytest.mark.slow
def test_sweep_on_best_calls_hook_and_webhook_once_per_improvement(
    tmp_path, tmp_path_factory, webhook
):
    repo = tiny_repo(tmp_path / "repo", tmp_path_factory)
    calls = tmp_path / "calls.jsonl"
    (tmp_path / "rec.py").write_text(RECORDER)
    url = f"http://127.0.0.1:{webhook.server_port}/best"
    # lr 0.01 is the best; the others in an order with ups and downs
    proc = run_cli(
        repo,
        *("sweep", "-S", "train.lr=0.005,0.002,0.009,0.01,0.001", "--metric", "val.acc"),
        *("--name", "s", "--json", "--on-best", f"{sys.executable} {tmp_path / 'rec.py'} {calls}"),
        *("--on-best-url", url),
    )
    result = json.loads(proc.stdout)
    expected = _improvements(result["trials"])
    assert len(expected) >= 2  # the search order gives at least one real improvement
    recorded = [json.loads(line) for line in calls.read_text().splitlines()]
    assert [(c["name"], float(c["value"])) for c in recorded] == expected
    values = [float(c["value"]) for c in recorded]
    assert values == sorted(values) and len(set(values)) == len(values)  # strictly monotonic
    event = recorded[-1]["event"]
    assert event["event"] == "new_best" and event["sweep"] == "s" and event["metric"] == "val.acc"
    assert event["rev"] == sh("git", "rev-parse", event["ref"], cwd=repo).stdout.strip()
    assert [(e["name"], e["value"]) for e in webhook.received] == expected
    # a resumed sweep that finds nothing better sends nothing (the same spec: a changed one is
    # refused under an old name since issue 19)
    again = run_cli(
        repo,
        *("sweep", "-S", "train.lr=0.005,0.002,0.009,0.01,0.001", "--metric", "val.acc"),
        *("--name", "s", "--json", "--on-best-url", url),
    )
    assert json.loads(again.stdout)["skipped"] == 5
    assert len(webhook.received) == len(expected)


@pytest.mark.slow
def test_failing_or_hanging_hooks_do_not_stop_the_sweep(tmp_path, tmp_path_factory):
    repo = tiny_repo(tmp_path / "repo", tmp_path_factory)
    hang = tmp_path / "hang.py"
    hang.write_text("import time\ntime.sleep(600)\n")
    start = time.monotonic()
    proc = run_cli(
        repo,
        *("sweep", "-S", "train.lr=0.002,0.01", "--metric", "val.acc", "--name", "h", "--json"),
        *("--on-best", f"{sys.executable} {hang}"),
        *("--on-best-url", f"http://127.0.0.1:{_closed_port()}/"),
    )
    result = json.loads(proc.stdout)
    assert [t["status"] for t in result["trials"]] == ["success", "success"]
    assert "timed out after 5 s" in proc.stderr and "webhook" in proc.stderr
    assert time.monotonic() - start < 120  # two 5 s timeouts, not a 600 s hang
    failing = run_cli(
        repo,
        *("sweep", "-S", "train.lr=0.003,0.004", "--metric", "val.acc", "--name", "f", "--json"),
        *("--on-best", f"{sys.executable} -c 'import sys; sys.exit(3)'"),
    )
    assert [t["status"] for t in json.loads(failing.stdout)["trials"]] == ["success", "success"]
    assert "exited 3" in failing.stderr


@pytest.mark.slow
def test_check_on_fail_alerts_when_a_rule_fails(tmp_path, webhook):
    from test_reproduce import exp_run, make_pipeline_repo

    repo = tmp_path / "repo"
    repo.mkdir()
    make_pipeline_repo(repo, lr=0.1)
    exp_run(repo, "worse", "train.lr=0.05")
    sh("git", "checkout", "-q", "--", ".", cwd=repo)
    out = tmp_path / "calls.jsonl"
    script = tmp_path / "rec.py"
    script.write_text(
        "import json, os, sys\n"
        "doc = {'event': json.load(sys.stdin), 'name': os.environ['EXPBOOK_CHECK_NAME'],\n"
        "       'failed': os.environ['EXPBOOK_CHECK_FAILED']}\n"
        f"open({str(out)!r}, 'a').write(json.dumps(doc) + '\\n')\n"
    )
    url = f"http://127.0.0.1:{webhook.server_port}/ci"
    args = ["check", "--against", "main", "--on-fail", f"{sys.executable} {script}"]
    rule = "test.acc < ref - 0.01"
    failing = run_cli(
        *(repo, *args, "--rev", "worse", "--on-fail-url", url, "--fail-if", rule),
        *("--fail-if", "test.acc < ref - 0.5"),  # holds not: not in the alert
        check=False,
    )
    assert failing.returncode == 1, failing.stderr
    call = json.loads(out.read_text())
    assert call["name"] == "worse" and call["failed"] == rule
    assert call["event"]["failed_rules"][0]["rule"] == rule
    assert webhook.received == [call["event"]]
