// expbook dashboard pages with charts (Plotly.js, shipped offline, loaded by the first chart):
// charts, compare, stats (the run page is run.js's, the sweeps page sweeps.js's). Loaded after
// app.js and plots.js (the plotting kit: EB.plot, EB.colorOf, EB.curveTraces); user strings go
// through EB.h/textContent and, for Plotly, EB.plotSafe.
"use strict";
(function () {
  const { h, fmt, short } = EB;
  const plot = EB.plot, chartDiv = EB.chartDiv;

  // ---------------------------------------------------------------- charts page
  // one panel per step-curve metric, in a grid (W&B's workspace, Studio's plots): val/test
  // first, then train, then the rest, per-optimizer-step curves last. The chosen metrics
  // (m=, repeated), the columns (cols=) and the axes are in the URL.
  const isEval = (m) => /(^|[/:._])(val|valid|validation|test|eval)([/._]|$)/i.test(m);
  const isTrain = (m) => /(^|[/:._])train([/._]|$)/i.test(m);
  EB.orderMetrics = (ms) => [...ms].sort((a, b) => {
    const rank = (m) => (EB.isStepCurve(m) ? 3 : isEval(m) ? 0 : isTrain(m) ? 1 : 2);
    return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
  });
  const MAX_PANELS = 30;
  function metricChooser(all, shown, apply) {
    const on = new Set(shown);
    const filter = h("input", { type: "text", placeholder: "filter metrics", "aria-label": "filter metrics" });
    const boxes = all.map((m) => h("label", { "data-metric": m, title: m }, h("input", { type: "checkbox", checked: on.has(m), onchange: (e) => (e.target.checked ? on.add(m) : on.delete(m)) }), m));
    filter.addEventListener("input", () => boxes.forEach((b) => (b.hidden = !b.dataset.metric.toLowerCase().includes(filter.value.toLowerCase()))));
    return h("details", { class: "metric-chooser" }, h("summary", {}, "Metrics (" + shown.length + " of " + all.length + ")"),
      h("div", { class: "panel" }, h("div", { class: "toolbar" }, filter,
        h("button", { class: "primary", onclick: () => apply(all.filter((m) => on.has(m))) }, "Apply"),
        h("button", { onclick: () => apply([]) }, "All")), boxes));
  }
  // the panels on screen are drawn first (the page is ready then), the others as they scroll
  // into view: Plotly takes ~0.1 s a panel, 20+ panels at once would take seconds
  // the panels on screen are fetched and drawn first (the page is ready then), the others as
  // they scroll into view: Plotly takes ~0.1 s a panel, and 20 metrics of 20 runs are MBs of
  // curves. `fetch(metric)` reads one panel's curves; `onTimes()` when one has timestamps.
  async function curvePanels(grid, shown, all, st, fetch, onTimes, extra) {
    const group = st.band || "", jobs = new Map(), loads = new Map();
    const load = (m) => { if (!loads.has(m)) loads.set(m, fetch(m)); return loads.get(m); };
    for (const [i, m] of shown.entries()) {
      const div = chartDiv(i ? "curves-" + i : "curves", "panel-chart");
      div.dataset.metric = m;
      const head = h("h3", { title: m }, m);
      grid.append(h("div", { class: "card chart-panel" }, head, div));
      jobs.set(div, async () => {
        const cur = await load(m);
        const title = (cur.titles || (EB.report && EB.report.curve_titles) || {})[m];
        if (title) head.textContent = title;
        if (!cur.series.length) { div.replaceChildren(h("p", { class: "muted" }, "No curve of these runs.")); return; }
        if (EB.hasTimes(cur.series)) onTimes();
        const time = st.x === "time" && EB.hasTimes(cur.series);
        const maxStep = Math.max(0, ...cur.series.map((s) => Math.max(0, ...s.steps.filter((x) => x !== null))));
        const xaxis = time ? { title: { text: "wall-clock (s)" } } : { title: { text: EB.xLabel(m, all) }, ...EB.intAxis(maxStep) };
        await plot(div, EB.curveTraces(cur.series, { x: time ? "time" : "step", smooth: +(st.smooth || 0), group, legend: !!group, buckets: 200 }),
          { margin: { l: 55, r: 10, t: 10, b: 40 }, showlegend: !!group, legend: { orientation: "h", y: -0.25, font: { size: 10 } }, xaxis,
            yaxis: { type: st.log === "1" ? "log" : "linear", title: { text: short(m) } } });
      });
    }
    if (extra) jobs.set(...extra);  // the parallel coordinates and scatter below the grid
    let chain = Promise.resolve();
    const draw = (div) => {
      const job = jobs.get(div);
      jobs.delete(div);
      if (div.dataset.metric) load(div.dataset.metric);  // fetches run in parallel, draws in turn
      // one panel at a time, the browser painting in between (the first shows at once)
      const next = () => new Promise((resolve) => setTimeout(resolve, 0));
      return job ? (chain = chain.then(job).catch((err) => div.replaceChildren(EB.errorBox(err.message))).then(next)) : chain;
    };
    const near = (div) => { const r = div.getBoundingClientRect(); return r.top < innerHeight + 300 && r.bottom > -300; };
    const now = [...jobs.keys()].filter(near);
    if (typeof IntersectionObserver === "function") {
      const io = new IntersectionObserver((seen) => seen.forEach((e) => { if (e.isIntersecting) { io.unobserve(e.target); draw(e.target); } }), { rootMargin: "300px" });
      [...jobs.keys()].filter((div) => !now.includes(div)).forEach((div) => io.observe(div));
      EB.stop = () => io.disconnect();
    } else now.push(...[...jobs.keys()].filter((div) => !now.includes(div)));
    now.forEach((div) => div.dataset.metric && load(div.dataset.metric));
    await Promise.all(now.map(draw));
  }
  EB.pages.charts = async function (view, st) {
    const names = [].concat(st.name || []).filter(Boolean);
    const limit = +(st.limit || 100);
    let runNames = names;
    view.replaceChildren(h("h2", {}, "Charts"));
    if (!names.length) {
      let t, rows = [];
      do {  // pages of at most 1,000 rows
        t = await EB.get("table", { where: st.where || "", q: st.q || "", sort: st.sort || "", desc: st.desc || "", offset: rows.length, limit: Math.min(limit - rows.length, 1000) });
        rows = rows.concat(t.rows);
      } while (rows.length < Math.min(limit, t.total) && t.rows.length);
      runNames = rows.filter((r) => r.kind !== "workspace").map((r) => r.name);
      view.append(h("p", { class: "muted" }, "Runs: the first " + runNames.length + " of " + t.total + " filtered rows" + (st.where ? " (where " + st.where + ")" : "") + "; select rows in the table to chart others."));
    }
    EB.useColors(runNames);
    EB.plotly().catch(() => null);  // loads while the curves are fetched (errors: by the first chart)
    const set = (changes) => EB.go("charts", { ...st, ...changes }, true);
    const [first, pts] = await Promise.all([runNames.length ? EB.get("curves", { name: runNames }) : { metrics: [], series: [] }, EB.get("points", { where: st.where || "", q: st.q || "" })]);
    const all = EB.orderMetrics(first.metrics);
    const asked = [].concat(st.m || st.metric || []).filter((m) => all.includes(m));
    const shown = asked.length ? asked : all.slice(0, MAX_PANELS);
    const fetch = (m) => (m === first.metric ? Promise.resolve(first) : EB.get("curves", { name: runNames, metric: m }));
    const paramKeys = Object.keys(pts.params);
    // wall-clock only where a curve has a timestamp column (the pipeline's per-epoch files have
    // none): the choice appears when a panel with timestamps is loaded
    const xSlot = h("span", {});
    const xSel = h("select", { "aria-label": "x axis", onchange: (e) => set({ x: e.target.value }) }, h("option", { value: "step" }, "x = step / epoch"), h("option", { value: "time", selected: st.x === "time" }, "x = wall-clock (s)"));
    const controls = h("div", { class: "toolbar" },
      metricChooser(all, shown, (ms) => set({ m: ms, metric: "" })),
      h("select", { "aria-label": "columns", onchange: (e) => set({ cols: e.target.value }) },
        ["", "1", "2", "3", "4"].map((c) => h("option", { value: c, selected: (st.cols || "") === c }, c ? c + " per row" : "auto layout"))),
      xSlot,
      "smoothing", h("input", { type: "range", min: 0, max: 0.99, step: 0.01, value: st.smooth || 0, "aria-label": "smoothing", onchange: (e) => set({ smooth: e.target.value }) }),
      h("label", {}, h("input", { type: "checkbox", checked: st.log === "1", onchange: (e) => set({ log: e.target.checked ? "1" : "" }) }), " log y"),
      names.length ? null : h("label", {}, "runs ", h("input", { type: "number", min: 1, max: 2000, value: limit, style: "width:6em", "aria-label": "runs", onchange: (e) => set({ limit: e.target.value }) })),
      h("select", { "aria-label": "band group", onchange: (e) => set({ band: e.target.value }) }, h("option", { value: "" }, "one line per run"), paramKeys.map((k) => h("option", { value: k, selected: st.band === k }, "mean ± std by " + short(k)))));
    const grid = h("div", { class: "panel-grid", id: "panels", style: +st.cols ? "grid-template-columns: repeat(" + +st.cols + ", minmax(0, 1fr))" : null });
    view.append(controls, st.band ? null : EB.runLegend(runNames), grid);
    if (!all.length) grid.replaceChildren(h("p", { class: "muted" }, "No dvclive step curves for these runs."));
    const params = h("div", { class: "cards", id: "param-charts" });
    view.append(params);
    await curvePanels(grid, shown, all, st, fetch, () => xSlot.firstChild || xSlot.append(xSel), [params, () => paramCharts(params, st, pts, set)]);
  };

  // parallel coordinates (varied params first, a log axis for params spanning decades) and a scatter
  function dimension(label, vals) {
    if (!vals.every((v) => v === null || typeof v === "number")) {
      const cats = [...new Set(vals.map(fmt))];
      return { label, values: vals.map((v) => cats.indexOf(fmt(v))), tickvals: cats.map((_, i) => i), ticktext: cats };
    }
    const xs = vals.filter((v) => typeof v === "number");
    const lo = Math.min(...xs), hi = Math.max(...xs);
    if (!(lo > 0 && hi / lo >= 20)) return { label, values: vals.map((v) => (v === null ? NaN : v)) };
    // log10 of the values, labelled with the values themselves (or powers of ten when many)
    const distinct = [...new Set(xs)].sort((a, b) => a - b);
    const ticks = distinct.length <= 8 ? distinct : Array.from({ length: Math.floor(Math.log10(hi)) - Math.ceil(Math.log10(lo)) + 1 }, (_, i) => 10 ** (Math.ceil(Math.log10(lo)) + i));
    return { label: label + " (log)", values: vals.map((v) => (typeof v === "number" ? Math.log10(v) : NaN)), tickvals: ticks.map(Math.log10), ticktext: ticks.map((t) => fmt(t)) };
  }
  EB.paramDimension = dimension;
  async function paramCharts(view, st, pts, set) {
    const distinct = (k) => new Set(pts.params[k].map((v) => JSON.stringify(v))).size;
    const paramKeys = Object.keys(pts.params).sort((a, b) => (distinct(b) > 1) - (distinct(a) > 1) || distinct(b) - distinct(a));
    const metricKeys = Object.keys(pts.metrics);
    const pm = st.pc && metricKeys.includes(st.pc) ? st.pc : EB.defaultMetric(metricKeys, (k) => pts.metrics[k]);
    const pcDiv = chartDiv("parcoords"), scDiv = chartDiv("scatter");
    const sx = st.sx && paramKeys.includes(st.sx) ? st.sx : paramKeys[0];
    view.append(h("div", { class: "card" }, h("h3", {}, "Parallel coordinates: params → ",
        h("select", { "aria-label": "parallel metric", onchange: (e) => set({ pc: e.target.value }) }, metricKeys.map((m) => h("option", { value: m, selected: m === pm }, short(m))))), pcDiv),
      h("div", { class: "card" }, h("h3", {}, "Scatter: ",
        h("select", { "aria-label": "scatter param", onchange: (e) => set({ sx: e.target.value }) }, paramKeys.map((k) => h("option", { value: k, selected: k === sx }, short(k)))), " vs " + (pm ? short(pm) : "")), scDiv));
    if (!(pm && paramKeys.length)) {
      pcDiv.replaceChildren(h("p", { class: "muted" }, "No param varies across these rows."));
      scDiv.replaceChildren(h("p", { class: "muted" }, "No param varies across these rows."));
      return;
    }
    const color = pts.metrics[pm].map((v) => (typeof v === "number" ? v : NaN));
    await plot(pcDiv, [{ type: "parcoords", line: { color, colorscale: "Viridis", showscale: true },
      dimensions: [...paramKeys.map((k) => dimension(short(k), pts.params[k])), dimension(short(pm), pts.metrics[pm])] }], { margin: { l: 60, r: 60, t: 40, b: 30 } });
    const xs = pts.params[sx], numeric = xs.every((v) => v === null || typeof v === "number");
    const logX = numeric && dimension("", xs).label.endsWith("(log)");
    await plot(scDiv, [{ type: xs.length > 2000 ? "scattergl" : "scatter", mode: "markers", x: numeric ? xs : xs.map(fmt), y: pts.metrics[pm], text: pts.names,
      marker: { size: 7, opacity: 0.8, color: pts.names.map((n) => EB.colorOf(n)) } }],
    { xaxis: { title: { text: short(sx) }, type: logX ? "log" : "-" }, yaxis: { title: { text: short(pm) } } });
  }

  // one metric's curves: "epoch" or "step" with integer ticks, the metric on y
  function curveLayout(cur) {
    const maxStep = Math.max(0, ...cur.series.map((s) => Math.max(0, ...s.steps.filter((x) => x !== null))));
    return { xaxis: { title: { text: EB.xLabel(cur.metric, cur.metrics) }, ...EB.intAxis(maxStep) }, yaxis: { title: { text: short(cur.metric || "") } } };
  }

  // ---------------------------------------------------------------- compare page
  EB.pages.compare = async function (view, st) {
    const names = [].concat(st.name || []).filter(Boolean);
    view.replaceChildren(h("h2", {}, "Compare"));
    if (names.length < 2) { view.append(h("p", { class: "muted" }, "Select two or more rows in the Experiments table, then “Compare selected”.")); return; }
    const c = await EB.get("compare", { name: names });
    EB.useColors(names);
    const head = h("tr", {}, h("th", {}, "key"), c.experiments.map((x) => h("th", { "data-name": x.name }, h("i", { class: "swatch", style: "background:" + EB.colorOf(x.name) }), h("a", { href: "#/exp?" + new URLSearchParams({ name: x.name }) }, x.name))));
    const paramRows = Object.entries(c.params).map(([k, vs]) => h("tr", {}, h("td", { title: k }, short(k)), vs.map((v) => h("td", { title: fmt(v) }, EB.num(v)))));
    const delta = (m, i) => (m.deltas[i] !== null && i ? " (" + (m.deltas[i] >= 0 ? "+" : "") + EB.num(m.deltas[i]) + ")" : "");
    const differs = (m) => m.values.some((v) => JSON.stringify(v) !== JSON.stringify(m.values[0]));
    const allMetrics = Object.entries(c.metrics), same = allMetrics.filter(([, m]) => !differs(m)).length;
    const metricRows = allMetrics.filter(([, m]) => st.all === "1" || differs(m))
      .map(([k, m]) => h("tr", {}, h("td", { title: k }, short(k)), m.values.map((v, i) => h("td", { class: "num", title: fmt(v) }, EB.num(v) + delta(m, i)))));
    const sameNote = same ? h("p", { class: "muted" }, st.all === "1" ? "" : same + " metrics equal in every run are hidden · ",
      h("a", { href: "#/compare?" + new URLSearchParams([...names.map((n) => ["name", n]), ...(st.metric ? [["metric", st.metric]] : []), ...(st.all === "1" ? [] : [["all", "1"]])]) }, st.all === "1" ? "hide equal metrics" : "show all")) : null;
    view.append(h("div", { class: "cards" },
      h("div", { class: "card" }, h("h3", {}, "Params that differ"), h("table", { class: "grid", id: "cmp-params" }, h("thead", {}, head.cloneNode(true)), h("tbody", {}, paramRows))),
      h("div", { class: "card" }, h("h3", {}, "Metrics (Δ vs the first)"), h("table", { class: "grid", id: "cmp-metrics" }, h("thead", {}, head), h("tbody", {}, metricRows)), sameNote)));
    const cur = await EB.get("curves", { name: names, metric: st.metric || "" });
    const div = chartDiv("curves");
    view.append(h("div", { class: "card" }, h("h3", {}, "Curves ", h("select", { "aria-label": "metric", onchange: (e) => EB.go("compare", { ...st, metric: e.target.value }, true) },
      cur.metrics.map((m) => h("option", { value: m, selected: m === cur.metric }, m)))), div));
    if (cur.series.length) await plot(div, EB.curveTraces(cur.series, {}), curveLayout(cur));
    else div.replaceChildren(h("p", { class: "muted" }, "No step curves."));
  };

  // ---------------------------------------------------------------- stats page
  EB.pages.stats = async function (view, st) {
    const set = (changes) => EB.go("stats", { ...st, ...changes });
    const box = (key, ph) => { const el = h("input", { type: "text", placeholder: ph, value: st[key] || "", "aria-label": key }); el.addEventListener("keydown", (e) => e.key === "Enter" && set({ [key]: el.value.trim() })); return el; };
    view.replaceChildren(h("h2", {}, "Seed groups and significance"), h("div", { class: "toolbar" }, box("where", "where"), box("metric", "metric (e.g. val.acc)"), box("group", "group by params (comma)"), box("baseline", "baseline group or experiment")));
    const s = await EB.get("stats", { where: st.where || "", metric: st.metric || "", group: st.group || "", baseline: st.baseline || "" });
    const cols = ["group", "n", "mean", "std", "ci_low", "ci_high", "diff", "p_welch", "p_paired", "p_holm", "cohen_d", "significant", "note"];
    view.append(h("p", { class: "muted" }, "metric " + s.metric + " · groups by " + (s.group_keys.join(", ") || "(none differ)") + " · seeds " + ((s.seed_keys || []).join(", ") || "none") + " · α = " + s.alpha),
      h("div", { class: "tablewrap" }, h("table", { class: "grid", id: "stats" }, h("thead", {}, h("tr", {}, cols.map((c) => h("th", {}, c)))),
        h("tbody", {}, s.groups.map((g) => h("tr", { class: g.baseline ? "sel" : "" }, cols.map((c) => h("td", { class: typeof g[c] === "number" ? "num" : "", title: fmt(g[c]) }, c === "group" && g.baseline ? g[c] + " (baseline)" : c.startsWith("p_") ? fmt(g[c]) : EB.num(g[c])))))))));
    const div = chartDiv("stats-chart");
    view.append(h("div", { class: "card" }, div));
    // one line per key=value under each box (plotly reads its own <br>; the text is entity-escaped)
    const label = (g) => g.group.split(", ").map(EB.plotText).join("<br>");
    const lines = Math.max(1, ...s.groups.map((g) => g.group.split(", ").length));
    await plot(div, s.groups.map((g) => ({ type: "box", name: label(g), y: g.values, boxpoints: "all", jitter: 0.3 })),
      { showlegend: false, margin: { l: 55, r: 15, t: 30, b: 20 + 14 * lines }, xaxis: { tickangle: 0, tickfont: { size: 10 } }, yaxis: { title: { text: EB.plotText(short(s.metric)) } } }, true);
  };
})();
