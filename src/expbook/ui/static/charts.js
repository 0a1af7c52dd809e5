// expbook dashboard pages with charts (Plotly.js, shipped offline, loaded by the first chart):
// charts, experiment, compare, sweeps (live), stats. Loaded after app.js and plots.js (the
// plotting kit: EB.plot, EB.colorOf, EB.curveTraces); user strings go through EB.h/textContent
// and, for Plotly, EB.plotSafe.
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

  // ---------------------------------------------------------------- experiment page
  function kv(obj) {
    // keys are `file:key`: one heading per file, then the short keys (the full key in the title)
    const keys = Object.keys(obj || {});
    if (!keys.length) return h("p", { class: "muted" }, "none");
    const file = (k) => (k.includes(":") ? k.slice(0, k.indexOf(":")) : "");
    const rows = [];
    keys.forEach((k, i) => {
      if (file(k) && (i === 0 || file(keys[i - 1]) !== file(k))) rows.push(h("tr", {}, h("th", { colspan: 2 }, file(k))));
      rows.push(h("tr", {}, h("td", { title: k }, short(k)), h("td", {}, fmt(obj[k]))));
    });
    return h("div", { class: "kvwrap" }, h("table", { class: "kv" }, h("tbody", {}, rows)));
  }
  async function sklearnPlot(div, name, path) {
    const url = EB.fileUrl(name, path);
    const text = EB.report ? atob(url.split(",")[1] || "") : await (await fetch(url)).text();
    // dvclive writes Python's json: a ROC threshold can be a bare Infinity or NaN
    const doc = JSON.parse(text.replace(/(?<=[:\[,]\s*)-?(Infinity|NaN)\b/g, "null"));
    const rows = Array.isArray(doc) ? doc : Object.values(doc)[0];
    if (!Array.isArray(rows) || !rows.length) return;
    const keys = Object.keys(rows[0]);
    if (keys.includes("actual") && keys.includes("predicted")) {
      const labels = [...new Set(rows.flatMap((r) => [String(r.actual), String(r.predicted)]))];
      if (labels.every((l) => l !== "" && !isNaN(+l))) labels.sort((a, b) => a - b); else labels.sort();
      const z = labels.map(() => labels.map(() => 0));
      for (const r of rows) z[labels.indexOf(String(r.actual))][labels.indexOf(String(r.predicted))]++;
      // plotly's "Blues" runs dark -> light: reversed, so that large counts are dark
      await plot(div, [{ type: "heatmap", z, x: labels, y: labels, colorscale: "Blues", reversescale: true,
        texttemplate: "%{z}", hovertemplate: "actual %{y}, predicted %{x}: %{z}<extra></extra>" }],
        { xaxis: { title: { text: "predicted" }, type: "category" }, yaxis: { title: { text: "actual" }, type: "category", autorange: "reversed" } });
    } else {
      let [xk, yk] = keys.filter((k) => typeof rows[0][k] === "number" || rows[0][k] === null);
      if (keys.includes("recall") && keys.includes("precision")) [xk, yk] = ["recall", "precision"];
      if (keys.includes("fpr") && keys.includes("tpr")) [xk, yk] = ["fpr", "tpr"];
      await plot(div, [{ type: "scatter", mode: "lines", x: rows.map((r) => r[xk]), y: rows.map((r) => r[yk]) }], { xaxis: { title: { text: xk } }, yaxis: { title: { text: yk } } });
    }
  }
  EB.pages.exp = async function (view, st) {
    const e = await EB.get("experiment", { name: st.name || "" });
    const row = e.row;
    const cards = h("div", { class: "cards" });
    view.replaceChildren(h("h2", {}, e.name, " ", h("span", { class: "status-" + e.status }, "(" + e.status + ")")),
      h("p", { class: "muted" }, row.kind + " · " + (e.rev || "").slice(0, 12) + " · " + (e.created || "") + " · " + (e.message || "")), cards);
    cards.append(h("div", { class: "card" }, h("h3", {}, "Commands"), h("pre", { id: "commands" }, e.commands.join("\n"))));
    const notesList = h("ul", { id: "notes" }, (e.notes || []).map((n) => h("li", {}, n)));
    const tags = h("div", { id: "tags" }, (e.tags || []).map((t) => h("span", { class: "tag" }, t,
      EB.readOnly ? null : h("button", { "aria-label": "remove tag " + t, onclick: () => write("tag", { tag: t, remove: true }) }, "×"))));
    const msg = h("div", {});
    async function write(what, body) {
      try { await EB.post(what, { name: e.name, version: e.version, ...body }); EB.render(); } catch (err) { msg.replaceChildren(EB.errorBox(err.message)); }
    }
    const noteBox = h("input", { type: "text", id: "note-text", placeholder: "add a note", "aria-label": "note" });
    const tagBox = h("input", { type: "text", id: "tag-text", placeholder: "add a tag", "aria-label": "tag" });
    cards.append(h("div", { class: "card" }, h("h3", {}, "Notes and tags"), notesList, tags, msg,
      EB.readOnly ? h("p", { class: "muted" }, "read-only") : h("div", { class: "toolbar" }, noteBox,
        h("button", { id: "add-note", onclick: () => noteBox.value.trim() && write("note", { text: noteBox.value }) }, "Add note"), tagBox,
        h("button", { id: "add-tag", onclick: () => tagBox.value.trim() && write("tag", { tag: tagBox.value }) }, "Add tag"))));
    cards.append(h("div", { class: "card" }, h("h3", {}, "Params"), kv(e.params)), h("div", { class: "card" }, h("h3", {}, "Metrics"), kv(e.metrics)));
    const summaries = Object.entries(e.curves || {});
    if (summaries.length) {
      cards.append(h("div", { class: "card" }, h("h3", {}, "Curve summaries"), h("table", { class: "grid" },
        h("thead", {}, h("tr", {}, ["curve", "steps", "last", "best", "best step", "min", "max"].map((c) => h("th", {}, c)))),
        h("tbody", {}, summaries.map(([k, s]) => h("tr", {}, h("td", {}, k), [s.steps, s.last, s.best, s.best_step, s.min, s.max].map((v) => h("td", { class: "num", title: fmt(v) }, EB.num(v)))))))));
    }
    const outs = Object.entries(e.outs || {});
    cards.append(h("div", { class: "card" }, h("h3", {}, "Outputs"), outs.length ? h("table", { class: "grid" },
      h("thead", {}, h("tr", {}, ["path", "hash", "size", "in local cache", "in git"].map((c) => h("th", {}, c)))),
      h("tbody", {}, outs.map(([p, o]) => h("tr", {}, h("td", {}, p), h("td", {}, String(o.hash || "").slice(0, 14)), h("td", { class: "num" }, fmt(o.size)), h("td", {}, o.in_cache ? "yes" : "no"), h("td", {}, o.in_git ? "yes" : "no"))))) : h("p", { class: "muted" }, "none")));
    if (e.environment) cards.append(h("div", { class: "card" }, h("h3", {}, "Environment: " + e.environment.path), h("pre", {}, JSON.stringify(e.environment.content, null, 1))));
    if (Object.keys(e.errors || {}).length) cards.append(h("div", { class: "card" }, h("h3", {}, "Errors"), kv(e.errors)));
    const media = h("div", { class: "cards media", id: "media" });
    view.append(h("h2", {}, "Images and plots"), media);
    for (const m of e.media || []) {
      if (m.kind === "image") media.append(h("div", { class: "card" }, h("h3", {}, m.path + " (" + m.source + ")"), h("img", { src: EB.fileUrl(e.name, m.path), alt: m.path })));
      else {
        const div = chartDiv("plot-" + m.path.replace(/[^a-z0-9]/gi, "-"));
        media.append(h("div", { class: "card" }, h("h3", {}, m.path), div));
        try { await sklearnPlot(div, e.name, m.path); } catch (err) { div.replaceChildren(EB.errorBox(err.message)); }
      }
    }
    if (!(e.media || []).length) media.append(h("p", { class: "muted" }, "No images or dvclive plots at this commit."));
    if (e.curve_names.length) {
      const cur = await EB.get("curves", { name: [e.name], metric: st.metric || "" });
      const div = chartDiv("exp-curve");
      view.append(h("div", { class: "card" }, h("h3", {}, "Curve ", h("select", { "aria-label": "metric", onchange: (ev) => EB.go("exp", { ...st, metric: ev.target.value }, true) },
        cur.metrics.map((m) => h("option", { value: m, selected: m === cur.metric }, m)))), div));
      EB.useColors([e.name]);
      await plot(div, EB.curveTraces(cur.series, {}), curveLayout(cur));
    }
  };

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

  // ---------------------------------------------------------------- sweeps page (live)
  EB.pages.sweeps = async function (view, st) {
    const nav = h("div", { class: "toolbar", id: "sweep-list" });
    const body = h("div", { id: "sweep" });
    view.replaceChildren(h("h2", {}, "Sweeps"), nav, body);
    let last = null, lastList = null, alive = true;
    EB.stop = () => { alive = false; };
    // live: the list and the open sweep are re-read every second, so a trial recorded by a
    // running `expbook sweep` (or a sweep that starts now) shows up within ~1 s
    async function refresh() {
      if (!alive) return;
      try {
        const list = await EB.get("sweeps", {});
        const name = st.name || (list.sweeps[0] || {}).name;
        const listStamp = JSON.stringify([name, list.sweeps]);
        if (listStamp !== lastList) {
          lastList = listStamp;
          nav.replaceChildren(...list.sweeps.map((s) => h("a", { href: "#/sweeps?" + new URLSearchParams({ name: s.name }) },
            h("button", { class: s.name === name ? "primary" : "" }, s.name + " " + Object.entries(s.counts).map(([k, v]) => k + ":" + v).join(" ")))));
        }
        if (!name) body.replaceChildren(h("p", { class: "muted" }, "No sweeps recorded yet (expbook sweep); this page updates by itself."));
        else if (!list.sweeps.some((s) => s.name === name)) body.replaceChildren(h("p", { class: "muted" }, "Waiting for sweep " + JSON.stringify(name) + " to record its first trial…"));
        else {
          const s = await EB.get("sweep", { name });
          const stamp = s.updated + ":" + s.trials.map((t) => t.number + t.status).join(",");
          if (stamp !== last) { last = stamp; await drawSweep(body, s); }
        }
      } catch (err) { body.replaceChildren(EB.errorBox(err.message)); }
      if (alive && !EB.report) setTimeout(refresh, 1000);
    }
    await refresh();
  };
  async function drawSweep(body, s) {
    const m = s.metrics.map((x) => x.key);
    body.replaceChildren(h("p", { class: "muted" }, "updated " + (s.updated || "?") + " · " + Object.entries(s.counts).map(([k, v]) => v + " " + k).join(", ")));
    const best = chartDiv("best-so-far"), imp = chartDiv("importance"), par = chartDiv("pareto"), pr = chartDiv("trial-curves");
    body.append(h("div", { class: "cards" }, h("div", { class: "card" }, h("h3", {}, "Best so far: " + (m[0] || "")), best),
      h("div", { class: "card" }, h("h3", {}, "Param importance (optuna fANOVA)"), imp),
      m.length > 1 ? h("div", { class: "card" }, h("h3", {}, "Pareto front"), par) : null,
      s.curves.length ? h("div", { class: "card" }, h("h3", {}, "Trial curves: " + s.curves[0].metric + " (pruned: dotted, stopped early)"), pr) : null));
    body.append(h("div", { class: "tablewrap" }, h("table", { class: "grid", id: "trials" },
      h("thead", {}, h("tr", {}, ["#", "name", "status", ...m, "config"].map((c) => h("th", {}, c)))),
      h("tbody", {}, s.trials.map((t) => h("tr", {}, h("td", {}, t.number), h("td", {}, t.rev ? h("a", { href: "#/exp?" + new URLSearchParams({ name: t.name }) }, t.name) : t.name),
        h("td", { class: "status-" + t.status }, t.status), m.map((_, i) => h("td", { class: "num", title: fmt((t.values || [])[i]) }, EB.num((t.values || [])[i]))), h("td", {}, fmt(t.config))))))));
    const pts = s.best_so_far.filter((b) => b.value !== null);
    await plot(best, [{ x: pts.map((b) => b.number), y: pts.map((b) => b.value), mode: "markers", name: "trial" },
      { x: s.best_so_far.map((b) => b.number), y: s.best_so_far.map((b) => b.best), mode: "lines", line: { shape: "hv" }, name: "best so far" }], { xaxis: { title: { text: "trial" }, tickformat: "d", dtick: Math.max(1, Math.ceil(s.best_so_far.length / 12)) }, yaxis: { title: { text: m[0] || "" } } });
    const iv = Object.entries(s.importance.values || {});
    if (iv.length) await plot(imp, [{ type: "bar", orientation: "h", x: iv.map((x) => x[1]), y: iv.map((x) => short(x[0])) }], { margin: { l: 140, r: 10, t: 20, b: 45 }, xaxis: { title: { text: "importance (share of variance)" } } });
    else imp.replaceChildren(h("p", { class: "muted" }, s.importance.reason || "not available"));
    if (m.length > 1) {
      const done = s.trials.filter((t) => t.status === "success" && t.values);
      await plot(par, [{ x: done.map((t) => t.values[0]), y: done.map((t) => t.values[1]), text: done.map((t) => t.name), mode: "markers", name: "trials" },
        { x: s.pareto.map((p) => p.values[0]), y: s.pareto.map((p) => p.values[1]), mode: "markers", marker: { size: 11, symbol: "star" }, name: "Pareto front" }],
        { xaxis: { title: { text: m[0] } }, yaxis: { title: { text: m[1] } } });
    }
    if (s.curves.length) {
      await plot(pr, s.curves.map((c) => ({ x: c.steps, y: c.values, mode: "lines", name: c.name, line: { dash: c.status === "pruned" ? "dot" : "solid" } })), { xaxis: { title: { text: "step" } }, yaxis: { title: { text: s.curves[0].metric } } });
    }
  }

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
