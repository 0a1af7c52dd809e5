// expbook dashboard: the run page (results first: key metrics and curves, then params with the
// differences from the baseline, models, outputs, environment; a running run's curves grow,
// a crashed one shows its output) and the live panel of the Experiments page; the helpers
// (EB.size, EB.when, EB.poll) that sweeps.js uses too. Loaded after plots.js and charts.js;
// user strings reach the DOM through EB.h/textContent only.
"use strict";
(function () {
  const { h, fmt, short } = EB;
  const chartDiv = (id, cls) => EB.chartDiv(id, cls);
  const POLL_MS = 1000;

  // ------------------------------------------------------------ formats
  EB.size = function (n) {
    if (typeof n !== "number") return fmt(n);
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(n < 10 ? 1 : 0) : String(n)) + " " + units[i];
  };
  EB.ago = function (ms) {
    const s = Math.round((Date.now() - ms) / 1000);
    if (!isFinite(s)) return "";
    if (s < 5) return "just now";
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.round(s / 60) + " min ago";
    if (s < 86400) return Math.round(s / 3600) + " h ago";
    return Math.round(s / 86400) + " d ago";
  };
  // "2026-12-07 01:30:12 UTC (5 min ago)" from an ISO time or epoch milliseconds
  EB.when = function (t) {
    if (t === null || t === undefined || t === "") return "";
    const d = typeof t === "number" ? new Date(t) : new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(t) ? t : t + "Z");
    if (isNaN(d)) return String(t);
    return d.toISOString().slice(0, 19).replace("T", " ") + " UTC (" + EB.ago(d.getTime()) + ")";
  };
  // a poll loop that ends with the page (the router calls EB.stop on navigation)
  EB.poll = function (fn, ms) {
    let alive = true;
    const prev = EB.stop;
    EB.stop = () => { alive = false; if (prev) prev(); };
    (async function loop() {
      while (alive) {
        await new Promise((r) => setTimeout(r, ms || POLL_MS));
        if (!alive || document.hidden) continue;
        try { await fn(); } catch (err) { /* the next tick tries again */ }
      }
    })();
    return () => { alive = false; };
  };
  const statusBadge = (EB.statusBadge = (s) => h("span", { class: "badge status-" + s }, s));
  const swatch = (EB.swatch = (name) => h("i", { class: "swatch", style: "background:" + EB.colorOf(name) }));
  const scroll = (EB.scroll = (...kids) => h("div", { class: "scroll" }, ...kids));

  // ------------------------------------------------------------ curves of one run, as panels
  // key metrics first (val/test), the optimizer-step and system curves last
  function curveOrder(names) {
    const rank = (m) => (/^system\//.test(m) ? 4 : EB.isStepCurve(m) ? 3 : /^(val|test|eval)/.test(short(m)) ? 0 : /time\//.test(m) ? 2 : 1);
    return [...names].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : 1));
  }
  async function drawPanels(box, runName, curves, names) {
    // curves: {metric: {steps, values, timestamps}}; one small chart per metric
    const divs = new Map();
    box.replaceChildren();
    for (const m of names) {
      const div = chartDiv("curve-" + m.replace(/[^a-z0-9]/gi, "-"), "small");
      divs.set(m, div);
      box.append(h("div", { class: "card panel-card" }, h("h3", { title: m }, short(m)), div));
    }
    for (const m of names) await drawOne(divs.get(m), runName, m, curves[m], names);
    return divs;
  }
  function drawOne(div, runName, m, c, names) {
    if (!c) return null;
    const traces = EB.curveTraces([{ name: runName, rev: "", params: {}, ...c }], { legend: false });
    const maxX = Math.max(1, ...c.steps);
    return EB.plot(div, traces, { showlegend: false, margin: { l: 50, r: 10, t: 10, b: 38 },
      xaxis: { title: { text: EB.xLabel(m, names) }, ...EB.intAxis(maxX) }, yaxis: { title: { text: short(m).split("/").pop() } } });
  }

  // ------------------------------------------------------------ run page
  function keyMetrics(metrics) {
    const keys = Object.keys(metrics || {}).filter((k) => typeof metrics[k] === "number");
    const rank = (k) => { const s = short(k); return /^(val|test|eval)/.test(s) ? 0 : /^train/.test(s) ? 1 : /time|system|count|size/.test(s) ? 3 : 2; };
    return keys.sort((a, b) => rank(a) - rank(b)).slice(0, 8);
  }
  function paramsTable(params, diff) {
    const keys = Object.keys(params || {});
    const changed = new Set(Object.keys(diff || {}));
    if (!keys.length) return h("p", { class: "muted" }, "none");
    keys.sort((a, b) => (changed.has(b) ? 1 : 0) - (changed.has(a) ? 1 : 0));
    return scroll(h("table", { class: "grid", id: "params" },
      h("thead", {}, h("tr", {}, h("th", {}, "param"), h("th", {}, "value"), h("th", {}, "baseline"))),
      h("tbody", {}, keys.map((k) => h("tr", { class: changed.has(k) ? "changed" : "" },
        h("td", { title: k }, short(k)), h("td", { title: fmt(params[k]) }, EB.num(params[k])),
        h("td", { class: "muted", title: changed.has(k) ? "differs from the baseline" : "" }, changed.has(k) ? "was " + fmt(diff[k]) : ""))))));
  }
  function kvTable(obj, id) {
    const keys = Object.keys(obj || {});
    if (!keys.length) return h("p", { class: "muted" }, "none");
    return scroll(h("table", { class: "grid", id }, h("tbody", {}, keys.map((k) => h("tr", {}, h("td", { title: k }, short(k)), h("td", { class: typeof obj[k] === "number" ? "num" : "", title: fmt(obj[k]) }, EB.num(obj[k])))))));
  }
  async function sklearnPlot(div, name, path) {
    const url = EB.fileUrl(name, path);
    const text = EB.report ? atob(url.split(",")[1] || "") : await (await fetch(url)).text();
    const doc = JSON.parse(text.replace(/(?<=[:\[,]\s*)-?(Infinity|NaN)\b/g, "null"));
    const rows = Array.isArray(doc) ? doc : Object.values(doc)[0];
    if (!Array.isArray(rows) || !rows.length) return;
    const keys = Object.keys(rows[0]);
    if (keys.includes("actual") && keys.includes("predicted")) {
      const labels = [...new Set(rows.flatMap((r) => [String(r.actual), String(r.predicted)]))];
      if (labels.every((l) => l !== "" && !isNaN(+l))) labels.sort((a, b) => a - b); else labels.sort();
      const z = labels.map(() => labels.map(() => 0));
      for (const r of rows) z[labels.indexOf(String(r.actual))][labels.indexOf(String(r.predicted))]++;
      await EB.plot(div, [{ type: "heatmap", z, x: labels, y: labels, colorscale: "Blues", reversescale: true, text: z.map((r) => r.map(String)), texttemplate: "%{text}", hovertemplate: "actual %{y}, predicted %{x}: %{z}<extra></extra>" }],
        { xaxis: { title: { text: "predicted" }, type: "category" }, yaxis: { title: { text: "actual" }, type: "category", autorange: "reversed" } });
    } else {
      let [xk, yk] = keys.filter((k) => typeof rows[0][k] === "number" || rows[0][k] === null);
      if (keys.includes("recall") && keys.includes("precision")) [xk, yk] = ["recall", "precision"];
      if (keys.includes("fpr") && keys.includes("tpr")) [xk, yk] = ["fpr", "tpr"];
      await EB.plot(div, [{ type: "scatter", mode: "lines", x: rows.map((r) => r[xk]), y: rows.map((r) => r[yk]) }], { xaxis: { title: { text: xk } }, yaxis: { title: { text: yk } } });
    }
  }
  EB.sklearnPlot = sklearnPlot;

  async function curvesOf(name, names) {
    // one request per metric (the endpoint serves one metric of many runs)
    const out = {};
    await Promise.all(names.map(async (m) => {
      const c = await EB.get("curves", { name: [name], metric: m });
      if (c.series.length) out[m] = c.series[0];
    }));
    return out;
  }

  EB.pages.exp = async function (view, st) {
    let e;
    try { e = await EB.get("experiment", { name: st.name || "" }); } catch (err) {
      if (err.status !== 404 || EB.report) throw err;
      return livePage(view, st, err);  // crashed runs and failed trials have no registry row
    }
    const row = e.row;
    view.replaceChildren(
      h("h2", {}, swatch(e.name), e.name, " ", statusBadge(e.status)),
      h("p", { class: "muted", id: "exp-meta" }, row.kind + " · " + (e.rev || "").slice(0, 12) + " · created " + EB.when(e.created) + (e.message ? " · " + e.message : "")));
    const liveNote = h("div", { id: "live-note" });
    view.append(liveNote);
    // 1) results: key metrics, then one panel per curve (system metrics in their own row)
    const km = e.status === "running" ? [] : keyMetrics(e.metrics);
    view.append(h("div", { class: "tiles", id: "key-metrics" }, km.length ? km.map((k) =>
      h("div", { class: "tile", title: k }, h("div", { class: "muted" }, short(k)), h("div", { class: "big" }, EB.num(e.metrics[k])))) : h("p", { class: "muted" }, e.status === "running" ? "Waiting for its first curve rows…" : "No metrics yet.")));
    const names = curveOrder(e.curve_names || []);
    const main = names.filter((m) => !/^system\//.test(m) && !EB.isStepCurve(m)).slice(0, 9);
    const sys = names.filter((m) => /^system\//.test(m));
    const stepc = names.filter((m) => EB.isStepCurve(m)).slice(0, 3);
    // one grid: the metrics' panels, then the optimizer-step and the system panels (CPU,
    // memory, GPU per epoch) in groups that take part in the grid (display: contents)
    const curveBox = h("div", { class: "group", id: "main-curves" });
    const stepBox = h("div", { class: "group", id: "step-curves" });
    const sysBox = h("div", { class: "group", id: "system-curves" });
    view.append(h("h3", { class: "section" }, "Curves"), names.length ? h("div", { class: "panels", id: "exp-curves" }, curveBox, stepBox, sysBox) : h("p", { class: "muted" }, "No dvclive step curves."));
    // 2) params (differences from the baseline first, marked), models, notes
    const cards = h("div", { class: "cards" });
    view.append(h("h3", { class: "section" }, "Details"), cards);
    const nDiff = Object.keys(e.baseline_diff || {}).length;
    cards.append(h("div", { class: "card" }, h("h3", {}, "Params", h("span", { class: "muted" }, e.status === "running" ? " · recorded when the run is committed (shown: its commit's so far)" : nDiff ? " · " + nDiff + " differ from the baseline " + (row.baseline || "").slice(0, 7) : "")), paramsTable(e.params, e.baseline_diff)));
    if (e.status !== "running") cards.append(h("div", { class: "card" }, h("h3", {}, "All metrics"), kvTable(e.metrics, "metrics")));
    if ((e.models || []).length) cards.append(h("div", { class: "card", id: "exp-models" }, h("h3", {}, "Model versions and stages"),
      h("div", {}, e.models.map((m) => h("a", { class: "tag model", href: "#/models?" + new URLSearchParams({ model: m.split(/[@#]/)[0] }) }, m)))));
    cards.append(notesCard(e));
    // 3) outputs, environment, errors, commands
    const outs = Object.entries(e.outs || {});
    cards.append(h("div", { class: "card" }, h("h3", {}, "Outputs"), outs.length ? scroll(h("table", { class: "grid", id: "outs" },
      h("thead", {}, h("tr", {}, ["path", "size", "hash", "in local cache", "in git"].map((c) => h("th", {}, c)))),
      h("tbody", {}, outs.map(([p, o]) => h("tr", {}, h("td", {}, p), h("td", { class: "num", title: fmt(o.size) + " bytes" }, EB.size(o.size)), h("td", { title: String(o.hash || "") }, String(o.hash || "").slice(0, 10)), h("td", {}, o.in_cache ? "yes" : "no"), h("td", {}, o.in_git ? "yes" : "no")))))) : h("p", { class: "muted" }, "none")));
    if (e.environment) cards.append(h("div", { class: "card" }, h("h3", {}, "Environment: " + e.environment.path), h("pre", {}, JSON.stringify(e.environment.content, null, 1))));
    if (Object.keys(e.errors || {}).length) cards.append(h("div", { class: "card" }, h("h3", {}, "Errors"), kvTable(e.errors, "errors")));
    cards.append(h("div", { class: "card" }, h("h3", {}, "Commands"), h("pre", { id: "commands" }, e.commands.join("\n"))));
    const media = h("div", { class: "cards media", id: "media" });
    view.append(h("h3", { class: "section" }, "Images and plots"), media);
    document.body.dataset.ready = "exp";  // the page is usable; charts follow
    if (names.length) {
      const curves = await curvesOf(e.name, [...main, ...stepc, ...sys]);
      await drawPanels(curveBox, e.name, curves, main);
      if (stepc.length) await drawPanels(stepBox, e.name, curves, stepc);
      if (sys.length) await drawPanels(sysBox, e.name, curves, sys);
    }
    if (e.live && e.live.status !== "running") liveNote.replaceChildren(crashedBox(e.live));
    if (e.status === "running") followRun(e.name, liveNote, curveBox, sysBox, document.getElementById("key-metrics"));
    for (const m of e.media || []) {
      if (m.kind === "image") media.append(h("div", { class: "card" }, h("h3", {}, m.path + " (" + m.source + ")"), h("img", { src: EB.fileUrl(e.name, m.path), alt: m.path })));
      else {
        const div = chartDiv("plot-" + m.path.replace(/[^a-z0-9]/gi, "-"));
        media.append(h("div", { class: "card" }, h("h3", {}, m.path), div));
        try { await EB.sklearnPlot(div, e.name, m.path); } catch (err) { div.replaceChildren(EB.errorBox(err.message)); }
      }
    }
    if (!(e.media || []).length) media.append(h("p", { class: "muted" }, "No images or dvclive plots at this commit."));
  };
  function notesCard(e) {
    const notesList = h("ul", { id: "notes" }, (e.notes || []).map((n) => h("li", {}, n)));
    const tags = h("div", { id: "tags" }, (e.tags || []).map((t) => h("span", { class: "tag" }, t,
      EB.readOnly ? null : h("button", { "aria-label": "remove tag " + t, onclick: () => write("tag", { tag: t, remove: true }) }, "×"))));
    const msg = h("div", {});
    async function write(what, body) {
      try { await EB.post(what, { name: e.name, version: e.version, ...body }); EB.render(); } catch (err) { msg.replaceChildren(EB.errorBox(err.message)); }
    }
    const noteBox = h("input", { type: "text", id: "note-text", placeholder: "add a note", "aria-label": "note" });
    const tagBox = h("input", { type: "text", id: "tag-text", placeholder: "add a tag", "aria-label": "tag" });
    return h("div", { class: "card" }, h("h3", {}, "Notes and tags"), notesList, tags, msg,
      EB.readOnly ? h("p", { class: "muted" }, "read-only") : h("div", { class: "toolbar" }, noteBox,
        h("button", { id: "add-note", onclick: () => noteBox.value.trim() && write("note", { text: noteBox.value }) }, "Add note"), tagBox,
        h("button", { id: "add-tag", onclick: () => tagBox.value.trim() && write("tag", { tag: tagBox.value }) }, "Add tag")));
  }
  // a running run: its curves re-read once a second and redrawn in place (no reload); when it
  // ends the page re-renders from the registry, when its process dies it says so
  // the latest value of each curve, as the key metrics of a run that has no metrics file yet
  function liveTiles(box, curves, names) {
    if (!box) return;
    box.replaceChildren(...names.slice(0, 8).map((m) => {
      const v = curves[m].values[curves[m].values.length - 1];
      return h("div", { class: "tile", title: m }, h("div", { class: "muted" }, short(m) + " (step " + curves[m].steps[curves[m].steps.length - 1] + ", so far)"), h("div", { class: "big" }, EB.num(v)));
    }));
  }
  function followRun(name, note, curveBox, sysBox, tiles) {
    note.replaceChildren(h("p", { class: "live-banner" }, "● running · curves update every second"));
    let lastStamp = "";
    EB.poll(async () => {
      let r;
      try { r = await EB.get("live", { name }); } catch (err) {
        if (err.status === 404) { EB.stop && EB.stop(); EB.render(); }
        return;
      }
      if (r.run.status !== "running") {
        note.replaceChildren(crashedBox(r.run));
        return;
      }
      const stamp = JSON.stringify(Object.entries(r.curves).map(([k, c]) => [k, c.steps.length]));
      if (stamp === lastStamp) return;
      lastStamp = stamp;
      const names = curveOrder(Object.keys(r.curves));
      const main = names.filter((m) => !/^system\//.test(m) && !EB.isStepCurve(m)).slice(0, 9);
      const sys = names.filter((m) => /^system\//.test(m));
      liveTiles(tiles, r.curves, main);
      await drawPanels(curveBox, name, r.curves, main);
      if (sys.length && sysBox.isConnected) await drawPanels(sysBox, name, r.curves, sys);
      document.body.dataset.livePoints = String(Object.values(r.curves).reduce((n, c) => n + c.steps.length, 0));
    });
  }
  function crashedBox(run) {
    return h("div", { class: "error crashed", role: "alert", id: "crashed" },
      h("strong", {}, run.status === "crashed" ? "crashed: " : run.status + ": "), run.error || "",
      run.tail ? h("pre", { class: "tail", id: "tail" }, run.tail) : h("p", { class: "muted" }, run.has_log ? "(its output is empty)" :
        run.source === "workspace" ? "No output was captured: a workspace `dvc exp run` prints to its terminal." : "No output was captured."));
  }
  // a run the registry does not list: crashed (its process died) or a failed sweep trial
  async function livePage(view, st, notFound) {
    let r;
    try { r = await EB.get("live", { name: st.name || "" }); } catch (err) { throw notFound; }
    const run = r.run;
    view.replaceChildren(h("h2", {}, swatch(run.name), run.name, " ", statusBadge(run.status)),
      h("p", { class: "muted", id: "exp-meta" }, [run.source + " run", run.sweep ? "sweep " + run.sweep : "", run.baseline ? "baseline " + run.baseline.slice(0, 7) : "",
        run.started ? "started " + EB.when(run.started * 1000) : "", run.updated ? "last write " + EB.when(run.updated * 1000) : ""].filter(Boolean).join(" · ")));
    const note = h("div", { id: "live-note" }), box = h("div", { class: "panels", id: "exp-curves" }), sys = h("div", { class: "panels", id: "system-curves" });
    const tiles = h("div", { class: "tiles", id: "key-metrics" });
    view.append(note, tiles, h("h3", { class: "section" }, "Curves"), box, sys);
    document.body.dataset.ready = "exp";
    if (run.status === "running") { followRun(run.name, note, box, sys, tiles); }
    else note.replaceChildren(crashedBox(run));
    const names = curveOrder(Object.keys(r.curves || {}));
    liveTiles(tiles, r.curves || {}, names.filter((m) => !/^system\//.test(m)));
    if (names.length) await drawPanels(box, run.name, r.curves, names.filter((m) => !/^system\//.test(m)).slice(0, 9));
    else box.replaceChildren(h("p", { class: "muted" }, "No curves written."));
  }

  // ------------------------------------------------------------ live panel (Experiments page)
  // running and crashed runs on top of the table, their main curve growing; failed sweep trials
  // below them with their error. `onChange` re-reads the table when a run starts or ends.
  EB.livePanel = function (onChange) {
    const box = h("div", { id: "live-runs" });
    if (EB.report) return box;
    let shape = null, charts = new Map();
    async function tick() {
      const r = await EB.get("live", { curves: "1" });
      const runs = r.runs;
      const now = JSON.stringify(runs.map((x) => [x.key, x.status]));
      if (shape !== null && now !== shape) onChange();
      if (now !== shape) {
        shape = now;
        charts = new Map();
        const active = runs.filter((x) => x.source !== "sweep" || x.status !== "failed"), failed = runs.filter((x) => x.source === "sweep" && x.status === "failed");
        box.replaceChildren();
        if (active.length) box.append(h("div", { class: "cards live" }, active.map((x) => {
          const div = chartDiv("live-" + x.key.replace(/[^a-z0-9]/gi, "-"), "tiny");
          charts.set(x.key, { div, n: -1 });
          return h("div", { class: "card live-card", "data-key": x.key, "data-status": x.status },
            h("h3", {}, swatch(x.name), h("a", { href: "#/exp?" + new URLSearchParams({ name: x.status === "crashed" ? x.key : x.name }) }, x.name), " ", statusBadge(x.status)),
            h("p", { class: "muted" }, x.source + (x.started ? " · started " + EB.ago(x.started * 1000) : "")),
            x.status === "running" ? div : crashedBox(x));
        })));
        if (failed.length) box.append(h("details", { class: "failed-trials" }, h("summary", {}, failed.length + " failed sweep trial" + (failed.length > 1 ? "s" : "") + " (not in the registry)"),
          scroll(h("table", { class: "grid", id: "failed-trials" }, h("thead", {}, h("tr", {}, ["trial", "sweep", "config", "error"].map((c) => h("th", {}, c)))),
            h("tbody", {}, failed.map((x) => h("tr", {}, h("td", {}, h("a", { href: "#/exp?" + new URLSearchParams({ name: x.key }) }, x.name)), h("td", {}, x.sweep || ""), h("td", {}, fmt(x.config)), h("td", { class: "err", title: x.error || "" }, x.error || ""))))))));
      }
      for (const [key, c] of charts) {
        const curves = (r.curves || {})[key] || {};
        const names = curveOrder(Object.keys(curves)).filter((m) => !/^system\//.test(m) && !EB.isStepCurve(m));
        const m = names.find((k) => /val.*(acc|f1)/.test(k)) || names.find((k) => /loss/.test(k)) || names[0];
        const n = m ? curves[m].steps.length : 0;
        if (m && n !== c.n) { c.n = n; await drawOne(c.div, key, m, curves[m], names); c.div.dataset.points = String(n); }
      }
    }
    tick().catch(() => {});
    EB.poll(tick, POLL_MS);
    return box;
  };

})();
