// The three pages: overview (every topic, what is going viral on top), a topic's chart
// with its incidents, and the backtest form. They read only /api/v1.

import { drawChart, fmtCount, legend, sparkline } from "./chart.js";

const enc = encodeURIComponent;
export async function api(path) {
  const r = await fetch(path, { headers: { accept: "application/json" } });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || `${r.status} ${r.statusText}`);
  return body;
}
function h(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") e.textContent = v; else e.setAttribute(k, v);
  }
  e.append(...kids);
  return e;
}
// A sample's link, only when it is a web address. The URL is whatever the post's author
// wrote: a `javascript:` or `data:` link would run their code in this page (the server's
// Content-Security-Policy blocks that too; this keeps it from even being a link).
function webUrl(u) {
  try {
    const url = new URL(u);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}
const fmt = fmtCount;
const DAY = 86400e3;

// ---- Overview -------------------------------------------------------------------
export async function overview(main) {
  const { topics } = await api("/api/v1/topics");
  const rows = await Promise.all(topics.map(async (t) => {
    let day = null;
    try { day = await api(`/api/v1/topics/${enc(t.name)}/expected`); }
    catch { day = null; }
    const counts = day ? day.count : [];
    const i = counts.length - 1;
    const expected = day && i >= 0 ? day.expected[i] : null;
    const current = t.latest ? t.latest.count : null;
    const firing = t.incidents.length > 0;
    // Viral first: open incidents, then how far above expected, then volume.
    const ratio = current == null ? 0 : expected ? current / expected : current;
    return { t, counts, expected, current, firing, ratio };
  }));
  rows.sort((a, b) => (b.firing - a.firing) || (b.ratio - a.ratio) || a.t.name.localeCompare(b.t.name));
  const tbody = h("tbody");
  for (const r of rows) {
    // "normal" only when counts are arriving: a topic that never had a window, or whose
    // windows stopped, says so instead of looking fine.
    const state = r.firing
      ? h("span", { class: "badge firing", text: `going viral (${r.t.incidents.map((a) => a.detector).join(", ")})` })
      : r.t.data === "none"
        ? h("span", { class: "badge nodata", text: "no data yet" })
        : r.t.data === "stale"
          ? h("span", { class: "badge nodata", text: `no recent data (last window ${r.t.latest.window_end.replace("T", " ").slice(0, 16)})` })
          : h("span", { class: "badge quiet", text: "normal" });
    tbody.append(h("tr", { class: r.firing ? "viral" : "", "data-topic": r.t.name },
      h("th", { scope: "row" }, h("a", { href: `/topics/${enc(r.t.name)}`, text: r.t.name })),
      h("td", {}, sparkline(r.counts, `${r.t.name}: last day, ${r.counts.length} windows, peak ${fmt(Math.max(0, ...r.counts))}`)),
      h("td", { class: "num", text: fmt(r.current) }),
      h("td", { class: "num hide-sm", text: fmt(r.expected) }),
      h("td", {}, state)));
  }
  main.replaceChildren(
    h("h1", { text: "Tracked topics" }),
    h("table", { id: "topics" },
      h("caption", { class: "visually-hidden", text: "Topics, what is going viral first" }),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col", text: "Topic" }), h("th", { scope: "col", text: "Last day" }),
        h("th", { scope: "col", class: "num", text: "Current window" }),
        h("th", { scope: "col", class: "num hide-sm", text: "Expected" }),
        h("th", { scope: "col", text: "State" }))),
      tbody));
}

// ---- Topic ------------------------------------------------------------------------
const RANGES = { "1d": DAY, "7d": 7 * DAY, "30d": 30 * DAY, "365d": 365 * DAY };

function incidentList(alerts) {
  const byId = new Map();
  for (const a of alerts) {
    const e = byId.get(a.id) || {};
    e[a.status] = a;
    byId.set(a.id, e);
  }
  const ul = h("ul", { class: "incidents", id: "incidents" });
  for (const [id, e] of [...byId].reverse()) {
    const f = e.firing;
    if (!f) continue;
    const samples = h("ul", { class: "samples" });
    for (const s of f.samples || []) {
      const href = s.url ? webUrl(s.url) : null;
      samples.append(h("li", {}, href ? h("a", { href, rel: "noopener noreferrer", text: s.text }) : s.text));
    }
    ul.append(h("li", { id: `incident-${id}`, tabindex: "-1" },
      h("strong", { text: `${f.window_start.replace("T", " ").slice(0, 16)} UTC — ${fmt(f.count)} mentions` }),
      ` (${f.detector}${f.expected != null ? `, expected ${fmt(f.expected)}` : ""}${f.band ? `, fires at ${fmt(f.band.high)}` : ""}) `,
      h("span", { class: e.resolved ? "badge quiet" : "badge firing", text: e.resolved ? "resolved" : "firing" }),
      samples));
  }
  if (!ul.children.length) ul.append(h("li", { text: "No incidents in this range." }));
  return ul;
}

export async function topic(main, name, live) {
  const params = new URLSearchParams(location.search);
  let range = params.get("range") in RANGES ? params.get("range") : "1d";
  const select = h("select", { id: "range" });
  for (const k of Object.keys(RANGES)) {
    const o = h("option", { value: k, text: { "1d": "last day", "7d": "last week", "30d": "last 30 days", "365d": "last year" }[k] });
    if (k === range) o.selected = true;
    select.append(o);
  }
  const host = h("div", { class: "chart-wrap", id: "chart" });
  const status = h("p", { role: "status", "aria-live": "polite", class: "visually-hidden" });
  const list = h("section", { "aria-labelledby": "inc-h" }, h("h2", { id: "inc-h", text: "Incidents" }));
  main.replaceChildren(
    h("h1", { text: name }),
    h("div", { class: "controls" }, h("label", { for: "range" }, "Range", select)),
    host, legend(), status, list);
  const key = host.nextSibling;

  let to = null; // the end of the newest stored window: "now" in the store's time
  const { topics } = await api("/api/v1/topics");
  const me = topics.find((t) => t.name === name);
  if (!me) throw new Error(`topic ${name} is not tracked`);
  if (me.latest) to = Date.parse(me.latest.window_end);

  // The chart is drawn at its box's size: drawn again when the box changes (a rotated
  // phone, a scrollbar that appears once the incidents are listed).
  const onMarker = (id) => document.getElementById(`incident-${id}`)?.focus();
  let drawn = null, drawnWidth = 0;
  new ResizeObserver(() => {
    if (drawn && host.clientWidth !== drawnWidth) {
      drawnWidth = host.clientWidth;
      drawChart(host, drawn[0], drawn[1], { onMarker });
    }
  }).observe(host);

  let busy = false, again = false;
  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      const q = new URLSearchParams();
      if (to != null) {
        q.set("to", new Date(to).toISOString());
        q.set("from", new Date(to - RANGES[range]).toISOString());
      }
      const data = await api(`/api/v1/topics/${enc(name)}/expected?${q}`).catch(async (e) => {
        // No detector configured: plain counts, no band.
        if (!/not configured/.test(e.message)) throw e;
        const c = await api(`/api/v1/topics/${enc(name)}/counts?${q}&limit=5000`);
        const n = c.counts.length, nil = new Array(n).fill(null);
        return { topic: name, window: c.window, detector: "none", start: c.counts.map((w) => Date.parse(w.window_start)),
          count: c.counts.map((w) => w.count), expected: nil, low: nil, high: nil };
      });
      q.set("limit", "5000");
      const { alerts } = await api(`/api/v1/topics/${enc(name)}/alerts?${q}`);
      drawn = [data, alerts];
      drawnWidth = host.clientWidth;
      drawChart(host, data, alerts, { onMarker });
      key.replaceChildren(...legend(data).childNodes);
      list.replaceChildren(list.firstChild, incidentList(alerts));
      status.textContent = `${data.start.length} windows shown`;
    } finally {
      busy = false;
      if (again) { again = false; refresh(); }
    }
  }
  select.addEventListener("change", () => {
    range = select.value;
    history.replaceState(null, "", `?range=${range}`);
    refresh();
  });
  live(`/api/v1/events?topic=${enc(name)}`, (w) => {
    const end = Date.parse(w.window_end);
    if (to == null || end > to) { to = end; refresh(); }
  });
  await refresh();
}

// ---- Backtest -------------------------------------------------------------------
export async function backtest(main) {
  const { topics } = await api("/api/v1/topics");
  const field = (label, input) => h("label", { for: input.id }, label, input);
  const topicSel = h("select", { id: "bt-topic", name: "topic" });
  for (const t of topics) topicSel.append(h("option", { value: t.name, text: t.name }));
  const kind = h("select", { id: "bt-detector", name: "detector" });
  for (const k of ["adaptive", "burst", "threshold"]) kind.append(h("option", { value: k, text: k }));
  const sens = h("select", { id: "bt-sensitivity", name: "sensitivity" });
  for (const s of ["sensitive", "balanced", "strict"]) sens.append(h("option", { value: s, text: s }));
  sens.value = "balanced";
  const thr = h("input", { id: "bt-threshold", name: "threshold", type: "number", min: "1", value: "1000", inputmode: "numeric" });
  const factor = h("input", { id: "bt-factor", name: "factor", type: "number", min: "1.1", step: "0.1", value: "4" });
  const days = h("select", { id: "bt-range", name: "range" });
  for (const [v, t] of [["7", "last week"], ["30", "last 30 days"], ["365", "last year"]]) days.append(h("option", { value: v, text: t }));
  days.value = "30";
  const form = h("form", { class: "controls", id: "bt-form" },
    field("Topic", topicSel), field("Detector", kind), field("Sensitivity", sens),
    field("Threshold", thr), field("Burst factor", factor), field("Range", days),
    h("button", { type: "submit", text: "Run backtest" }));
  const host = h("div", { class: "chart-wrap", id: "chart" });
  const out = h("section", { "aria-live": "polite", id: "bt-result" });
  main.replaceChildren(h("h1", { text: "Backtest a detector" }),
    h("p", { text: "Pick a detector and its setting: see where it would have fired on the stored history." }),
    form, host, legend(), out);
  const sync = () => {
    sens.parentElement.hidden = kind.value !== "adaptive";
    thr.parentElement.hidden = kind.value !== "threshold";
    factor.parentElement.hidden = kind.value !== "burst";
  };
  kind.addEventListener("change", sync);
  sync();
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const t = topics.find((x) => x.name === topicSel.value);
    const q = new URLSearchParams({ detector: kind.value });
    if (kind.value === "adaptive") q.set("sensitivity", sens.value);
    if (kind.value === "threshold") q.set("threshold", thr.value);
    if (kind.value === "burst") q.set("factor", factor.value);
    if (t && t.latest) {
      const to = Date.parse(t.latest.window_end);
      q.set("to", new Date(to).toISOString());
      q.set("from", new Date(to - Number(days.value) * DAY).toISOString());
    }
    try {
      const r = await api(`/api/v1/topics/${enc(topicSel.value)}/backtest?${q}`);
      drawChart(host, r, r.alerts);
      const fired = r.alerts.filter((a) => a.status === "firing").length;
      out.replaceChildren(h("h2", { text: `${r.detector}: ${fired} incident${fired === 1 ? "" : "s"} in ${r.start.length} windows` }), incidentList(r.alerts));
    } catch (err) {
      out.replaceChildren(h("p", { class: "error", role: "alert", text: err.message }));
    }
  });
}
