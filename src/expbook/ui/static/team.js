// expbook team dashboard (issue 23): which git remote this dashboard serves, when it was last
// fetched, who is signed in, and "Fetch now" (POST /api/fetch). It polls GET /api/team every
// 5 s and redraws a list page when a fetch brought something new. A dashboard of one's own
// repository answers 404 there and shows nothing of this; a report skips it.
"use strict";
(function () {
  if (EB.report) return;
  const h = EB.h;
  const bar = h("span", { id: "team", class: "muted", style: "margin-left:auto;display:flex;gap:8px;align-items:center" });
  let seen = null;
  const ago = (t) => {
    const s = Math.max(0, Math.round(Date.now() / 1000 - t));
    return s < 60 ? s + " s ago" : s < 3600 ? Math.round(s / 60) + " min ago" : new Date(t * 1000).toLocaleString();
  };
  async function status() {
    const r = await fetch("api/team").catch(() => null);
    return r && r.ok ? r.json() : null;
  }
  function draw(s) {
    const when = s.fetching ? "fetching…" : s.last_fetch ? "fetched " + ago(s.last_fetch) : "not fetched yet";
    bar.replaceChildren(...[
      h("span", { id: "team-remote", title: s.summary || "" }, "team: " + s.remote + " · " + when),
      s.error ? h("span", { class: "error", id: "team-error", title: s.error }, "last fetch failed") : null,
      s.user ? h("span", { id: "team-user" }, "signed in as " + s.user.name) : null,
      h("button", { id: "fetch-now", disabled: s.fetching, onclick: fetchNow }, "Fetch now"),
    ].filter((el) => el));
  }
  async function fetchNow() {
    document.getElementById("fetch-now").disabled = true;
    try { await EB.post("fetch?wait=1", {}); } catch (err) { /* shown by the next status */ }
    await poll();
  }
  async function poll() {
    const s = await status();
    if (!s) return false;
    draw(s);
    const fresh = seen !== null && s.fetches !== seen && !/nothing new/.test(s.summary || "");
    seen = s.fetches;
    if (fresh && ["table", "sweeps", "sweep", "models"].includes(EB.route().view)) EB.render();
    return true;
  }
  window.addEventListener("DOMContentLoaded", async () => {
    if (!(await poll())) return;
    document.querySelector("header").append(bar);
    setInterval(poll, 5000);
  });
})();
