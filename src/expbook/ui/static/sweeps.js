// expbook dashboard: the Sweeps page (live: configs with the mean over seeds, trials by seed
// and config, sortable, failed trials' errors, best so far, importance, Pareto front, trial
// curves) and the Models page (versions, stages, key metrics, history). Loaded after run.js
// (EB.poll, EB.when, EB.swatch, EB.scroll); user strings reach the DOM through EB.h only.
"use strict";
(function () {
  const { h, fmt, short } = EB;
  const chartDiv = (id, cls) => EB.chartDiv(id, cls);
  const swatch = EB.swatch, scroll = EB.scroll;
  const POLL_MS = 1000;

  // ------------------------------------------------------------ sweeps page (live)
  EB.pages.sweeps = async function (view, st) {
    const nav = h("div", { class: "toolbar", id: "sweep-list" });
    const body = h("div", { id: "sweep" });
    view.replaceChildren(h("h2", {}, "Sweeps"), nav, body);
    let last = null, lastList = null, sortKey = st.sort || "", desc = st.desc === "1";
    async function refresh() {
      const list = await EB.get("sweeps", {});
      const name = st.name || (list.sweeps[0] || {}).name;
      const listStamp = JSON.stringify([name, list.sweeps]);
      if (listStamp !== lastList) {
        lastList = listStamp;
        nav.replaceChildren(...list.sweeps.map((s) => h("a", { href: "#/sweeps?" + new URLSearchParams({ name: s.name }) },
          h("button", { class: s.name === name ? "primary" : "" }, s.name + " " + Object.entries(s.counts).map(([k, v]) => k + ":" + v).join(" ")))));
      }
      if (!name) { body.replaceChildren(h("p", { class: "muted" }, "No sweeps recorded yet (expbook sweep); this page updates by itself.")); return; }
      let s;
      try { s = await EB.get("sweep", { name }); } catch (err) {
        // an unknown name: the server's 404 names the sweeps there are; the page keeps checking,
        // so a sweep that starts under that name shows up by itself
        const msg = err.message;
        if (body.dataset.missing !== msg) {
          body.dataset.missing = msg;
          body.replaceChildren(EB.errorBox(msg), err.status === 404 ? h("p", { class: "muted" }, "Waiting for sweep " + JSON.stringify(name) + " to record its first trial (this page checks every second).") : null);
        }
        last = null;
        return;
      }
      delete body.dataset.missing;
      const stamp = s.updated + ":" + s.trials.map((t) => t.number + t.status).join(",");
      if (stamp !== last) { last = stamp; await drawSweep(body, s, () => ({ sortKey, desc }), (k) => { desc = sortKey === k ? !desc : false; sortKey = k; last = null; refresh(); }); }
    }
    try { await refresh(); } catch (err) { body.replaceChildren(EB.errorBox(err.message)); }
    if (!EB.report) EB.poll(refresh, POLL_MS);
  };
  function sortRows(rows, key, desc) {
    if (!key) return rows;
    const val = (r) => r[key];
    return [...rows].sort((a, b) => {
      const x = val(a), y = val(b);
      if (x === y) return 0;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
      return desc ? -c : c;
    });
  }
  function sortableTable(id, cols, rows, sort, onSort) {
    const { sortKey, desc } = sort();
    return scroll(h("table", { class: "grid", id }, h("thead", {}, h("tr", {}, cols.map((c) => h("th", { class: c.cls || "", title: c.title || c.key, "data-col": c.key, onclick: () => onSort(c.key) },
      c.label + (sortKey === c.key ? (desc ? " ▼" : " ▲") : ""))))),
    h("tbody", {}, sortRows(rows, sortKey, desc).map((r) => h("tr", {}, cols.map((c) => c.cell ? c.cell(r) : h("td", { class: typeof r[c.key] === "number" ? "num" : "", title: fmt(r[c.key]) }, EB.num(r[c.key]))))))));
  }
  async function drawSweep(body, s, sort, onSort) {
    const m = s.metrics.map((x) => x.key);
    const cfgKeys = [...new Set(s.trials.flatMap((t) => Object.keys(t.config || {})))];
    const hasSeeds = s.trials.some((t) => t.seed !== null && t.seed !== undefined);
    body.replaceChildren(h("p", { class: "muted" }, "updated " + EB.when(s.updated) + " · " + Object.entries(s.counts).map(([k, v]) => v + " " + k).join(", ")));
    // per config: mean over its seeds (the ranking of `expbook sweep status`)
    const configs = (s.configs || []).map((c) => ({ ...Object.fromEntries(cfgKeys.map((k) => ["cfg:" + k, (c.config || {})[k]])), seeds: c.seeds, status: c.status,
      ...Object.fromEntries(m.map((k, i) => ["mean:" + k, (c.values || [])[i]])), trials: (c.trials || []).join(", "), error: c.error || "" }));
    const cfgCols = cfgKeys.map((k) => ({ key: "cfg:" + k, label: short(k), title: k, cls: "g-params" }));
    if (configs.length) body.append(h("div", { class: "card" }, h("h3", {}, "Configs: mean over seeds"), sortableTable("configs",
      [...cfgCols, { key: "seeds", label: "seeds" }, { key: "status", label: "status", cell: (r) => h("td", { class: "status-" + r.status }, r.status) },
        ...m.map((k) => ({ key: "mean:" + k, label: "mean " + short(k), title: k, cls: "g-metrics" })), { key: "trials", label: "runs" }, { key: "error", label: "error", cell: (r) => h("td", { class: "err", title: r.error }, r.error) }], configs, sort, onSort)));
    const trials = s.trials.map((t) => ({ ...t, ...Object.fromEntries(cfgKeys.map((k) => ["cfg:" + k, (t.config || {})[k]])), ...Object.fromEntries(m.map((k, i) => ["val:" + k, (t.values || [])[i]])) }));
    body.append(h("div", { class: "card" }, h("h3", {}, "Trials"), sortableTable("trials", [
      { key: "number", label: "#" },
      { key: "name", label: "name", cell: (t) => h("td", {}, swatch(t.name), t.rev ? h("a", { href: "#/exp?" + new URLSearchParams({ name: t.name }) }, t.name) : h("a", { href: "#/exp?" + new URLSearchParams({ name: "sweep:" + s.name + "/" + t.name }) }, t.name)) },
      { key: "status", label: "status", cell: (t) => h("td", { class: "status-" + t.status }, t.status) },
      ...(hasSeeds ? [{ key: "seed", label: "seed" }] : []), ...cfgCols,
      ...m.map((k) => ({ key: "val:" + k, label: short(k), title: k, cls: "g-metrics" })),
      { key: "duration", label: "duration (s)" },
      { key: "error", label: "error", cell: (t) => h("td", { class: "err", title: t.error || "" }, t.error || "") },
    ], trials, sort, onSort)));
    const best = chartDiv("best-so-far"), imp = chartDiv("importance"), par = chartDiv("pareto"), pr = chartDiv("trial-curves");
    body.append(h("div", { class: "cards" }, h("div", { class: "card" }, h("h3", {}, "Best so far: " + (m[0] || "")), best),
      h("div", { class: "card" }, h("h3", {}, "Param importance (optuna fANOVA)"), imp),
      m.length > 1 ? h("div", { class: "card" }, h("h3", {}, "Pareto front"), par) : null,
      s.curves.length ? h("div", { class: "card" }, h("h3", {}, "Trial curves: " + s.curves[0].metric + " (pruned: dotted, stopped early)"), pr) : null));
    const pts = s.best_so_far.filter((b) => b.value !== null);
    await EB.plot(best, [{ x: pts.map((b) => b.number), y: pts.map((b) => b.value), mode: "markers", name: "trial" },
      { x: s.best_so_far.map((b) => b.number), y: s.best_so_far.map((b) => b.best), mode: "lines", line: { shape: "hv" }, name: "best so far" }],
    { xaxis: { title: { text: "trial" }, ...EB.intAxis(Math.max(1, s.best_so_far.length)) }, yaxis: { title: { text: m[0] || "" } } });
    const iv = Object.entries(s.importance.values || {});
    if (iv.length) await EB.plot(imp, [{ type: "bar", orientation: "h", x: iv.map((x) => x[1]), y: iv.map((x) => short(x[0])) }], { margin: { l: 140, r: 10, t: 20, b: 45 }, xaxis: { title: { text: "importance (share of variance)" } } });
    else imp.replaceChildren(h("p", { class: "muted" }, s.importance.reason || "not available"));
    if (m.length > 1) {
      const done = s.trials.filter((t) => t.status === "success" && t.values);
      await EB.plot(par, [{ x: done.map((t) => t.values[0]), y: done.map((t) => t.values[1]), text: done.map((t) => t.name), mode: "markers", name: "trials" },
        { x: s.pareto.map((p) => p.values[0]), y: s.pareto.map((p) => p.values[1]), mode: "markers", marker: { size: 11, symbol: "star" }, name: "Pareto front" }],
      { xaxis: { title: { text: m[0] } }, yaxis: { title: { text: m[1] } } });
    }
    if (s.curves.length) {
      const traces = EB.curveTraces(s.curves.map((c) => ({ rev: c.name, params: {}, ...c })), {});
      traces.forEach((t, i) => { if (s.curves[i] && s.curves[i].status === "pruned") t.line = { ...t.line, dash: "dot" }; });
      await EB.plot(pr, traces, { xaxis: { title: { text: "epoch" } }, yaxis: { title: { text: s.curves[0].metric } } });
    }
  }

  // ------------------------------------------------------------ models page
  EB.pages.models = async function (view, st) {
    view.replaceChildren(h("h2", {}, "Models"));
    if (EB.report) { view.append(h("p", { class: "muted" }, "The model registry is shown by the live dashboard (expbook ui).")); return; }
    const d = await EB.get("models", {});
    if (!d.models.length) {
      view.append(h("p", { class: "muted", id: "no-models" }, "No models registered yet: declare an artifact in dvc.yaml, then `expbook model register NAME EXPERIMENT`."));
      return;
    }
    const only = st.model || "";
    for (const mdl of d.models.filter((x) => !only || x.model === only)) {
      const metricKeys = [...new Set(mdl.versions.flatMap((v) => Object.keys(v.metrics || {})))].slice(0, 6);
      view.append(h("div", { class: "card model-card", "data-model": mdl.model },
        h("h3", {}, mdl.model, mdl.deprecated ? h("span", { class: "badge status-failed" }, "deprecated") : null,
          h("span", { class: "muted" }, " · latest " + (mdl.latest || "–"))),
        h("div", { class: "stages" }, Object.entries(mdl.stages).map(([s, v]) => h("span", { class: "tag stage" }, s + ": " + (v || "–")))),
        scroll(h("table", { class: "grid", id: "versions-" + mdl.model.replace(/[^a-z0-9]/gi, "-") },
          h("thead", {}, h("tr", {}, ["version", "stages", "experiment", "commit", ...metricKeys].map((c) => h("th", { class: metricKeys.includes(c) ? "g-metrics" : "" }, c)))),
          h("tbody", {}, mdl.versions.map((v) => h("tr", {}, h("td", {}, v.version + (v.registered ? "" : " (unregistered)")),
            h("td", {}, v.stages.map((s) => h("span", { class: "tag stage" }, s))),
            h("td", {}, v.experiment ? h("a", { href: "#/exp?" + new URLSearchParams({ name: v.experiment }) }, swatch(v.experiment), v.experiment) : "–"),
            h("td", { title: v.commit }, (v.commit || "").slice(0, 7)),
            metricKeys.map((k) => h("td", { class: "num", title: fmt((v.metrics || {})[k]) }, EB.num((v.metrics || {})[k]))))))))));
    }
    const hist = d.history.filter((x) => !only || x.model === only).reverse();
    view.append(h("div", { class: "card" }, h("h3", {}, "History (newest first, times in UTC)"), scroll(h("table", { class: "grid", id: "model-history" },
      h("thead", {}, h("tr", {}, ["when (UTC)", "model", "event", "version", "stage", "by", "commit", "tag"].map((c) => h("th", {}, c)))),
      h("tbody", {}, hist.map((x) => h("tr", {}, h("td", { title: x.timestamp }, EB.when(x.timestamp)), h("td", {}, x.model), h("td", {}, x.event), h("td", {}, x.version || ""),
        h("td", {}, x.stage || ""), h("td", { title: x.author_email || "" }, x.author || ""), h("td", { title: x.commit || "" }, (x.commit || "").slice(0, 7)), h("td", { class: "muted" }, x.tag))))))));
  };
})();
