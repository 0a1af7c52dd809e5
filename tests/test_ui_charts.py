"""Charts of the dashboard and the report in a real browser (headless Debian chromium via
selenium), issue 21: run colours that stay (20 runs, 20 colours, the same on Charts, Compare and
the report), one panel per metric with its axes titled, markers on 1-point curves, the table
painted without Plotly, a report of the demo's runs under 2 MB that names no local path.
Screenshots at 1280x800 and 1920x1080 land in the test's tmp dir (and $EXPBOOK_SCREENSHOTS).
"""

from __future__ import annotations

import os
import shutil
import time
from urllib.parse import urlencode

import pytest

from demo_repo import build_demo_repo
from ui_helpers import BROWSER_MARKS, browser, serve, wait_for

pytest.importorskip("selenium")
pytest.importorskip("starlette")

from expbook.ui import create_app

pytestmark = BROWSER_MARKS

SIZES = [(1280, 800), (1920, 1080)]
# the page is ready once the panels on screen are drawn (the others, and the parallel
# coordinates below them, draw as they scroll into view)
PANELS_READY = "document.body.dataset.ready === 'charts'"
DRAWN = "[...document.querySelectorAll('.panel-chart')].filter(p => p.data)"


@pytest.fixture(scope="module")
def many_runs(tmp_path_factory):
    """20 experiments, learning rates 1e-4..1e-1; run-00 trained 1 epoch (1-point curves)."""
    path = tmp_path_factory.mktemp("many") / "repo"
    lrs = [10 ** (-4 + 3 * k / 19) for k in range(20)]
    names = build_demo_repo(path, lrs, epochs=[1] + [6] * 19, prefix="run-")
    return path, names


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo's three learning rates, shaped like `make demo`'s runs."""
    path = tmp_path_factory.mktemp("demo") / "repo"
    return path, build_demo_repo(path, [3e-4, 3e-3, 1e-2])


def shots(driver, tmp_path, name: str) -> None:
    """One screenshot per size (the page re-laid out at each)."""
    for w, h in SIZES:
        driver.set_window_size(w, h)
        time.sleep(0.8)  # plotly's responsive relayout
        target = tmp_path / f"{name}-{w}x{h}.png"
        driver.save_screenshot(str(target))
        extra = os.environ.get("EXPBOOK_SCREENSHOTS")
        if extra:
            os.makedirs(extra, exist_ok=True)
            shutil.copy(target, os.path.join(extra, target.name))
    driver.set_window_size(1400, 1000)


def open_view(driver, url: str, ready: str = "document.body.dataset.ready") -> None:
    driver.get(url)
    driver.execute_script("document.body.dataset.ready = ''")
    driver.refresh()
    wait_for(driver, ready, 60)


def hex_to_rgb(color: str) -> str:
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def trace_colours(driver, div: str = "curves") -> dict[str, str]:
    """{run name: its line colour} of a Plotly chart."""
    wait_for(driver, f"document.getElementById('{div}') && document.getElementById('{div}').data")
    pairs = driver.execute_script(
        f"return document.getElementById('{div}').data.map(t => [t.name, t.line.color])"
    )
    return {name: hex_to_rgb(color) for name, color in pairs}


def named_swatches(driver, selector: str) -> dict[str, str]:
    return driver.execute_script(
        f"return Object.fromEntries([...document.querySelectorAll('{selector}')].map(e =>"
        " [e.dataset.name, getComputedStyle(e.querySelector('i')).backgroundColor]))"
    )


def _q(names: list[str], **extra: str) -> str:
    return urlencode([("name", n) for n in names] + list(extra.items()))


def test_twenty_runs_twenty_colours_everywhere(many_runs, tmp_path):
    """issue 21: Plotly's 10-colour cycle gave two runs one colour after 10 runs, and a run's
    colour was its position (it changed from page to page). Now: 20 runs, 20 distinct colours,
    the same on Charts, Compare and in the report."""
    from click.testing import CliRunner

    from expbook.cli import cli

    path, names = many_runs
    with serve(create_app(str(path))) as url, browser() as d:
        open_view(d, url + "#/charts?" + _q(names), PANELS_READY)
        charts = trace_colours(d)
        assert set(charts) == set(names) and len(set(charts.values())) == 20
        assert named_swatches(d, "#run-legend .run-key") == charts  # the legend agrees
        for other in d.execute_script(f"return {DRAWN}.map(p => p.id)"):
            assert trace_colours(d, other) == charts  # every panel agrees
        shots(d, tmp_path, "charts-20-runs")
        open_view(d, url + "#/compare?" + _q(names[::-1]))  # another order, the same colours
        wait_for(d, "document.getElementById('curves') && document.getElementById('curves').data")
        assert trace_colours(d) == charts
        assert named_swatches(d, "#cmp-params th[data-name]") == charts
        shots(d, tmp_path, "compare-20-runs")

    out = tmp_path / "report.html"
    res = CliRunner().invoke(cli, ["report", "-R", str(path), "-o", str(out)])
    assert res.exit_code == 0, res.output
    with browser(offline=True) as d:
        open_view(d, out.as_uri() + "#/charts?" + _q(names), PANELS_READY)
        assert trace_colours(d) == charts
        shots(d, tmp_path, "report-charts-20-runs")
        open_view(d, out.as_uri() + "#/compare?" + _q(names[:3]))
        wait_for(d, "document.getElementById('curves') && document.getElementById('curves').data")
        three = trace_colours(d)
        assert len(set(three.values())) == 3


def test_one_point_curve_has_a_visible_marker(many_runs, tmp_path):
    """issue 21: a 1-epoch run's curve (one point) was drawn with mode "lines": invisible."""
    path, names = many_runs
    with serve(create_app(str(path))) as url, browser() as d:
        open_view(d, url + "#/charts?" + _q(names[:3], m="val/acc"), PANELS_READY)
        wait_for(d, "document.getElementById('curves') && document.getElementById('curves').data")
        data = d.execute_script(
            "return document.getElementById('curves').data.map(t => [t.name, t.x.length, t.mode])"
        )
        one = [i for i, (name, n, mode) in enumerate(data) if name == names[0]]
        assert one and data[one[0]][1] == 1 and "markers" in data[one[0]][2]
        box = d.execute_script(
            "const t = document.querySelectorAll('#curves .scatterlayer .trace')[arguments[0]];"
            "const p = t && t.querySelector('.points path');"
            "if (!p) return null; const r = p.getBoundingClientRect(); return [r.width, r.height]",
            one[0],
        )
        assert box and box[0] >= 5 and box[1] >= 5, box  # drawn, and big enough to see


def test_grid_has_one_panel_per_metric_with_axis_titles(demo, tmp_path):
    """issue 21: the Charts page showed one metric at a time; now one panel per metric (val/test
    first, titled as dvc.yaml says), each with its axes titled ("epoch" for per-epoch curves,
    "step" for per-step ones) and integer ticks; wall-clock only where a curve has timestamps;
    the choice in the URL."""
    path, names = demo
    with serve(create_app(str(path))) as url, browser() as d:
        open_view(d, url + "#/charts?" + _q(names), PANELS_READY)
        # panels below the fold are drawn when scrolled to, not before
        drawn = d.execute_script(f"return {DRAWN}.length")
        assert 0 < drawn < 13, drawn
        for y in range(0, 4000, 500):  # as a reader scrolls
            d.execute_script(f"window.scrollTo(0, {y})")
            time.sleep(0.15)
        wait_for(d, f"{DRAWN}.length === 13")
        d.execute_script("window.scrollTo(0, 0)")
        panels = d.execute_script(
            "return [...document.querySelectorAll('.panel-chart')].map(p => [p.dataset.metric,"
            " p.layout.xaxis.title.text, p.layout.yaxis.title.text, p.layout.xaxis.dtick,"
            " p.layout.xaxis.tickformat, p.data.length])"
        )
        metrics = [p[0] for p in panels]
        assert len(metrics) == 13 and len(set(metrics)) == 13  # 8 per-epoch + 5 per-step curves
        assert metrics[:5] == ["val/acc", "val/f1", "val/loss", "val/precision", "val/recall"]
        for metric, xtitle, ytitle, dtick, tickformat, n in panels:
            assert ytitle == metric and n == 3
            assert xtitle == ("step" if metric.startswith("step/") else "epoch"), metric
            assert dtick >= 1 and dtick == int(dtick) and tickformat == "d"
        # titles from dvc.yaml: the val folder's entry has `title: Validation curves`
        heads = d.execute_script(
            "return [...document.querySelectorAll('.chart-panel h3')].map(h => h.textContent)"
        )
        assert heads[0] == "Validation curves: val/acc" and heads[5] == "train/acc", heads
        # the step curves have a timestamp column: wall-clock is offered
        assert d.execute_script("return !!document.querySelector('select[aria-label=\"x axis\"]')")
        shots(d, tmp_path, "charts-grid")

        # the chosen metrics and columns live in the URL; per-epoch curves have no timestamps
        open_view(
            d, url + "#/charts?" + _q(names, m="val/loss", cols="2") + "&m=train/acc", PANELS_READY
        )
        assert d.execute_script(
            "return [...document.querySelectorAll('.panel-chart')].map(p => p.dataset.metric)"
        ) == ["val/loss", "train/acc"]
        assert "repeat(2" in d.execute_script(
            "return document.getElementById('panels').style.cssText"
        )
        assert not d.execute_script(
            "return !!document.querySelector('select[aria-label=\"x axis\"]')"
        )


def test_parallel_coordinates_log_axis_for_learning_rates(many_runs):
    """issue 21: learning rates spanning decades were squeezed on a linear axis."""
    path, names = many_runs
    with serve(create_app(str(path))) as url, browser() as d:
        open_view(d, url + "#/charts?" + _q(names[:4]), PANELS_READY)
        d.execute_script("document.getElementById('param-charts').scrollIntoView()")
        wait_for(
            d, "document.getElementById('parcoords') && document.getElementById('parcoords').data"
        )
        labels = d.execute_script(
            "return document.getElementById('parcoords').data[0].dimensions.map(x => x.label)"
        )
        assert labels[0] == "train.lr (log)", labels  # the most varied param first, on a log axis


def test_band_counts_the_workspace_at_head_once(demo):
    """issue 21: the workspace row (equal to HEAD) was a second run in mean ± std: n=2, ± 0."""
    path, _names = demo
    with serve(create_app(str(path))) as url, browser() as d:
        q = _q(["workspace", "main"], band="params.yaml:train.lr", m="val/acc")
        open_view(d, url + "#/charts?" + q, PANELS_READY)
        wait_for(d, "document.getElementById('curves') && document.getElementById('curves').data")
        traces = d.execute_script(
            "return document.getElementById('curves').data.map(t => [t.name, t.fill || ''])"
        )
        assert traces == [["train.lr=0.001 (n=1)", ""]], traces  # one run, no ±0 band


def test_table_paints_without_plotly(demo):
    """issue 21: the first paint waited for the 4.8 MB Plotly bundle the table does not use."""
    path, _names = demo
    with serve(create_app(str(path))) as url, browser() as d:
        open_view(d, url + "#/table")
        wait_for(d, "document.querySelectorAll('#experiments tbody tr').length >= 4")
        loaded = d.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
            ".filter(n => n.includes('plotly'))"
        )
        assert loaded == [] and d.execute_script("return typeof window.Plotly") == "undefined"
        # the first chart loads it
        open_view(d, url + "#/charts", PANELS_READY)
        assert d.execute_script("return typeof window.Plotly") == "object"


def test_report_of_the_demo_is_small_and_names_no_local_path(demo, tmp_path):
    """issue 21: `expbook report` of the demo's runs was 5.5 MB (4.8 MB of it Plotly) and showed
    the repository's local absolute path; now <= 2 MB, one offline file, the folder's name only."""
    from click.testing import CliRunner

    from expbook.cli import cli

    path, names = demo
    out = tmp_path / "report.html"
    res = CliRunner().invoke(cli, ["report", "-R", str(path), "-o", str(out)])
    assert res.exit_code == 0, res.output
    size = out.stat().st_size
    assert size <= 2_000_000, size
    raw = out.read_bytes()
    assert str(path).encode() not in raw
    with browser(offline=True) as d:
        open_view(d, out.as_uri() + "#/table")
        wait_for(d, "document.querySelectorAll('#experiments tbody tr').length >= 4")
        assert d.execute_script("return typeof window.Plotly") == "undefined"
        assert str(path) not in d.execute_script("return JSON.stringify(EB.report)")
        status = d.execute_script("return document.getElementById('status').textContent")
        assert status.endswith("· repo") and str(path) not in status
        shots(d, tmp_path, "report-table")
        open_view(d, out.as_uri() + "#/charts?" + _q(names), PANELS_READY)
        assert d.execute_script("return document.querySelectorAll('.panel-chart').length") == 13
        title = d.execute_script("return document.querySelector('.chart-panel h3').textContent")
        assert title == "Validation curves: val/acc"  # dvc.yaml's title, in the file too
        wait_for(d, "document.getElementById('curves') && document.getElementById('curves').data")
        assert d.execute_script("return document.getElementById('curves').data.length") == 3
        shots(d, tmp_path, "report-charts")
