// expbook dashboard: the plotting kit shared by every page with charts (charts.js) and the
// report. Run colours (EB.colorOf), Plotly loaded only when a chart is drawn (EB.plotly), the
// escaping of user strings before Plotly (EB.plotSafe) and curve traces with honest axes.
// Loaded after app.js, before charts.js.
"use strict";
(function () {
  const { h, fmt, short } = EB;

  // ------------------------------------------------------------ run colours
  // 24 colours, perceptually spaced in OKLCH: hues 15 degrees apart, lightness alternating so
  // that neighbouring hues still differ. A run's colour comes from a hash of its name (not
  // its position), so it is the same on every page and in the report.
  function oklch(L, C, deg) {
    const hr = (deg * Math.PI) / 180, a = C * Math.cos(hr), b = C * Math.sin(hr);
    const l = (L + 0.3963377774 * a + 0.2158037573 * b) ** 3;
    const m = (L - 0.1055613458 * a - 0.0638541728 * b) ** 3;
    const s = (L - 0.0894841775 * a - 1.291485548 * b) ** 3;
    const rgb = [4.0767416621 * l - 3.3077115913 * m + 0.2309699292 * s,
      -1.2684380046 * l + 2.6097574011 * m - 0.3413193965 * s,
      -0.0041960863 * l - 0.7034186147 * m + 1.707614701 * s];
    return "#" + rgb.map((x) => {
      x = Math.min(1, Math.max(0, x));
      x = x <= 0.0031308 ? 12.92 * x : 1.055 * x ** (1 / 2.4) - 0.055;
      return Math.round(x * 255).toString(16).padStart(2, "0");
    }).join("");
  }
  const PALETTE = Array.from({ length: 24 }, (_, k) => oklch(k % 2 ? 0.5 : 0.66, k % 2 ? 0.13 : 0.15, k * 15 + 20));
  EB.PALETTE = PALETTE;
  function hash(s) {  // FNV-1a, 32 bit
    let x = 0x811c9dc5;
    for (let i = 0; i < s.length; i++) x = Math.imul(x ^ s.charCodeAt(i), 0x01000193);
    return x >>> 0;
  }
  const nameOf = (run) => (run && typeof run === "object" ? run.name : String(run));
  let assigned = new Map();
  // The runs a page shows: within them colours are distinct (up to 24 runs), and for a few runs
  // also far apart (at least 45 degrees of hue for <= 6 runs, 30 for <= 12). Collisions are
  // resolved in the order of (hash, name), so the same set gets the same colours on every page
  // whatever its order; the loser moves on 7 slots at a time (a far hue first).
  EB.useColors = function (runs) {
    const names = [...new Set(runs.map(nameOf))].sort((a, b) => hash(a) - hash(b) || (a < b ? -1 : a > b ? 1 : 0));
    const P = PALETTE.length, gap = names.length <= 6 ? 3 : names.length <= 12 ? 2 : 1;
    const dist = (a, b) => Math.min((a - b + P) % P, (b - a + P) % P);
    const taken = [];
    assigned = new Map();
    for (const n of names) {
      const start = hash(n) % P, order = Array.from({ length: P }, (_, i) => (start + 7 * i) % P);  // 7 is prime to 24: every slot once
      const slot = order.find((c) => taken.every((t) => dist(c, t) >= gap)) ?? order.find((c) => !taken.includes(c)) ?? start;
      taken.push(slot);
      assigned.set(n, slot);
    }
  };
  // EB.colorOf(run): "#rrggbb" of a run (its name or a row {name, ...}); the page's set (the
  // last EB.useColors) first, else the run's own hash slot
  EB.colorOf = (run) => PALETTE[assigned.has(nameOf(run)) ? assigned.get(nameOf(run)) : hash(nameOf(run)) % PALETTE.length];

  // ------------------------------------------------------------ Plotly, on demand
  // The table never waits for the 4.8 MB bundle: it is loaded by the first chart. The live
  // dashboard fetches static/plotly.min.js; the report inflates its embedded, compressed copy.
  let loading = null;
  EB.plotly = function () {
    if (window.Plotly) return Promise.resolve(window.Plotly);
    if (!loading) {
      loading = (EB.report ? EB.inflatedScript("expbook-z-plotly") : Promise.resolve(null)).then((text) => new Promise((resolve, reject) => {
        const el = document.createElement("script");
        el.id = "plotly-js";
        if (text === null) {
          el.src = "static/plotly.min.js";
          el.onload = () => resolve(window.Plotly);
          el.onerror = () => { loading = null; reject(new Error("could not load the chart library (static/plotly.min.js)")); };
          document.head.append(el);
        } else {
          el.textContent = text;  // an inline script runs when it is inserted
          document.head.append(el);
          window.Plotly ? resolve(window.Plotly) : reject(new Error("the report's chart library did not load"));
        }
      }));
    }
    return loading;
  };

  // ------------------------------------------------------------ escaping for Plotly
  // Plotly reads trace names, axis titles, tick labels, hover text and annotations as its
  // pseudo-HTML: a param value `<a href=...>` would become a link. So every string handed to
  // Plotly is escaped (it shows &lt; as "<"); only hovertemplate/texttemplate (ours) are kept.
  EB.plotText = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  function safe(v, key) {
    if (typeof v === "string") return key === "hovertemplate" || key === "texttemplate" ? v : EB.plotText(v);
    if (Array.isArray(v)) return v.every((x) => typeof x === "number" || x === null) ? v : v.map((x) => safe(x, key));
    if (v && typeof v === "object" && !ArrayBuffer.isView(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, safe(x, k)]));
    return v;
  }
  EB.plotSafe = safe;
  const PLOT_CFG = { displaylogo: false, responsive: true };
  // EB.plot(div, traces, layout, trusted): `trusted` when the caller escaped every user string
  // itself (to add Plotly's own <br>)
  EB.plot = async function (div, traces, layout, trusted) {
    const Plotly = await EB.plotly();
    const base = { margin: { l: 55, r: 15, t: 30, b: 45 }, legend: { font: { size: 10 } }, ...layout };
    // parcoords draws its tick labels as plain text (entities would show): those stay raw
    const clean = (t) => (t.type !== "parcoords" ? safe(t) : { ...safe(t), dimensions: t.dimensions.map((dm) => ({ ...safe(dm), ticktext: dm.ticktext })) });
    return Plotly.newPlot(div, trusted ? traces : traces.map(clean), trusted ? base : safe(base), PLOT_CFG);
  };
  EB.chartDiv = (id, cls) => h("div", { class: "chart" + (cls ? " " + cls : ""), id });

  // ------------------------------------------------------------ axes that do not lie
  // integer ticks for step/epoch axes: a round step of at least 1
  EB.intAxis = function (maxValue) {
    const raw = Math.max(1, maxValue / 8), p = 10 ** Math.floor(Math.log10(raw));
    const dtick = [1, 2, 5, 10].map((k) => k * p).find((d) => d >= raw) || 10 * p;
    return { tickmode: "linear", tick0: 0, dtick: Math.max(1, Math.round(dtick)), tickformat: "d" };
  };
  // a curve is per optimizer step when a folder of its name says so (the pipeline's step/ curves);
  // the others of a run that has such curves are per epoch
  EB.isStepCurve = (metric) => /(^|[/:])(step|steps|batch|iter)\//.test(metric);
  EB.xLabel = function (metric, allMetrics) {
    if (EB.isStepCurve(metric)) return "step";
    return (allMetrics || []).some(EB.isStepCurve) ? "epoch" : "step";
  };
  EB.hasTimes = (series) => series.some((s) => (s.timestamps || []).some((t) => t !== null && t !== undefined));
  function ema(values, alpha) {
    if (!alpha) return values;
    let acc = null;
    return values.map((v) => (v === null ? acc : (acc = acc === null ? v : alpha * acc + (1 - alpha) * v)));
  }
  function xOf(s, x) {
    if (x !== "time" || !s.timestamps || s.timestamps[0] === null || s.timestamps[0] === undefined) return s.steps;
    const t0 = s.timestamps[0];
    return s.timestamps.map((t) => (t === null ? null : (t - t0) / 1000));
  }
  // short curves get markers: a 1-point curve drawn as "lines" is invisible
  const modeOf = (n) => (n < 2 ? "markers" : n <= 40 ? "lines+markers" : "lines");
  // a run counted once: the same commit twice, or the workspace row whose curve is that of a
  // commit shown too (the workspace at HEAD), would count one run twice in mean ± std
  EB.uniqueSeries = function (series) {
    const key = (s) => JSON.stringify([s.steps, s.values]);
    const committed = new Set(series.filter((s) => s.rev !== "workspace").map(key)), revs = new Set();
    return series.filter((s) => {
      if (s.rev === "workspace") return !committed.has(key(s));
      if (revs.has(s.rev)) return false;
      revs.add(s.rev);
      return true;
    });
  };
  // the report's embedded, compressed scripts (report-boot.js decodes them)
  EB.inflatedScript = (id) => window.EBZ.textAsync(id);
  // a long curve drawn in a small panel: the min and max of each of `buckets` slices, in order
  // (spikes stay visible; SVG paths of thousands of points make a grid of panels slow)
  EB.decimate = function (s, buckets) {
    const n = s.steps.length;
    if (!buckets || n <= 2 * buckets) return s;
    const keep = new Set([0, n - 1]);
    for (let b = 0; b < buckets; b++) {
      const lo = Math.floor((b * n) / buckets), hi = Math.floor(((b + 1) * n) / buckets);
      let min = lo, max = lo;
      for (let i = lo; i < hi; i++) {
        if (s.values[i] === null) continue;
        if (s.values[min] === null || s.values[i] < s.values[min]) min = i;
        if (s.values[max] === null || s.values[i] > s.values[max]) max = i;
      }
      keep.add(min).add(max);
    }
    const idx = [...keep].sort((a, b) => a - b), pick = (xs) => (xs ? idx.map((i) => xs[i]) : xs);
    return { ...s, steps: pick(s.steps), values: pick(s.values), timestamps: pick(s.timestamps) };
  };
  EB.curveTraces = function (series, opt) {
    if (!opt.group) {
      // WebGL only for many runs: SVG lines are crisper and work without a GPU
      const type = series.length > 40 ? "scattergl" : "scatter";
      return series.map((raw) => {
        // smoothed first, then thinned for the panel (bands keep every step: runs align on it)
        const s = EB.decimate({ ...raw, values: ema(raw.values, opt.smooth) }, opt.buckets);
        const color = EB.colorOf(s), n = s.steps.length;
        return { type, mode: modeOf(n), name: s.name, x: xOf(s, opt.x), y: s.values,
          line: { color, width: 1.8, dash: "solid" }, marker: { color, size: n < 2 ? 9 : 5 }, legendgroup: s.name, showlegend: opt.legend !== false };
      });
    }
    // mean ± std band per group of runs (e.g. seeds of one config), aligned on the step
    const groups = new Map();
    for (const s of EB.uniqueSeries(series)) {
      const key = fmt(s.params[opt.group]);
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(s);
    }
    const traces = [];
    for (const [key, runs] of groups) {
      const bySteps = new Map();
      for (const s of runs) {
        const ys = ema(s.values, opt.smooth);
        s.steps.forEach((st, j) => { if (!bySteps.has(st)) bySteps.set(st, []); bySteps.get(st).push(ys[j]); });
      }
      const steps = [...bySteps.keys()].sort((a, b) => a - b);
      const ms = steps.map((st) => EB.meanStd(bySteps.get(st)));
      const color = EB.colorOf(short(opt.group) + "=" + key);
      const name = short(opt.group) + "=" + key + " (n=" + runs.length + ")";
      if (runs.length > 1) {  // n = 1 has no spread: no band
        const fill = color + "2e";
        traces.push({ x: steps, y: ms.map((m) => m.mean + m.std), mode: "lines", line: { width: 0 }, showlegend: false, hoverinfo: "skip", legendgroup: name });
        traces.push({ x: steps, y: ms.map((m) => m.mean - m.std), mode: "lines", line: { width: 0 }, fill: "tonexty", fillcolor: fill, showlegend: false, hoverinfo: "skip", legendgroup: name });
      }
      traces.push({ x: steps, y: ms.map((m) => m.mean), mode: modeOf(steps.length), name, line: { color }, marker: { color, size: steps.length < 2 ? 9 : 5 }, legendgroup: name, showlegend: opt.legend !== false });
    }
    return traces;
  };
  // "mean ± std", or "mean (n=1)" with a dash for the spread of a single run
  EB.meanStdText = (m) => (m.mean === null ? "" : EB.num(m.mean) + (m.n > 1 ? " ± " + EB.num(m.std) : " ± –"));

  // the legend of a page's runs as HTML (one swatch per run in its colour)
  EB.runLegend = (names) => h("div", { class: "run-legend", id: "run-legend" }, names.map((n) =>
    h("span", { class: "run-key", "data-name": n }, h("i", { style: "background:" + EB.colorOf(n) }), n)));
})();
