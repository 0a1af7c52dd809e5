"""The dashboard in a real browser (headless Debian chromium via selenium): the end-to-end
flow over a repo with real experiments, escaping of user strings, the live sweeps page and the
report opened from disk with the network off. A screenshot per view lands in the test's tmp
dir (and in $EXPBOOK_SCREENSHOTS when set).
"""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest

from conftest import sh
from ui_helpers import (
    BROWSER_MARKS,
    XSS_NOTE,
    XSS_TAG,
    browser,
    serve,
    shared_ui_repo,
    wait_for,
)

pytest.importorskip("selenium")
pytest.importorskip("starlette")

from expbook.registry import notes
from expbook.ui import create_app

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def ui_repo(tmp_path_factory):
    path, shas = shared_ui_repo(tmp_path_factory)
    notes.add_note(path, shas["lr3-s1"], XSS_NOTE)
    notes.set_tag(path, shas["lr3-s1"], XSS_TAG)
    return path, shas


def shot(driver, tmp_path, name: str) -> None:
    time.sleep(0.3)  # let plotly finish its transitions
    target = tmp_path / f"{name}.png"
    driver.save_screenshot(str(target))
    extra = os.environ.get("EXPBOOK_SCREENSHOTS")
    if extra:
        os.makedirs(extra, exist_ok=True)
        shutil.copy(target, os.path.join(extra, f"{name}.png"))


def open_view(driver, url: str) -> None:
    driver.get(url)
    driver.execute_script("document.body.dataset.ready = ''")
    driver.refresh()
    wait_for(driver, "document.body.dataset.ready", 60)


def table_names(driver) -> list[str]:
    return driver.execute_script(
        "return [...document.querySelectorAll('#experiments tbody tr')].map(r => r.dataset.name)"
    )


def traces(driver, div: str) -> int:
    return driver.execute_script(
        f"const d = document.getElementById('{div}'); return d && d.data ? d.data.length : 0"
    )


def not_pwned(driver) -> None:
    assert driver.execute_script("return window.__pwned") is None
    assert driver.execute_script("return document.querySelectorAll('img[src=\"x\"]').length") == 0


def test_end_to_end(ui_repo, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    path, shas = ui_repo
    with serve(create_app(str(path))) as url, browser() as d:
        open_view(d, url + "#/table")
        assert {"lr1-s0", "lr1-s1", "lr3-s0", "lr3-s1"} <= set(table_names(d))
        # user strings are text in the DOM; nothing of them runs
        body = d.find_element(By.ID, "experiments").text
        assert XSS_TAG in body and XSS_NOTE in body  # the tag, and the param value
        not_pwned(d)
        shot(d, tmp_path, "table")

        box = d.find_element(By.CSS_SELECTOR, "input.where")
        box.send_keys("val.acc >", Keys.ENTER)
        wait_for(d, "document.querySelector('.error')")
        assert "cannot parse" in d.find_element(By.CSS_SELECTOR, ".error").text
        box = d.find_element(By.CSS_SELECTOR, "input.where")
        box.clear()
        box.send_keys("kind = 'experiment' and train.lr > 0.05", Keys.ENTER)
        wait_for(d, "document.querySelectorAll('#experiments tbody tr').length === 4")
        d.find_element(By.CSS_SELECTOR, "th[data-col='live/metrics.json:val.acc']").click()
        wait_for(d, "location.hash.includes('sort=')")
        wait_for(d, "document.querySelectorAll('#experiments tbody tr').length === 4")
        assert table_names(d) == ["lr1-s1", "lr1-s0", "lr3-s1", "lr3-s0"]  # val.acc ascending
        # hide a column through the chooser: the URL keeps the column list
        d.find_element(By.ID, "cols-button").click()
        d.find_element(By.CSS_SELECTOR, "button[aria-label='hide params.yaml:train.label']").click()
        d.find_element(By.ID, "cols-apply").click()
        wait_for(d, "location.hash.includes('cols=')")
        wait_for(d, "document.querySelectorAll('#experiments tbody tr').length === 4")
        heads = d.execute_script(
            "return [...document.querySelectorAll('th[data-col]')].map(t => t.dataset.col)"
        )
        assert "params.yaml:train.label" not in heads and "params.yaml:train.lr" in heads
        search = d.find_element(By.CSS_SELECTOR, "input[aria-label='search']")
        search.send_keys("lr3", Keys.ENTER)
        wait_for(d, "document.querySelectorAll('#experiments tbody tr').length === 2")
        assert table_names(d) == ["lr3-s1", "lr3-s0"]
        search = d.find_element(By.CSS_SELECTOR, "input[aria-label='search']")
        search.clear()
        search.send_keys(Keys.ENTER)
        wait_for(d, "document.querySelectorAll('#experiments tbody tr').length === 4")
        for name in ("lr1-s0", "lr3-s0"):
            d.find_element(By.CSS_SELECTOR, f"tr[data-name='{name}'] input").click()
        d.find_element(By.ID, "compare-selected").click()
        wait_for(d, "document.getElementById('curves') && document.getElementById('curves').data")
        assert traces(d, "curves") == 2
        assert "train.lr" in d.find_element(By.ID, "cmp-params").text
        shot(d, tmp_path, "compare")

        open_view(d, url + "#/charts?where=" + "kind%20%3D%20'experiment'")
        wait_for(d, "document.getElementById('parcoords').data")
        assert traces(d, "curves") == 4
        shot(d, tmp_path, "charts")
        d.find_element(By.XPATH, "//label[contains(., 'log y')]/input").click()
        wait_for(d, "location.hash.includes('log=1')")
        wait_for(
            d,
            "((document.getElementById('curves') || {}).layout || {yaxis: {}}).yaxis.type === 'log'",
        )
        d.find_element(By.CSS_SELECTOR, "select[aria-label='band group']").send_keys("mean")
        wait_for(d, "location.hash.includes('band=')")
        # one band per learning rate: upper edge, lower edge (filled), mean line
        wait_for(
            d,
            "((document.getElementById('curves') || {}).data || []).length === 6",
        )
        shot(d, tmp_path, "charts-bands")

        open_view(d, url + "#/exp?name=lr3-s1")
        wait_for(
            d,
            "[...document.images].some(i => i.src.includes('confusion_matrix.png') && i.naturalWidth > 0)",
        )
        wait_for(
            d, "[...document.images].some(i => i.src.includes('samples.png') && i.naturalWidth > 0)"
        )
        assert XSS_NOTE in d.find_element(By.ID, "notes").text
        assert XSS_TAG in d.find_element(By.ID, "tags").text
        assert f"dvc exp apply {shas['lr3-s1']}" in d.find_element(By.ID, "commands").text
        not_pwned(d)
        shot(d, tmp_path, "experiment")
        d.find_element(By.ID, "note-text").send_keys("written in the browser")
        d.find_element(By.ID, "add-note").click()
        wait_for(
            d,
            "document.getElementById('notes') && document.getElementById('notes').textContent.includes('written in the browser')",
        )
        doc = json.loads(
            sh("git", "notes", "--ref", "expbook", "show", shas["lr3-s1"], cwd=path).stdout
        )
        assert "written in the browser" in doc["notes"] and XSS_NOTE in doc["notes"]

        open_view(d, url + "#/stats?where=kind%20%3D%20'experiment'&metric=val.acc")
        assert "train.lr=0.1" in d.find_element(By.ID, "stats").text
        shot(d, tmp_path, "stats")


def _sweep_state(shas: dict[str, str], n: int) -> dict:
    trials = []
    for i, name in enumerate(["lr1-s0", "lr1-s1", "lr3-s0", "lr3-s1"][:n]):
        status = "pruned" if i == 3 else "success"
        lr, seed = (0.1 if name.startswith("lr1") else 0.3), int(name[-1])
        trials.append(
            {
                "number": i + 1, "name": name, "status": status, "kind": "trial",
                "config": {"params.yaml:train.lr": lr, "params.yaml:train.seed": seed},
                "values": [0.9 + lr / 10 - seed / 100, 0.1 - lr / 10 + seed / 50],
                "rev": shas[name], "baseline": "b", "seed": None,
            }
        )  # fmt: skip
    return {
        "name": "live",
        "baseline": "b",
        "spec": {
            "metrics": [{"key": "val.acc", "mode": "max"}, {"key": "train.loss", "mode": "min"}]
        },
        "trials": trials,
    }


def test_sweeps_page_is_live(ui_repo, tmp_path):
    from expbook.sweep import state

    path, shas = ui_repo
    state.save(str(path), _sweep_state(shas, 3))
    with serve(create_app(str(path))) as url, browser() as d:
        open_view(d, url + "#/sweeps?name=live")
        wait_for(d, "document.querySelectorAll('#trials tbody tr').length === 3")
        wait_for(
            d,
            "document.getElementById('importance').data || document.getElementById('importance').textContent",
        )
        assert d.execute_script("return document.getElementById('pareto').data.length") == 2
        shot(d, tmp_path, "sweeps")
        start = time.monotonic()
        state.save(str(path), _sweep_state(shas, 4))  # what the sweep driver does per trial
        wait_for(d, "document.querySelectorAll('#trials tbody tr').length === 4", timeout=10)
        assert time.monotonic() - start <= 2.0
        wait_for(d, "document.getElementById('trial-curves').data.length === 4")
        dashes = d.execute_script(
            "return document.getElementById('trial-curves').data.map(t => t.line.dash)"
        )
        assert dashes == ["solid", "solid", "solid", "dot"]  # the pruned trial's curve


def test_sweeps_page_follows_a_running_sweep(ui_repo, tmp_path):
    """A real `expbook sweep` runs while the page is open: each finished trial is on the page
    within 2 s of the sweep recording it (no reload)."""
    import subprocess
    import sys

    from conftest import ROOT
    from expbook.sweep import state

    repo = tmp_path / "repo"
    shutil.copytree(ui_repo[0], repo, symlinks=True)
    cmd = "from expbook.cli import main; main()"
    sweep = ["sweep", "-S", "train.lr=0.05,0.15,0.25,0.35", "-m", "val.acc", "--name", "real"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    with serve(create_app(str(repo))) as url, browser() as d:
        open_view(d, url + "#/sweeps?name=real")
        assert "Waiting for sweep" in d.find_element("id", "sweep").text
        proc = subprocess.Popen(
            [sys.executable, "-c", cmd, *sweep, "-R", str(repo)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        recorded: dict[int, float] = {}
        shown: dict[int, float] = {}
        try:
            deadline = time.monotonic() + 240
            while len(shown) < 4 and time.monotonic() < deadline:
                trials = state.load(str(repo), "real", missing_ok=True)["trials"]
                done = sum(t.get("status") == "success" for t in trials)
                now = time.monotonic()
                for k in range(1, done + 1):
                    recorded.setdefault(k, now)
                on_page = d.execute_script(
                    "return document.querySelectorAll('#trials td.status-success').length"
                )
                for k in range(1, on_page + 1):
                    shown.setdefault(k, now)
                time.sleep(0.1)
            assert proc.wait(timeout=240) == 0, proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert sorted(shown) == [1, 2, 3, 4]
        lags = {k: shown[k] - recorded[k] for k in shown}
        assert max(lags.values()) <= 2.0, lags
        wait_for(d, "document.getElementById('trial-curves').data.length === 4")
        shot(d, tmp_path, "sweeps-live")


def test_report_opened_from_disk_offline(ui_repo, tmp_path):
    from click.testing import CliRunner

    from expbook.cli import cli

    path, _shas = ui_repo
    out = tmp_path / "report.html"
    res = CliRunner().invoke(
        cli, ["report", "-R", str(path), "-o", str(out), "--metric", "val.acc"]
    )
    assert res.exit_code == 0, res.output
    with browser(offline=True) as d:
        open_view(d, out.as_uri() + "#/table")
        assert {"lr1-s0", "lr1-s1", "lr3-s0", "lr3-s1", "workspace"} <= set(table_names(d))
        not_pwned(d)
        shot(d, tmp_path, "report-table")
        open_view(d, out.as_uri() + "#/compare?name=lr1-s0&name=lr3-s0&name=lr3-s1")
        wait_for(d, "document.getElementById('curves') && document.getElementById('curves').data")
        assert traces(d, "curves") == 3
        open_view(d, out.as_uri() + "#/exp?name=lr3-s1")
        wait_for(
            d,
            "[...document.images].some(i => i.src.startsWith('data:image/png') && i.naturalWidth > 0)",
        )
        not_pwned(d)
        shot(d, tmp_path, "report-experiment")
        open_view(d, out.as_uri() + "#/charts")
        wait_for(d, "document.getElementById('parcoords').data")
        assert traces(d, "curves") >= 4


EVIL_LABEL = '<a href="https://evil.example/pwn">click me</a>'
EVIL_LINKS = (
    "return [...document.querySelectorAll('a')].filter(a => ((a.getAttribute('href') || '') +"
    " (a.getAttributeNS('http://www.w3.org/1999/xlink', 'href') || '')).includes('evil.example'))"
    ".length"
)


@pytest.fixture(scope="module")
def evil_repo(ui_repo, tmp_path_factory):
    """The ui repo plus one experiment whose param value is an HTML link."""
    from conftest import dvc

    repo = tmp_path_factory.mktemp("evil") / "repo"
    shutil.copytree(ui_repo[0], repo, symlinks=True)
    dvc("exp", "run", "-q", "-n", "evil", "-S", "train.lr=0.2", "-S",
        f"train.label='{EVIL_LABEL}'", cwd=repo)  # fmt: skip
    return repo


CHART_VIEWS = [
    "#/charts?where=kind%20%3D%20'experiment'&sx=params.yaml%3Atrain.label"
    "&band=params.yaml%3Atrain.label",
    "#/stats?where=kind%20%3D%20'experiment'&metric=val.acc&group=train.label",
]


# the report filters in the browser, its stats are computed once (no where/group)
REPORT_VIEWS = ["#/charts?sx=params.yaml%3Atrain.label&band=params.yaml%3Atrain.label", "#/stats"]


def _no_links_in_charts(d, url: str, tmp_path, name: str, views: list[str]) -> None:
    for i, view in enumerate(views):
        open_view(d, url + view)
        wait_for(d, "document.querySelectorAll('.js-plotly-plot').length")
        time.sleep(0.5)
        svg_text = d.execute_script(
            "return [...document.querySelectorAll('.js-plotly-plot svg')]"
            ".map(s => s.textContent).join(' ')"
        )
        assert "click me" in svg_text, view  # the label is on the chart...
        assert d.execute_script(EVIL_LINKS) == 0, view  # ...as text, never as a link
        not_pwned(d)
        shot(d, tmp_path, f"{name}-{i}")


def test_chart_labels_are_text_not_links(evil_repo, tmp_path):
    """issue 19: Plotly renders HTML in trace names, tick labels and hover text: a param value
    `<a href=...>` became a clickable link in the live UI's charts."""
    with serve(create_app(str(evil_repo))) as url, browser() as d:
        _no_links_in_charts(d, url, tmp_path, "evil-live", CHART_VIEWS)
        open_view(d, url + CHART_VIEWS[0])
        wait_for(d, "document.getElementById('curves').data")
        legend = d.execute_script("return document.querySelector('#curves .legend').textContent")
        assert EVIL_LABEL in legend and "&lt;" not in legend  # shown as typed, once decoded


def test_report_chart_labels_are_text_not_links(evil_repo, tmp_path):
    """issue 19: the same for `expbook report` (the same charts, from one file)."""
    from click.testing import CliRunner

    from expbook.cli import cli

    out = tmp_path / "report.html"
    res = CliRunner().invoke(cli, ["report", "-R", str(evil_repo), "-o", str(out)])
    assert res.exit_code == 0, res.output
    with browser(offline=True) as d:
        _no_links_in_charts(d, out.as_uri(), tmp_path, "evil-report", REPORT_VIEWS)


def test_login_page_in_network_mode(ui_repo, tmp_path):
    """issue 19: with a secret the dashboard shows a login page; the secret sets an HttpOnly
    cookie (invisible to scripts) and opens the dashboard; a wrong one is refused."""
    from selenium.webdriver.common.by import By

    secret = "browser-secret-0123456789"
    with serve(create_app(str(ui_repo[0]), secret=secret)) as url, browser() as d:
        d.get(url)
        wait_for(d, "document.querySelector('input[name=secret]')")
        assert d.current_url.endswith("/login")
        shot(d, tmp_path, "login")
        d.find_element(By.NAME, "secret").send_keys("wrong-secret-xxxxxxxx")
        d.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for(d, "document.querySelector('.error').textContent.includes('Wrong secret')")
        d.find_element(By.NAME, "secret").send_keys(secret)
        d.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for(d, "document.querySelectorAll('#experiments tbody tr').length >= 4", 60)
        assert "expbook_session" not in d.execute_script("return document.cookie")
        cookie = d.get_cookie("expbook_session")
        assert (
            cookie["httpOnly"] and cookie["sameSite"] == "Strict" and secret not in cookie["value"]
        )
        shot(d, tmp_path, "after-login")
