// SVG drawing for the dashboard: sparklines and the topic chart. Long ranges are
// downsampled to one min/max pair per pixel column, so a year of 30-minute windows
// (17,520 points) draws as ~1,000 path points and spikes are never averaged away.

const NS = "http://www.w3.org/2000/svg";

export function el(name, attrs = {}, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

// Bucket indices 0..n-1 into `cols` columns; call f(column, firstIndex, endIndex).
function columns(n, cols, f) {
  if (n <= cols) { for (let i = 0; i < n; i++) f(i, i, i + 1); return; }
  for (let c = 0; c < cols; c++) {
    const a = Math.floor((c * n) / cols), b = Math.floor(((c + 1) * n) / cols);
    if (b > a) f(c, a, b);
  }
}

// A path through min and max of each column: what a line of every point would cover.
function minMaxPath(xs, ys, n, cols, x, y) {
  let d = "";
  columns(n, cols, (_c, a, b) => {
    let lo = Infinity, hi = -Infinity, at = xs[a];
    for (let i = a; i < b; i++) {
      const v = ys[i];
      if (v == null) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (lo === Infinity) return;
    d += (d ? "L" : "M") + x(at).toFixed(1) + "," + y(lo).toFixed(1);
    if (hi !== lo) d += "L" + x(at).toFixed(1) + "," + y(hi).toFixed(1);
  });
  return d;
}

export function sparkline(values, label) {
  const w = 160, h = 32;
  const svg = el("svg", { class: "spark", viewBox: `0 0 ${w} ${h}`, role: "img", "aria-label": label, preserveAspectRatio: "none" });
  if (!values.length) return svg;
  const max = Math.max(1, ...values);
  const xs = values.map((_, i) => i);
  const x = (i) => (values.length === 1 ? w / 2 : (i * (w - 2)) / (values.length - 1) + 1);
  const y = (v) => h - 2 - (v / max) * (h - 4);
  svg.append(el("path", { d: minMaxPath(xs, values, values.length, w, x, y) }));
  return svg;
}

function fmtTime(ms, span) {
  const d = new Date(ms);
  const iso = d.toISOString();
  return span > 3 * 86400e3 ? iso.slice(0, 10) : iso.slice(5, 16).replace("T", " ");
}

// One way to write a count everywhere: 2,418.
export const fmtCount = (v) => (v == null ? "—" : Math.round(v).toLocaleString("en-US"));

// A round step for about `parts` ticks up to `max`: 1, 2 or 5 times a power of ten.
export function niceStep(max, parts) {
  const raw = Math.max(max, 1) / parts;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw);
  return Math.max(1, step);
}

// Draw `data` (the /expected or /backtest columns) into `host`, with `alerts` marked on
// the time axis. Returns the <svg>; data-points tells how many windows it holds.
export function drawChart(host, data, alerts, { onMarker } = {}) {
  // Drawn at the size it is shown (style.css: 320 px high, 240 on a phone), so text
  // keeps its size and the plot fills its box.
  const cs = getComputedStyle(host);
  const inner = host.clientWidth - parseFloat(cs.paddingLeft || 0) - parseFloat(cs.paddingRight || 0);
  const width = Math.max(260, Math.round(inner || 800));
  const height = window.matchMedia("(max-width: 640px)").matches ? 240 : 320;
  const pad = { l: 52, r: 10, t: 22, b: 30 };
  const n = data.start.length;
  const svg = el("svg", {
    class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `Mentions of ${data.topic} per ${data.window} window, ${n} windows, with the ${data.detector} detector's expected band`,
    "data-points": String(n), "data-last": n ? String(data.start[n - 1]) : "",
  });
  svg.append(el("title", {}, `${data.topic}: ${n} windows`));
  if (!n) {
    svg.append(el("text", { x: width / 2, y: height / 2, "text-anchor": "middle" }, "No stored windows in this range yet"));
    host.replaceChildren(svg);
    return svg;
  }
  const t0 = data.start[0], t1 = data.start[n - 1] === t0 ? t0 + 1 : data.start[n - 1];
  let peak = 1;
  for (let i = 0; i < n; i++) peak = Math.max(peak, data.count[i], data.high[i] ?? 0);
  // Value ticks on round numbers, the top one at or above the peak.
  const step = niceStep(peak, 4);
  const max = Math.ceil(peak / step) * step;
  const x = (t) => pad.l + ((t - t0) / (t1 - t0)) * (width - pad.l - pad.r);
  const y = (v) => height - pad.b - (Math.max(0, v) / max) * (height - pad.t - pad.b);
  const cols = width - pad.l - pad.r;

  for (let v = 0; v <= max; v += step) {
    const yy = y(v);
    svg.append(el("line", { class: "axis", x1: pad.l, x2: width - pad.r, y1: yy, y2: yy }));
    svg.append(el("text", { class: "tick-y", x: pad.l - 4, y: yy + 4, "text-anchor": "end" }, fmtCount(v)));
  }
  svg.append(el("text", { class: "axis-title", x: pad.l, y: 12, "text-anchor": "start" }, `mentions per ${data.window} window`));
  // Time ticks: as many as fit without overlapping (a label is ~100 px), times in UTC.
  const labels = Math.max(2, Math.min(4, Math.floor(cols / 110) + 1));
  for (let k = 0; k < labels; k++) {
    const t = t0 + ((t1 - t0) * k) / (labels - 1);
    const anchor = k === 0 ? "start" : k === labels - 1 ? "end" : "middle";
    svg.append(el("text", { class: "tick-x", x: x(t), y: height - 10, "text-anchor": anchor }, fmtTime(t, t1 - t0)));
  }
  svg.append(el("text", { class: "axis-title", x: width - pad.r, y: 12, "text-anchor": "end" }, "UTC"));

  // Incident spans behind everything: from the first firing window to the resolved one.
  const spans = new Map();
  for (const a of alerts) {
    const s = spans.get(a.id) || { start: Date.parse(a.started_at), end: null, firing: null };
    if (a.status === "resolved") s.end = Date.parse(a.window_start);
    else s.firing = a;
    spans.set(a.id, s);
  }
  for (const s of spans.values()) {
    const a = Math.max(t0, s.start), b = Math.min(t1, s.end ?? t1);
    if (b < a) continue;
    svg.append(el("rect", { class: "incident", x: x(a), y: pad.t, width: Math.max(2, x(b) - x(a)), height: height - pad.t - pad.b }));
  }

  // The band: high edge left to right, low edge back.
  let top = "", bottom = "";
  columns(n, cols, (_c, a, b) => {
    let lo = Infinity, hi = -Infinity;
    for (let i = a; i < b; i++) {
      if (data.high[i] != null && data.high[i] > hi) hi = data.high[i];
      if (data.low[i] != null && data.low[i] < lo) lo = data.low[i];
    }
    if (hi === -Infinity || lo === Infinity) return;
    top += (top ? "L" : "M") + x(data.start[a]).toFixed(1) + "," + y(hi).toFixed(1);
    bottom = "L" + x(data.start[a]).toFixed(1) + "," + y(lo).toFixed(1) + bottom;
  });
  if (top) svg.append(el("path", { class: "band", d: top + bottom + "Z" }));
  const exp = minMaxPath(data.start, data.expected, n, cols, x, y);
  if (exp) svg.append(el("path", { class: "expected", d: exp }));
  svg.append(el("path", { class: "count", d: minMaxPath(data.start, data.count, n, cols, x, y) }));

  // Markers on the time axis, one per incident, focusable for keyboard users.
  for (const [id, s] of spans) {
    if (!s.firing) continue;
    const t = Date.parse(s.firing.window_start);
    if (t < t0 || t > t1) continue;
    const m = el("circle", { class: "fire", cx: x(t), cy: height - pad.b, r: 7, tabindex: "0", role: "button", "data-incident": id });
    const label = `Incident: ${fmtCount(s.firing.count)} mentions at ${fmtTime(t, 0)} UTC (${s.firing.detector})`;
    m.setAttribute("aria-label", label);
    m.append(el("title", {}, label));
    if (onMarker) {
      m.addEventListener("click", () => onMarker(id));
      m.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); onMarker(id); } });
    }
    svg.append(m);
  }
  readout(svg, data, x, width, pad);
  host.replaceChildren(svg);
  return svg;
}

// A tooltip for the nearest window under the pointer: its time, count and expectation.
function readout(svg, data, x, width, pad) {
  const n = data.start.length;
  const line = el("line", { class: "cursor", x1: 0, x2: 0, y1: pad.t, y2: svg.viewBox.baseVal.height - pad.b, visibility: "hidden" });
  const text = el("text", { class: "readout", x: width - pad.r, y: pad.t + 28, "text-anchor": "end", visibility: "hidden" });
  svg.append(line, text);
  svg.addEventListener("pointermove", (e) => {
    const box = svg.getBoundingClientRect();
    const at = ((e.clientX - box.left) / box.width) * width;
    // The window whose start is nearest: starts are sorted, so a binary search.
    let lo = 0, hi = n - 1;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (x(data.start[mid]) < at) lo = mid + 1; else hi = mid; }
    const i = lo > 0 && Math.abs(x(data.start[lo - 1]) - at) < Math.abs(x(data.start[lo]) - at) ? lo - 1 : lo;
    const xx = x(data.start[i]).toFixed(1);
    line.setAttribute("x1", xx); line.setAttribute("x2", xx);
    const expected = data.expected[i] != null ? `, expected ${fmtCount(data.expected[i])}` : "";
    text.textContent = `${fmtTime(data.start[i], 0)} UTC: ${fmtCount(data.count[i])} mentions${expected}`;
    line.setAttribute("visibility", "visible"); text.setAttribute("visibility", "visible");
  });
  svg.addEventListener("pointerleave", () => {
    line.setAttribute("visibility", "hidden"); text.setAttribute("visibility", "hidden");
  });
}

// The keys are drawn by style.css (classes, no inline styles: the CSP allows none).
// Only what the chart can show is listed: a detector without a baseline (threshold) has
// no expected line or band.
export function legend(data = null) {
  const has = (k) => !data || data[k].some((v) => v != null);
  const keys = [["count", "count"], ["expected", "expected"], ["band", "normal band"], ["incident", "incident"]]
    .filter(([key]) => key === "expected" ? has("expected") : key === "band" ? has("high") : true);
  const p = document.createElement("p");
  p.className = "legend";
  for (const [key, label] of keys) {
    const span = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.className = `key-${key}`;
    span.append(swatch, label);
    p.append(span);
  }
  return p;
}
