"""The dashboard's live and second-round views in a real browser (headless chromium), issue 21
and the Models page of issue 22: a `dvc exp run` in progress shows as running with its curve
growing, a killed one becomes `crashed`, no table overflows its card at 1280x800, the run page
leads with results (and its system metrics), the Models page lists a registered version, an
unknown sweep says so. Every view is saved as a screenshot at 1280x800 and 1920x1080 (in the
test's tmp dir, and in $EXPBOOK_SCREENSHOTS when set).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import commit_all, dvc, dvc_init, git_init, sh
from ui_helpers import BROWSER_MARKS, browser, serve, wait_for

pytest.importorskip("selenium")
pytest.importorskip("starlette")

from expbook.ui import create_app

pytestmark = BROWSER_MARKS

# a slow stage: one dvclive-format row per `delay` seconds (val/acc and a system metric), a
# line of output per step, then metrics.json and a model file
SLOW_PY = textwrap.dedent("""\
    import json, os, time
    import yaml
    p = yaml.safe_load(open("params.yaml"))["slow"]
    if p["lr"] < 0:
        raise SystemExit(f"slow.lr must be positive, got {p['lr']}")
    curves = {"val/acc": "acc", "train/loss": "loss", "system/cpu/usage (%)": "usage (%)"}
    for name, col in curves.items():
        path = f"live/plots/metrics/{name}.tsv"
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(f"timestamp\\tstep\\t{col}\\n")
    acc = 0.0
    for s in range(p["steps"]):
        acc = 1 - 1 / (2 + s * p["lr"]) - p["seed"] * 0.01
        for name, v in (("val/acc", acc), ("train/loss", 1 - acc), ("system/cpu/usage (%)", 50.0 + s % 7)):
            with open(f"live/plots/metrics/{name}.tsv", "a") as f:
                f.write(f"{int(time.time() * 1000)}\\t{s}\\t{v}\\n")
        print(f"step {s}: val_acc {acc:.4f}", flush=True)
        time.sleep(p["delay"])
    with open("live/metrics.json", "w") as f:
        json.dump({"val": {"acc": round(acc, 6)}, "train": {"loss": round(1 - acc, 6)}}, f)
    with open("model.bin", "w") as f:
        f.write(f"model {p['lr']}")
""")

DVC_YAML = textwrap.dedent("""\
    stages:
      slow:
        cmd: python slow.py
        deps: [slow.py]
        params: [slow]
        outs: [model.bin]
        metrics:
          - live/metrics.json:
              cache: false
        plots:
          - live/plots:
              cache: false
    artifacts:
      demo-model:
        path: model.bin
        type: model
        desc: the slow stage's model
""")

SIZES = ((1280, 800), (1920, 1080))


@pytest.fixture(scope="module")
def live_repo(tmp_path_factory) -> Path:
    """A repo whose stage takes `steps * delay` seconds; two finished experiments, the first
    registered as demo-model v0.0.1 and assigned to prod; a sweep `lrs` of 2 configs x 2 seeds
    whose lr=-1 trials fail."""
    path = tmp_path_factory.mktemp("live") / "repo"
    path.mkdir()
    git_init(path)
    dvc_init(path)
    (path / "slow.py").write_text(SLOW_PY)
    (path / "dvc.yaml").write_text(DVC_YAML)
    (path / "params.yaml").write_text("slow:\n  steps: 3\n  delay: 0.0\n  lr: 0.5\n  seed: 0\n")
    (path / ".gitignore").write_text("/model.bin\n")
    dvc("repro", "-q", cwd=path)
    commit_all(path, "baseline")
    for name, lr in (("done-a", 1.0), ("done-b", 2.0)):
        dvc("exp", "run", "-q", "-n", name, "-S", f"slow.lr={lr}", "-S", "slow.steps=6", cwd=path)
    expbook = [sys.executable, "-m", "expbook"]
    sh(*expbook, "model", "register", "demo-model", "done-a", cwd=path)
    sh(
        *expbook,
        "model",
        "assign",
        "demo-model",
        "--version",
        "v0.0.1",
        "--stage",
        "prod",
        cwd=path,
    )
    sh(*expbook, "sweep", "run", "--name", "lrs", "-S", "slow.lr=1.0,-1.0", "-S", "slow.steps=4",
       "--seeds", "2", "--seed-key", "slow.seed", "-m", "val.acc", cwd=path, check=False)  # fmt: skip
    return path


@contextmanager
def running_exp(
    repo: Path, name: str, steps: int = 400, delay: float = 0.25
) -> Iterator[subprocess.Popen]:
    """`dvc exp run` of the slow stage in the background (its own process group); always
    stopped, and DVC's leftovers of a killed run removed, when the block ends."""
    log = open(repo.parent / f"{name}.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [
            shutil.which("dvc") or "dvc",
            "exp",
            "run",
            "-n",
            name,
            "-S",
            f"slow.steps={steps}",
            "-S",
            f"slow.delay={delay}",
        ],
        cwd=repo,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        log.close()
        shutil.rmtree(repo / ".dvc" / "tmp" / "exps" / "run", ignore_errors=True)
        sh("git", "checkout", "--", ".", cwd=repo, check=False)


def api(url: str, path: str) -> dict:
    with urllib.request.urlopen(url + "api/" + path, timeout=30) as resp:
        return json.load(resp)


def until(fn, timeout: float = 60, every: float = 0.3):
    deadline = time.time() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s")
        time.sleep(every)


def shots(driver, tmp_path: Path, name: str, ready: str = "document.body.dataset.ready") -> None:
    """Screenshots of the current view at 1280x800 and 1920x1080."""
    for w, h in SIZES:
        driver.set_window_size(w, h)
        time.sleep(0.6)  # plotly relayouts on resize
        wait_for(driver, ready, 30)
        target = tmp_path / f"{name}-{w}x{h}.png"
        driver.save_screenshot(str(target))
        extra = os.environ.get("EXPBOOK_SCREENSHOTS")
        if extra:
            os.makedirs(extra, exist_ok=True)
            shutil.copy(target, os.path.join(extra, target.name))
    driver.set_window_size(*SIZES[0])


def open_view(driver, url: str) -> None:
    driver.get(url)
    driver.execute_script("document.body.dataset.ready = ''")
    driver.refresh()
    wait_for(driver, "document.body.dataset.ready", 60)


def overflowing_cards(driver) -> list[str]:
    """Cards (and the table wrapper) whose content is wider than they are."""
    return driver.execute_script("""
        return [...document.querySelectorAll('.card, .tablewrap')]
          .filter((c) => c.scrollWidth > c.clientWidth + 1)
          .map((c) => (c.querySelector('h3') || c).textContent.slice(0, 60) + ' ' + c.scrollWidth + '>' + c.clientWidth);
    """)


def test_running_experiment_appears_and_its_curve_grows(live_repo, tmp_path):
    """issue 21: a `dvc exp run` in progress shows as running on the Experiments page and its
    own page, and its curve grows without a reload (polled once a second)."""
    app = create_app(str(live_repo))
    with serve(app) as url, running_exp(live_repo, "live-run"), browser() as driver:
        until(lambda: any(r["status"] == "running" for r in api(url, "live")["runs"]))
        # only the run in progress: finished runs' leftover info files are not live runs
        live = [(r["name"], r["status"]) for r in api(url, "live")["runs"]]
        assert [x for x in live if x[1] != "failed"] == [("live-run", "running")]
        driver.set_window_size(*SIZES[0])
        open_view(driver, url + "#/table")
        card = "document.querySelector('#live-runs .live-card[data-status=running]')"
        wait_for(driver, card, 30)
        points = "+((document.querySelector('#live-runs .live-card .chart') || {dataset: {}}).dataset.points || 0)"
        first = wait_for(driver, points, 30)
        time.sleep(2.5)
        assert wait_for(driver, f"{points} > {first} && {points}", 10) > first
        # the registry's row says running too, once it re-reads DVC's executor state
        wait_for(
            driver, "[...document.querySelectorAll('#experiments td.status-running')].length", 30
        )
        shots(driver, tmp_path, "live-table")
        open_view(driver, url + "#/exp?name=live-run")
        assert "running" in driver.find_element("css selector", "h2").text
        wait_for(driver, "+(document.body.dataset.livePoints || 0) > 0", 30)
        before = int(driver.execute_script("return +document.body.dataset.livePoints"))
        time.sleep(2.5)
        assert int(driver.execute_script("return +document.body.dataset.livePoints")) > before
        assert driver.current_url.endswith("#/exp?name=live-run")  # no reload, no navigation
        shots(driver, tmp_path, "live-run-page")


def test_killed_run_becomes_crashed(live_repo, tmp_path):
    """issue 21: a run whose process was killed shows `crashed` (not running forever), on the
    Experiments page and on its page, with what DVC recorded about it."""
    app = create_app(str(live_repo))
    with serve(app) as url, running_exp(live_repo, "doomed") as proc, browser() as driver:
        until(lambda: any(r["status"] == "running" for r in api(url, "live")["runs"]))
        until(lambda: (live_repo / "live" / "plots" / "metrics" / "val" / "acc.tsv").exists())
        time.sleep(1.5)  # a few rows written
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        runs = until(lambda: [r for r in api(url, "live")["runs"] if r["status"] == "crashed"], 20)
        assert runs[0]["name"] == "doomed" and "gone" in runs[0]["error"]
        driver.set_window_size(*SIZES[0])
        open_view(driver, url + "#/table")
        wait_for(driver, "document.querySelector('#live-runs .live-card[data-status=crashed]')", 30)
        shots(driver, tmp_path, "crashed-table")
        open_view(driver, url + "#/exp?name=" + runs[0]["key"])
        wait_for(driver, "document.getElementById('crashed')", 30)
        # a workspace run's output went to its terminal: the rows it wrote last stand in
        assert "no captured output" in driver.find_element("id", "tail").text
        assert "crashed" in driver.find_element("css selector", "h2").text
        assert "running" not in driver.find_element("css selector", "h2").text
        wait_for(driver, "document.querySelector('#exp-curves .js-plotly-plot')", 30)
        shots(driver, tmp_path, "crashed-run-page")


def test_no_table_overflows_its_card(live_repo, tmp_path):
    """issue 21: at 1280x800 the tables of Compare (3 runs), the run page and the table page
    scroll inside their cards instead of spilling out of them."""
    app = create_app(str(live_repo))
    with serve(app) as url, browser() as driver:
        driver.set_window_size(*SIZES[0])
        names = ["done-a", "done-b", "workspace"]
        views = {
            "compare": "#/compare?" + "&".join(f"name={n}" for n in names),
            "run-page": "#/exp?name=done-a",
            "table": "#/table",
        }
        for label, view in views.items():
            open_view(driver, url + view)
            time.sleep(1.0)
            assert overflowing_cards(driver) == [], label
            shots(driver, tmp_path, label)


def test_run_page_leads_with_results(live_repo, tmp_path):
    """issue 21: key metrics and curves first, then params with the baseline's value beside a
    changed one, human-readable sizes, the system metrics panel, the model versions at its
    commit; the favicon is served."""
    app = create_app(str(live_repo))
    with serve(app) as url, browser() as driver:
        with urllib.request.urlopen(url + "favicon.ico", timeout=10) as resp:
            assert resp.status == 200 and resp.headers["content-type"].startswith("image/")
        driver.set_window_size(*SIZES[0])
        open_view(driver, url + "#/exp?name=done-a")
        wait_for(driver, "document.querySelector('#exp-curves .js-plotly-plot')", 30)
        order = driver.execute_script(
            "const ids = ['key-metrics', 'exp-curves', 'params', 'outs'];"
            "return ids.map((i) => document.getElementById(i).getBoundingClientRect().top)"
        )
        assert order == sorted(order)
        changed = driver.execute_script(
            "return [...document.querySelectorAll('#params tr.changed')].map((r) => r.textContent)"
        )
        assert any("lr" in t and "was 0.5" in t for t in changed), changed
        assert driver.execute_script(
            "return document.querySelector('#outs td.num').textContent"
        ).endswith(" B")
        wait_for(driver, "document.querySelector('#system-curves .js-plotly-plot')", 30)
        assert "demo-model@v0.0.1" in driver.find_element("id", "exp-models").text
        assert "demo-model#prod" in driver.find_element("id", "exp-models").text
        assert "UTC" in driver.find_element("id", "exp-meta").text


def test_models_page_lists_a_registered_version(live_repo, tmp_path):
    """issue 22: the Models page shows each model's versions, stages, experiment, key metrics
    and history."""
    app = create_app(str(live_repo))
    with serve(app) as url, browser() as driver:
        body = api(url, "models")
        assert body["models"][0]["model"] == "demo-model"
        assert [e["event"] for e in body["history"]][:2] == ["register", "assign"]
        driver.set_window_size(*SIZES[0])
        open_view(driver, url + "#/models")
        card = driver.find_element("css selector", ".model-card[data-model=demo-model]")
        assert "v0.0.1" in card.text and "prod" in card.text and "done-a" in card.text
        assert "acc" in card.text  # a key metric per version
        assert len(driver.find_elements("css selector", "#model-history tbody tr")) >= 2
        shots(driver, tmp_path, "models")


def test_unknown_sweep_says_so(live_repo, tmp_path):
    """issue 21: a sweep name that does not exist is a 404 with a message, not an endless
    "waiting for sweep"."""
    app = create_app(str(live_repo))
    with serve(app) as url, browser() as driver:
        try:
            urllib.request.urlopen(url + "api/sweep?name=nope", timeout=10)
            raise AssertionError("no 404")
        except urllib.error.HTTPError as err:
            assert err.code == 404 and "no sweep named 'nope'" in json.load(err)["reason"]
        open_view(driver, url + "#/sweeps?name=nope")
        wait_for(driver, "document.querySelector('#sweep .error')", 20)
        assert "no sweep named" in driver.find_element("css selector", "#sweep .error").text


def test_column_chooser_searches_and_reorders(live_repo, tmp_path):
    """issue 21: the column chooser is a searchable list with reorder buttons and pins, not one
    checkbox per column."""
    app = create_app(str(live_repo))
    with serve(app) as url, browser() as driver:
        driver.set_window_size(*SIZES[0])
        open_view(driver, url + "#/table")
        driver.find_element("id", "cols-button").click()
        search = driver.find_element("id", "col-search")
        search.send_keys("delay")
        avail = driver.execute_script(
            "return [...document.querySelectorAll('#cols-available li[data-col]')].map((l) => l.dataset.col)"
        )
        assert avail and all("delay" in c for c in avail), avail
        driver.find_element("css selector", "#cols-available li[data-col] button.add").click()
        shown = driver.execute_script(
            "return [...document.querySelectorAll('#cols-shown li')].map((l) => l.dataset.col)"
        )
        assert shown[-1] == avail[0]
        driver.find_element(
            "css selector",
            f"#cols-shown li[data-col='{avail[0]}'] button[aria-label^='move'][aria-label$='up']",
        ).click()
        shots(driver, tmp_path, "column-chooser")
        driver.find_element("id", "cols-apply").click()
        wait_for(driver, f"document.querySelector('#experiments th[data-col=\"{avail[0]}\"]')", 20)
        headers = driver.execute_script(
            "return [...document.querySelectorAll('#experiments thead tr:nth-child(2) th[data-col]')].map((t) => t.dataset.col)"
        )
        assert headers.index(avail[0]) == len(headers) - 2
        assert "pin" in driver.current_url


def test_sweep_trials_by_config_and_seed_and_failed_trials(live_repo, tmp_path):
    """issue 21: a sweep's trial table has seeds and configs as columns (not raw JSON), sorts by
    a column, shows the mean per config; failed trials show their error there and on the
    Experiments page (the registry has no row for them)."""
    app = create_app(str(live_repo))
    with serve(app) as url, browser() as driver:
        driver.set_window_size(*SIZES[0])
        open_view(driver, url + "#/sweeps?name=lrs")
        wait_for(driver, "document.querySelector('#trials tbody tr')", 30)
        heads = driver.execute_script(
            "return [...document.querySelectorAll('#trials th')].map((t) => t.dataset.col)"
        )
        assert "seed" in heads and "cfg:slow.lr" in heads and "error" in heads, heads
        rows = driver.execute_script(
            "return [...document.querySelectorAll('#trials tbody tr')].map((r) => r.textContent)"
        )
        assert len(rows) == 4 and not any("{" in r for r in rows), rows
        failed = [r for r in rows if "failed" in r]
        assert len(failed) == 2 and all("must be positive" in r for r in failed), failed
        configs = driver.execute_script(
            "return [...document.querySelectorAll('#configs tbody tr')].map((r) => r.textContent)"
        )
        assert len(configs) == 2, configs
        driver.find_element("css selector", "#trials th[data-col='cfg:slow.lr']").click()
        wait_for(
            driver,
            "document.querySelector('#trials th[data-col=\"cfg:slow.lr\"]').textContent.includes('▲')",
            10,
        )
        lrs = driver.execute_script(
            "return [...document.querySelectorAll('#trials tbody tr')].map((r) => r.children[4].textContent)"
        )
        assert lrs == sorted(lrs, key=float), lrs
        shots(driver, tmp_path, "sweep")
        open_view(driver, url + "#/table")
        wait_for(driver, "document.querySelector('#failed-trials')", 30)
        text = driver.execute_script("return document.getElementById('failed-trials').textContent")
        assert "lrs-" in text and "must be positive" in text


def _kill_pid_file(path: Path) -> None:
    """Kill the process a dvc-task process file names (DVC's queue worker), if it runs."""
    try:
        pid = int(json.loads(path.read_text())["pid"])
        os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError, KeyError):
        pass


def test_queued_run_is_running_then_crashed_with_its_output(live_repo, tmp_path):
    """issue 21: a `dvc queue` run shows as running while its worker trains (its curve grows,
    its captured output is there); killed, it is no longer running: `failed` with the tail of
    its output and the signal (DVC's worker records the failure), or `crashed` if nothing did."""
    repo = tmp_path / "repo"
    # without .dvc/tmp: the sweep's worktrees and DVC's executor state belong to the original
    shutil.copytree(
        live_repo, repo, symlinks=True,
        ignore=lambda d, names: ["tmp"] if d.endswith(".dvc") else [],
    )  # fmt: skip
    steps = ["-S", "slow.steps=400", "-S", "slow.delay=0.25"]
    dvc("exp", "run", "--queue", "-q", "-n", "queued", *steps, cwd=repo)
    app = create_app(str(repo))
    celery = repo / ".dvc" / "tmp" / "exps" / "celery"

    def queued(pred):
        return next(
            (r for r in api(url, "live")["runs"] if r["name"] == "queued" and pred(r)), None
        )

    try:
        with serve(app) as url:
            # not through sh(): the detached worker inherits its pipes and would keep it waiting
            subprocess.run(
                [sys.executable, "-m", "dvc", "queue", "start", "-q"], cwd=repo, timeout=120,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            try:
                run = until(lambda: queued(lambda r: "step 2:" in r["tail"]), 180)
            except AssertionError:
                status = sh("dvc", "queue", "status", cwd=repo, check=False)
                raise AssertionError(
                    f"{api(url, 'live')} {status.stdout} {status.stderr}"
                ) from None
            assert run["status"] == "running" and run["source"] == "queue"
            first = len(api(url, "live?name=queued")["curves"]["val/acc"]["steps"])
            time.sleep(1.5)
            assert len(api(url, "live?name=queued")["curves"]["val/acc"]["steps"]) > first
            os.kill(run["pid"], signal.SIGKILL)
            gone = until(lambda: queued(lambda r: r["status"] != "running"), 60)
            assert gone["status"] in ("failed", "crashed") and "step " in gone["tail"]
            assert "signal 9" in gone["error"] or "gone" in gone["error"], gone["error"]
    finally:
        subprocess.run(
            ["dvc", "queue", "stop", "--kill"], cwd=repo, capture_output=True, timeout=60
        )
        for pid_file in celery.glob("*.json"):
            _kill_pid_file(pid_file)
