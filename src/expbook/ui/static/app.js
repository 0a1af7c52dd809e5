// expbook dashboard: routing, the data source (live /api or a report's embedded data) and the
// experiments table. Every user string reaches the DOM through textContent (the `h` helper),
// never innerHTML. The other pages: charts.js (charts, compare, stats), run.js (a run),
// sweeps.js (sweeps, models), team.js.
"use strict";

const EB = (window.EB = {});
const dataNode = document.getElementById("expbook-data");
EB.report = dataNode ? JSON.parse(dataNode.textContent) : null;
EB.token = (document.querySelector('meta[name="expbook-token"]') || {}).content || "";
EB.readOnly = !!EB.report || (document.querySelector('meta[name="expbook-mode"]') || {}).content === "read-only";
EB.pages = {};

// ---------------------------------------------------------------- DOM helpers
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
EB.h = h;
EB.fmt = function (v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : Number(v.toPrecision(6)).toString();
  if (Array.isArray(v)) return v.map(EB.fmt).join(", ");
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
};
// table cells: 4 significant digits (the full value is in the cell's title)
EB.num = (v) => (typeof v === "number" && !Number.isInteger(v) ? Number(v.toPrecision(4)).toString() : EB.fmt(v));
// the metric shown when none is chosen: one that differs between runs, val/test accuracy first
EB.defaultMetric = function (keys, valuesOf) {
  const vary = keys.filter((k) => new Set(valuesOf(k).map((v) => JSON.stringify(v))).size > 1);
  const pool = vary.length ? vary : keys, s = (k) => EB.short(k).toLowerCase();
  const tests = [(k) => ["val.acc", "test.acc", "val/acc", "test/acc"].includes(k),
    (k) => /^(val|test|eval)/.test(k) && /acc|f1/.test(k), (k) => /acc|f1|auc|score/.test(k), (k) => /^(val|test|eval)/.test(k)];
  for (const t of tests) { const hit = pool.find((k) => t(s(k))); if (hit) return hit; }
  return pool[0];
};
EB.short = (key) => { const i = key.indexOf(":"); return i >= 0 ? key.slice(i + 1) : key; };
EB.errorBox = (msg) => h("div", { class: "error", role: "alert" }, msg);

// ---------------------------------------------------------------- URL state
EB.route = function () {
  const raw = location.hash.replace(/^#\/?/, "");
  const [view, query] = raw.split("?");
  return { view: view || "table", params: new URLSearchParams(query || "") };
};
EB.go = function (view, params, replace) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else if (v !== "" && v !== null && v !== undefined && v !== false) q.set(k, v);
  }
  const hash = "#/" + view + (q.toString() ? "?" + q : "");
  if (replace) history.replaceState(null, "", hash);
  else location.hash = hash;
  if (replace) render();
};
EB.state = function () {
  const { params } = EB.route();
  const o = {};
  for (const k of params.keys()) o[k] = params.getAll(k).length > 1 ? params.getAll(k) : params.get(k);
  return o;
};

// ---------------------------------------------------------------- data source
class ApiError extends Error { constructor(msg, status) { super(msg); this.status = status; } }
EB.ApiError = ApiError;
EB.get = async function (path, params) {
  if (EB.report) return EB.local[path](params || {});
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else if (v !== undefined && v !== null && v !== "") q.set(k, v);
  }
  const r = await fetch("api/" + path + "?" + q);
  const body = await r.json().catch(() => ({ reason: "bad answer from the server (" + r.status + ")" }));
  if (!r.ok) throw new ApiError(body.reason || "error " + r.status, r.status);
  return body;
};
EB.post = async function (path, body) {
  const r = await fetch("api/" + path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Expbook-Token": EB.token },
    body: JSON.stringify(body),
  });
  const out = await r.json().catch(() => ({ reason: "error " + r.status }));
  if (!r.ok) throw new ApiError(out.reason, r.status);
  return out;
};
EB.fileUrl = (name, path) => {
  if (EB.report) return ((EB.report.files || {})[name] || {})[path] || "";
  return "api/file?" + new URLSearchParams({ name, path });
};

// ---------------------------------------------------------------- table (shared with the report)
function flatValue(row, col) {
  if (row.params && col in row.params) return row.params[col];
  if (row.metrics && col in row.metrics) return row.metrics[col];
  if (col === "sweep") return row.sweep ? row.sweep.name : null;
  return row[col];
}
EB.flatValue = flatValue;
function sortKey(v, desc) {
  if (v === null || v === undefined || (typeof v === "number" && isNaN(v))) return [2, 0, ""];
  if (typeof v === "boolean") v = +v;
  if (typeof v === "number") return [0, desc ? -v : v, ""];
  return [1, 0, String(v)];
}
EB.meanStd = function (vals) {
  const xs = vals.filter((v) => typeof v === "number" && isFinite(v));
  if (!xs.length) return { n: 0, mean: null, std: null };
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  // n = 1 has no spread: null (shown "–"), as the server's mean_std
  const s = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1)) : null;
  return { n: xs.length, mean: m, std: s };
};
EB.local = {
  // the report's rows were filtered when it was written: where is fixed, the rest works here
  _rows(p) {
    const R = EB.report;
    if ((p.where || "") && p.where !== (R.where || "")) {
      throw new ApiError("this report was written with --where " + JSON.stringify(R.where || "") +
        "; a new where-expression needs the live dashboard (expbook ui)", 400);
    }
    const q = (p.q || "").toLowerCase();
    return R.rows.filter((r) => !q || [r.name, r.rev, r.message, ...(r.tags || []), ...(r.notes || []), r.sweep ? r.sweep.name : ""]
      .join(" ").toLowerCase().includes(q));
  },
  table(p) {
    const R = EB.report;
    let rows = EB.local._rows(p);
    if (p.sort) {
      const desc = p.desc === "1";
      const keyed = rows.map((r) => [sortKey(flatValue(r, p.sort), desc), r]);
      const num = keyed.filter((k) => k[0][0] === 0).sort((a, b) => a[0][1] - b[0][1]);
      const txt = keyed.filter((k) => k[0][0] === 1).sort((a, b) => (a[0][2] < b[0][2] ? -1 : a[0][2] > b[0][2] ? 1 : 0) * (desc ? -1 : 1));
      rows = [...num, ...txt, ...keyed.filter((k) => k[0][0] === 2)].map((k) => k[1]);
    }
    const offset = +(p.offset || 0), limit = +(p.limit || 100);
    const out = { total: rows.length, count: R.rows.length, offset, limit, columns: R.columns, rows: rows.slice(offset, offset + limit) };
    if (p.group) {
      // a workspace row equal to its baseline commit's row is one run: counted once (data.duplicates)
      const META = new Set(["name", "rev", "kind", "baseline", "ref", "created", "status", "message", "branches", "tags", "notes", "sweep", "trial", "errors", "author", "models"]);
      const flatOf = (r) => Object.assign({}, r.params || {}, r.metrics || {});
      const byRev = new Map(rows.filter((r) => r.kind !== "workspace").map((r) => [r.rev, r]));
      const twin = (r) => {
        const o = r.kind === "workspace" ? byRev.get(r.baseline) : null;
        if (!o) return false;
        const a = flatOf(r), b = flatOf(o);
        return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => !META.has(k))
          .every((k) => JSON.stringify(a[k]) === JSON.stringify(b[k]));
      };
      const buckets = new Map();
      for (const r of rows.filter((x) => !twin(x))) {
        const v = flatValue(r, p.group), label = typeof v === "string" ? v : JSON.stringify(v);
        if (!buckets.has(label)) buckets.set(label, { value: v, label, rows: [] });
        buckets.get(label).rows.push(r);
      }
      out.groups = [...buckets.values()].map((b) => ({
        value: b.value, label: b.label, n: b.rows.length, names: b.rows.map((r) => r.name),
        metrics: Object.fromEntries(R.columns.metrics.map((m) => [m, EB.meanStd(b.rows.map((r) => flatValue(r, m)))])),
      }));
    }
    return out;
  },
  points(p) {
    const rows = EB.local._rows(p), R = EB.report;
    const params = {};
    for (const k of R.columns.params) {
      const vals = rows.map((r) => flatValue(r, k));
      if (new Set(vals.map((v) => JSON.stringify(v))).size > 1) params[k] = vals;
    }
    return { names: rows.map((r) => r.name), params,
      metrics: Object.fromEntries(R.columns.metrics.map((m) => [m, rows.map((r) => flatValue(r, m))])) };
  },
  experiment(p) {
    const e = (EB.report.experiments || {})[p.name];
    if (!e) throw new ApiError("the report holds no page for " + JSON.stringify(p.name) + " (only the first runs of the table)", 404);
    return e;
  },
  curves(p) {
    const names = [].concat(p.name || []), C = EB.report.curves || {};
    const metrics = [...new Set(names.flatMap((n) => Object.keys(C[n] || {})))].sort();
    let metric = p.metric || (metrics.filter((m) => m.includes("loss"))[0] || metrics[0]);
    const series = names.filter((n) => C[n] && C[n][metric]).map((n) => {
      const row = EB.report.rows.find((r) => r.name === n) || {};
      return { name: n, rev: row.rev, params: row.params || {}, ...C[n][metric] };
    });
    return { metrics, metric, series };
  },
  compare(p) {
    const names = [].concat(p.name || []);
    const rows = names.map((n) => EB.report.rows.find((r) => r.name === n)).filter(Boolean);
    if (rows.length < 2) throw new ApiError("compare needs at least two experiments", 400);
    const same = (vs) => vs.every((v) => JSON.stringify(v) === JSON.stringify(vs[0]));
    const params = {}, metrics = {};
    for (const k of [...new Set(rows.flatMap((r) => Object.keys(r.params)))].sort()) {
      const vs = rows.map((r) => r.params[k] ?? null);
      if (!same(vs)) params[k] = vs;
    }
    for (const k of [...new Set(rows.flatMap((r) => Object.keys(r.metrics)))].sort()) {
      const vs = rows.map((r) => r.metrics[k] ?? null);
      metrics[k] = { values: vs, deltas: vs.map((v, i) => (i && typeof v === "number" && typeof vs[0] === "number" ? v - vs[0] : null)) };
    }
    return { experiments: rows.map((r) => ({ name: r.name, rev: r.rev, kind: r.kind, status: r.status })), params, metrics };
  },
  stats() { if (!EB.report.stats) throw new ApiError("the report holds no statistics", 404); return EB.report.stats; },
  sweeps() { return { sweeps: (EB.report.sweeps || []).map((s) => ({ name: s.name, updated: s.updated, counts: s.counts })) }; },
  sweep(p) {
    const s = (EB.report.sweeps || []).find((x) => x.name === p.name);
    if (!s) throw new ApiError("no sweep " + JSON.stringify(p.name) + " in this report", 404);
    return s;
  },
};

// ---------------------------------------------------------------- experiments table
function defaultColumns(cols) {
  // like `expbook registry`: the params and metrics that differ between rows, in the ranking
  // the server sends (expbook.registry.ranking: key metrics and varied params first, per-item
  // breakdowns last), at most 10 params and 8 metrics ("Columns" shows the rest)
  const vary = new Set(cols.varying || [...cols.params, ...cols.metrics]);
  const ranked = (cols.ranked || [...cols.params, ...cols.metrics]).filter((k) => vary.has(k));
  const params = ranked.filter((k) => cols.params.includes(k)).slice(0, 10);
  const metrics = ranked.filter((k) => cols.metrics.includes(k)).slice(0, 8);
  return ["name", ...(vary.has("author") ? ["author"] : []), "status", "created", "tags", ...params, ...metrics];
}
function cellFor(row, col) {
  const v = flatValue(row, col);
  if (col === "name") return h("td", {}, h("a", { href: "#/exp?" + new URLSearchParams({ name: row.name }) }, row.name));
  if (col === "status" && row.status === "running") return h("td", { class: "status-running" }, "● running");
  // a running run has no commit yet: the registry row carries its baseline's values
  if (row.status === "running" && ((row.params && col in row.params) || (row.metrics && col in row.metrics)))
    return h("td", { class: "num muted", title: "running: its values are recorded when it finishes (see its page for the curves so far)" }, "…");
  if (col === "status") return h("td", { class: "status-" + row.status }, row.status);
  if (col === "tags") return h("td", {}, (row.tags || []).map((t) => h("span", { class: "tag" }, t)));
  if (col === "rev" || col === "baseline") return h("td", { title: v || "" }, (v || "").slice(0, 7));
  if (col === "created") return h("td", { title: EB.when ? EB.when(v) : v || "" }, (v || "").replace("T", " ").replace("Z", "").slice(0, 16));
  return h("td", { class: typeof v === "number" ? "num" : "", title: EB.fmt(v) }, EB.num(v));
}

EB.pages.table = async function (view, st) {
  const limit = 100, offset = +(st.offset || 0);
  const sel = new Set([].concat(st.sel || []).filter(Boolean));
  const query = { where: st.where || "", q: st.q || "", sort: st.sort || "", desc: st.desc || "", group: st.group || "", offset, limit };
  const whereBox = h("input", { type: "text", class: "where", placeholder: "where, e.g. val.acc > 0.9 and tag = 'best'", value: st.where || (EB.report ? EB.report.where || "" : ""), "aria-label": "where" });
  const searchBox = h("input", { type: "text", placeholder: "quick search", value: st.q || "", "aria-label": "search" });
  const update = (changes) => EB.go("table", { ...st, offset: 0, ...changes });
  whereBox.addEventListener("keydown", (e) => { if (e.key === "Enter") update({ where: whereBox.value.trim() }); });
  searchBox.addEventListener("keydown", (e) => { if (e.key === "Enter") update({ q: searchBox.value.trim() }); });
  const errors = h("div", {});
  const toolbar = h("div", { class: "toolbar" }, whereBox, h("button", { class: "primary", id: "apply", onclick: () => update({ where: whereBox.value.trim() }) }, "Filter"), searchBox);
  // running and crashed runs (and failed sweep trials) above the table; the table is re-read
  // when one starts or ends
  const live = EB.livePanel && !EB.report ? EB.livePanel(() => EB.render()) : null;
  view.replaceChildren(toolbar, errors);
  if (live) view.append(live);
  let data;
  try { data = await EB.get("table", query); } catch (err) {
    errors.append(EB.errorBox(err.message));
    return;
  }
  const cols = st.cols ? String(st.cols).split(",").filter((c) => c) : defaultColumns(data.columns);
  const known = new Set([...data.columns.meta, ...data.columns.params, ...data.columns.metrics]);
  // pinned columns (the name by default) come first and stay visible when scrolling right
  const pins = new Set((st.pin === undefined ? "name" : String(st.pin)).split(",").filter((c) => known.has(c)));
  const picked = cols.filter((c) => known.has(c));
  const shown = [...picked.filter((c) => pins.has(c)), ...picked.filter((c) => !pins.has(c))];
  const groupOf = (c) => (data.columns.params.includes(c) ? "params" : data.columns.metrics.includes(c) ? "metrics" : "meta");

  const groupSel = h("select", { "aria-label": "group by", onchange: (e) => update({ group: e.target.value }) },
    h("option", { value: "" }, "group by…"), data.columns.params.map((p) => h("option", { value: p, selected: st.group === p }, EB.short(p))));
  const selNames = () => [...sel];
  const cmpBtn = h("button", { id: "compare-selected", disabled: sel.size < 2, onclick: () => EB.go("compare", { name: selNames() }) }, "Compare selected (" + sel.size + ")");
  const chartBtn = h("button", { id: "chart-selected", onclick: () => EB.go("charts", { where: st.where, q: st.q, sort: st.sort, desc: st.desc, name: selNames() }) }, sel.size ? "Chart selected" : "Chart filtered");
  toolbar.append(groupSel, EB.columnChooser(data.columns, shown, (next, pinned) => update({ cols: next.join(","), pin: pinned.join(",") || "-", offset }), groupOf, pins), cmpBtn, chartBtn,
    h("span", { class: "muted", id: "count" }, data.total + " of " + data.count + " rows"));

  if (data.groups) {
    // the metrics the table shows (the ones that differ by default), not dataset constants
    const shownMetrics = shown.filter((c) => data.columns.metrics.includes(c));
    const ms = shownMetrics.length ? shownMetrics : data.columns.metrics.slice(0, 8);
    view.append(h("div", { class: "groups tablewrap" }, h("table", { class: "grid", id: "groups" },
      h("thead", {}, h("tr", {}, h("th", {}, EB.short(st.group)), h("th", {}, "n"), ms.map((m) => h("th", { title: m }, EB.short(m) + " mean ± std")))),
      h("tbody", {}, data.groups.map((g) => h("tr", {}, h("td", {}, EB.fmt(g.value)), h("td", { class: "num" }, g.n),
        ms.map((m) => h("td", { class: "num" }, EB.meanStdText(g.metrics[m])))))))));
  }
  const sortBy = (c) => update({ sort: c, desc: st.sort === c && st.desc !== "1" ? "1" : "", offset });
  const arrow = (c) => (st.sort === c ? (st.desc === "1" ? " ▼" : " ▲") : "");
  const spans = [];
  for (const c of shown) {
    const g = groupOf(c);
    if (spans.length && spans[spans.length - 1][0] === g) spans[spans.length - 1][1]++;
    else spans.push([g, 1]);
  }
  const thead = h("thead", {},
    h("tr", {}, h("th", {}), spans.map(([g, n]) => h("th", { colspan: n, class: "g-" + g }, g))),
    h("tr", {}, h("th", {}, ""), shown.map((c) => h("th", { title: c, class: "g-" + groupOf(c) + (pins.has(c) ? " pinned" : ""), "data-col": c, onclick: () => sortBy(c) }, EB.short(c) + (c === "created" ? " (UTC)" : "") + arrow(c)))));
  const tbody = h("tbody", {}, data.rows.map((row) => {
    const box = h("input", { type: "checkbox", "aria-label": "select " + row.name, checked: sel.has(row.name) });
    const tr = h("tr", { class: sel.has(row.name) ? "sel" : "", "data-name": row.name }, h("td", {}, box), shown.map((c) => cellFor(row, c)));
    box.addEventListener("change", () => {
      if (box.checked) sel.add(row.name); else sel.delete(row.name);
      tr.className = box.checked ? "sel" : "";
      history.replaceState(null, "", "#/table?" + new URLSearchParams([...Object.entries({ ...st, sel: "" }).filter(([k, v]) => v && k !== "sel"), ...[...sel].map((n) => ["sel", n])]));
      cmpBtn.disabled = sel.size < 2;
      cmpBtn.textContent = "Compare selected (" + sel.size + ")";
      chartBtn.textContent = sel.size ? "Chart selected" : "Chart filtered";
    });
    return tr;
  }));
  if (!data.rows.length) {
    tbody.append(h("tr", {}, h("td", { colspan: shown.length + 1, class: "muted" },
      data.count ? "No experiment matches" + (st.where ? " where " + st.where : "") + (st.q ? " and the search " + JSON.stringify(st.q) : "") + "." :
        "No experiments yet: run one (dvc exp run, expbook sweep) and it shows up here.")));
  }
  const grid = h("table", { class: "grid", id: "experiments" }, thead, tbody);
  view.append(h("div", { class: "tablewrap" }, grid));
  stickPinned(grid, shown.map((c, i) => (pins.has(c) ? i + 1 : -1)).filter((i) => i > 0));
  const last = Math.min(offset + limit, data.total);
  view.append(h("div", { class: "pager" },
    h("button", { disabled: offset === 0, onclick: () => EB.go("table", { ...st, offset: Math.max(0, offset - limit) }) }, "‹ prev"),
    h("span", {}, data.total ? offset + 1 + "–" + last + " of " + data.total : "no rows"),
    h("button", { id: "next-page", disabled: last >= data.total, onclick: () => EB.go("table", { ...st, offset: offset + limit }) }, "next ›")));
};

// pinned columns: sticky at the left, each after the widths of the ones before it
function stickPinned(table, indexes) {
  if (!indexes.length) return;
  const cols = [0, ...indexes];  // the selection checkbox column too
  requestAnimationFrame(() => {
    const head = table.tHead.rows[1];
    let left = 0;
    for (const i of cols) {
      for (const tr of [head, ...table.tBodies[0].rows]) {
        const cell = tr.cells[i];
        if (cell) { cell.classList.add("stick"); cell.style.left = left + "px"; }
      }
      left += head.cells[i].getBoundingClientRect().width;
    }
  });
}

// the column chooser: the shown columns in order (drag, or ↑ ↓; "pin" keeps one at the left; ×
// hides it) above a searchable list of the others (+ shows one)
EB.columnChooser = function (columns, shown, apply, groupOf, pinned) {
  const panel = h("div", { class: "panel", hidden: true, id: "col-panel" });
  const all = [...columns.meta, ...columns.params, ...columns.metrics];
  let order = [...shown];
  const pins = new Set(pinned || []);
  const search = h("input", { type: "search", id: "col-search", placeholder: "search " + all.length + " columns", "aria-label": "search columns" });
  const shownList = h("ol", { class: "col-list", id: "cols-shown" });
  const availList = h("ul", { class: "col-list", id: "cols-available" });
  const move = (i, j) => { if (j < 0 || j >= order.length) return; order.splice(j, 0, order.splice(i, 1)[0]); draw(); };
  let dragged = null;
  const label = (c) => [h("span", { class: "muted" }, groupOf(c) + ":"), h("span", { class: "cname", title: c }, EB.short(c))];
  function draw() {
    const q = search.value.trim().toLowerCase();
    shownList.replaceChildren(...order.map((c, i) => {
      const li = h("li", { draggable: "true", "data-col": c, class: pins.has(c) ? "pinned" : "", hidden: !!q && !c.toLowerCase().includes(q) },
        h("span", { class: "grip", "aria-hidden": "true" }, "⋮⋮"),
        h("button", { class: "mv pin" + (pins.has(c) ? " on" : ""), title: pins.has(c) ? "unpin" : "pin to the left", "aria-label": (pins.has(c) ? "unpin " : "pin ") + c, onclick: () => { if (pins.has(c)) pins.delete(c); else pins.add(c); draw(); } }, pins.has(c) ? "pinned" : "pin"),
        ...label(c),
        h("span", { class: "btns" },
          h("button", { class: "mv", "aria-label": "move " + c + " up", onclick: () => move(i, i - 1) }, "↑"),
          h("button", { class: "mv", "aria-label": "move " + c + " down", onclick: () => move(i, i + 1) }, "↓"),
          h("button", { class: "mv", "aria-label": "hide " + c, onclick: () => { order.splice(i, 1); pins.delete(c); draw(); } }, "×")));
      li.addEventListener("dragstart", () => { dragged = i; });
      li.addEventListener("dragover", (e) => e.preventDefault());
      li.addEventListener("drop", (e) => { e.preventDefault(); if (dragged !== null && dragged !== i) move(dragged, i); dragged = null; });
      return li;
    }));
    const hits = all.filter((c) => !order.includes(c) && (!q || c.toLowerCase().includes(q)));
    availList.replaceChildren(...hits.slice(0, 150).map((c) => h("li", { "data-col": c },
      h("button", { class: "mv add", "aria-label": "show " + c, onclick: () => { order.push(c); draw(); } }, "+"), ...label(c))),
    ...(hits.length > 150 ? [h("li", { class: "muted" }, hits.length - 150 + " more: refine the search")] : []),
    ...(hits.length ? [] : [h("li", { class: "muted" }, q ? "no column matches " + JSON.stringify(q) : "every column is shown")]));
  }
  search.addEventListener("input", draw);
  panel.append(h("div", { class: "toolbar" },
    h("button", { class: "primary", id: "cols-apply", onclick: () => apply(order, order.filter((c) => pins.has(c))) }, "Apply"),
    h("button", { onclick: () => { order = [...shown]; draw(); } }, "Undo changes"),
    h("span", { class: "muted" }, "drag or ↑↓ to reorder; pinned columns stay at the left")),
  search, h("div", { class: "col-head" }, "Shown, in order"), shownList, h("div", { class: "col-head" }, "Other columns (+ to show)"), availList);
  draw();
  return h("span", { class: "cols" }, h("button", { id: "cols-button", onclick: () => { panel.hidden = !panel.hidden; if (!panel.hidden) search.focus(); } }, "Columns (" + shown.length + "/" + all.length + ")"), panel);
};

// ---------------------------------------------------------------- router
async function render() {
  const { view } = EB.route();
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.view === view);
  const main = document.getElementById("view");
  const page = EB.pages[view];
  if (EB.stop) { EB.stop(); EB.stop = null; }
  if (!page) { main.replaceChildren(EB.errorBox("no page " + JSON.stringify(view))); return; }
  try { await page(main, EB.state()); } catch (err) { main.append(EB.errorBox(err.message)); }
  document.body.dataset.ready = view;
}
EB.render = render;
window.addEventListener("hashchange", render);
window.addEventListener("DOMContentLoaded", () => {
  // a page whose script this build does not carry (a report without the Models page) has no tab
  for (const a of document.querySelectorAll("nav a")) if (!EB.pages[a.dataset.view]) a.hidden = true;
  if (EB.report) document.getElementById("status").textContent = "report written " + EB.report.written + " · " + EB.report.repo;
  render();
});
