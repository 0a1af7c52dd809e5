"""The team dashboard in a real browser (issue 23 acceptance): `expbook ui --remote origin
--users FILE` run as a user runs it, bound to 127.0.0.2 (local, but not a loopback bind: network
mode), over a bare git remote on disk. Login is required and a wrong secret refused; it is
read-only by default; with --allow-writes a tag set in the page reaches the remote as the
signed-in user and another clone after `expbook pull`; two users tagging at once both land.
Screenshots (login page, team view, experiment page) land in the test's tmp dir and in
$EXPBOOK_SCREENSHOTS when set.
"""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest

from conftest import dvc, sh
from team_ui_helpers import ALICE, BOB, build_team, expbook_ui, remote_note
from test_sweep_support import run_cli
from ui_helpers import BROWSER_MARKS, browser, free_port, wait_for

pytest.importorskip("selenium")
pytest.importorskip("starlette")

pytestmark = BROWSER_MARKS

HOST = "127.0.0.2"


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    return build_team(tmp_path_factory.mktemp("teambrowser"))


def shot(driver, tmp_path, name: str) -> None:
    time.sleep(0.3)
    target = tmp_path / f"{name}.png"
    driver.save_screenshot(str(target))
    extra = os.environ.get("EXPBOOK_SCREENSHOTS")
    if extra:
        os.makedirs(extra, exist_ok=True)
        shutil.copy(target, os.path.join(extra, f"{name}.png"))


def login(d, url: str, secret: str) -> None:
    from selenium.webdriver.common.by import By

    d.get(url)
    wait_for(d, "document.querySelector('input[name=secret]')")
    d.find_element(By.NAME, "secret").send_keys(secret)
    d.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(d, "document.querySelectorAll('#experiments tbody tr').length >= 3", 60)


def open_exp(d, url: str, name: str) -> None:
    d.get(url + f"#/exp?name={name}")
    wait_for(d, "document.getElementById('tags')", 60)


def rows(d) -> list[str]:
    return d.execute_script(
        "return [...document.querySelectorAll('#experiments tbody tr')].map(r => r.dataset.name)"
    )


def test_login_required_and_read_only_by_default(team, tmp_path):
    from selenium.webdriver.common.by import By

    args = ["--remote", "origin", "--users", str(team["users"])]
    log = tmp_path / "ui.log"
    with expbook_ui(team["server"], HOST, free_port(), *args, log=log) as url, browser() as d:
        d.get(url)
        wait_for(d, "document.querySelector('input[name=secret]')")
        assert d.current_url.endswith("/login")
        shot(d, tmp_path, "team-login")
        d.find_element(By.NAME, "secret").send_keys("not-a-users-secret-123")
        d.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for(d, "document.querySelector('.error').textContent.includes('Wrong secret')")
        login(d, url, ALICE)
        assert set(rows(d)) == {"main", "a", "b", "bob-1"}
        # the team bar, and who ran each experiment (a column when the authors differ)
        wait_for(d, "document.getElementById('team-user')")
        assert d.find_element(By.ID, "team-user").text == "signed in as Alice Liddell"
        assert "team: origin" in d.find_element(By.ID, "team-remote").text
        assert "null" not in d.find_element(By.ID, "team").text
        authors = d.execute_script(
            "const i = [...document.querySelectorAll('#experiments thead tr:last-child th')]"
            ".findIndex(th => th.textContent.trim() === 'author');"
            "return i < 0 ? null : [...document.querySelectorAll('#experiments tbody tr')]"
            ".map(r => r.children[i].textContent)"
        )
        assert authors is not None and "bob" in authors, authors
        shot(d, tmp_path, "team-view")
        # live: bob pushes another experiment; "Fetch now" shows it without a reload
        dvc("exp", "run", "-q", "-n", "bob-2", "-S", "lr=0.6", cwd=team["bob"])
        run_cli(team["bob"], "push", "origin", "--no-cache")
        d.find_element(By.ID, "fetch-now").click()
        wait_for(d, "[...document.querySelectorAll('#experiments tbody tr')]"
                 ".some(r => r.dataset.name === 'bob-2')", 60)  # fmt: skip
        shot(d, tmp_path, "team-view-fetched")
        open_exp(d, url, "a")
        wait_for(d, "document.body.textContent.includes('read-only')")
        assert not d.find_elements(By.ID, "tag-text")
    assert "read-only" in (tmp_path / "ui.log").read_text()
    assert remote_note(team["remote"], team["shas"]["a"]) == ""


def test_tag_in_the_page_reaches_the_remote_and_another_clone(team, tmp_path):
    from selenium.webdriver.common.by import By

    args = ["--remote", "origin", "--users", str(team["users"]), "--allow-writes"]
    with expbook_ui(team["server"], HOST, free_port(), *args, log=tmp_path / "ui.log") as url:
        with browser() as d:
            login(d, url, BOB)
            open_exp(d, url, "a")
            d.find_element(By.ID, "tag-text").send_keys("from-the-browser")
            d.find_element(By.ID, "add-tag").click()
            wait_for(d, "document.getElementById('tags').textContent.includes('from-the-browser')")
            shot(d, tmp_path, "team-tagged")
        sha = team["shas"]["a"]
        assert "from-the-browser" in json.loads(remote_note(team["remote"], sha))["tags"]
        log = sh("git", "log", "-1", "--format=%an <%ae>", "refs/notes/expbook",
                 cwd=team["remote"])  # fmt: skip
        assert log.stdout.strip() == "bob <bob@expbook.invalid>"
        run_cli(team["carol"], "pull", "origin")
        shown = json.loads(run_cli(team["carol"], "show", "a", "--json").stdout)
        assert "from-the-browser" in shown["tags"]

        # alice and bob, each in a browser, tag experiment b at the same moment
        with browser() as d1, browser() as d2:
            login(d1, url, ALICE)
            login(d2, url, BOB)
            for d, tag in ((d1, "alice-was-here"), (d2, "bob-was-here")):
                open_exp(d, url, "b")
                d.find_element(By.ID, "tag-text").send_keys(tag)
            d1.execute_script("document.getElementById('add-tag').click()")
            d2.execute_script("document.getElementById('add-tag').click()")
            wait_for(d1, "document.getElementById('tags').textContent.includes('alice-was-here')")
            wait_for(d2, "document.getElementById('tags').textContent.includes('bob-was-here')")
        tags = json.loads(remote_note(team["remote"], team["shas"]["b"]))["tags"]
        assert {"alice-was-here", "bob-was-here"} <= set(tags)
