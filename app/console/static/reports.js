// The reports page: plain JS and SVG, no build step. Text is set with
// textContent only. The sign-in is the console's, kept for this tab
// (sessionStorage), so a supervisor signed in there is signed in here.
const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const STORE = "madoguchi.console";
let token = null;
try { token = (JSON.parse(sessionStorage.getItem(STORE)) || {}).token || null; } catch (e) { token = null; }

async function api(path) {
  const r = await fetch(path, {headers: {authorization: "Bearer " + token}});
  if (r.status === 401) { signOut(); throw new Error("signed out"); }
  if (!r.ok) throw new Error((await r.json()).detail || r.status);
  return r;
}
function signOut() { token = null; sessionStorage.removeItem(STORE); $("app").hidden = true; $("login").hidden = false; }

function duration(s) {
  if (s === null || s === undefined) return "–";
  s = Math.round(s);
  if (s < 60) return s + "s";
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return (d ? d + "d " : "") + (h ? h + "h " : "") + (m || (!d && !h) ? m + "m" : "").trim();
}
function show(id, seconds) { const el = $(id); el.textContent = duration(seconds); el.dataset.seconds = seconds === null ? "" : String(seconds); }
function showTiming(prefix, t) {
  show(prefix + "-median", t.median); show(prefix + "-business-median", t.business_median);
  if ($(prefix + "-p90")) show(prefix + "-p90", t.p90);
  if ($(prefix + "-business-p90")) show(prefix + "-business-p90", t.business_p90);
  $(prefix + "-count").textContent = String(t.count);
}

function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}
// Bars (one or more series side by side) with labels under each group.
function bars(svg, labels, series, fmt) {
  svg.replaceChildren();
  const W = +svg.getAttribute("width"), H = +svg.getAttribute("height"), left = 44, bottom = 22;
  const max = Math.max(1, ...series.flatMap((s) => s.values.map((v) => v || 0)));
  svg.append(el("line", {x1: left, y1: H - bottom, x2: W, y2: H - bottom, stroke: "#999"}));
  svg.append(el("text", {x: 2, y: 10}, fmt(max)));
  const group = (W - left) / Math.max(1, labels.length), width = Math.max(2, group * 0.8 / series.length);
  labels.forEach((label, i) => {
    series.forEach((s, j) => {
      const v = s.values[i] || 0, h = (H - bottom - 14) * v / max;
      const r = el("rect", {x: left + i * group + group * 0.1 + j * width, y: H - bottom - h, width, height: h, fill: s.color});
      r.append(el("title", {}, `${label}: ${fmt(s.values[i])}`));
      r.dataset.value = s.values[i] === null ? "" : String(s.values[i]);
      svg.append(r);
    });
    if (labels.length <= 16 || i % Math.ceil(labels.length / 16) === 0)
      svg.append(el("text", {x: left + i * group + 2, y: H - 6}, label));
  });
}

function period() {
  const tz = $("tz").value || "UTC";
  return {from: $("from").value + "T00:00:00", to: $("to").value + "T00:00:00", tz, inbox: $("inbox").value};
}
function query(p, extra = {}) {
  const q = new URLSearchParams({from: p.from, to: p.to, tz: p.tz, ...extra});
  if (p.inbox) q.set("inbox_id", p.inbox);
  return q.toString();
}

async function load() {
  $("error").textContent = "";
  const p = period();
  history.replaceState(null, "", "?" + new URLSearchParams({from: $("from").value, to: $("to").value, tz: p.tz, inbox_id: p.inbox}));
  $("csv").href = "#";
  try {
    const summary = await (await api("/api/v1/reports/summary?" + query(p))).json();
    const series = await (await api("/api/v1/reports/timeseries?" + query(p, {interval: "day"}))).json();
    showTiming("fr", summary.first_response);
    showTiming("res", summary.resolution);
    showTiming("resp", summary.response);
    showTiming("queue", summary.queue_wait);
    $("csat-average").textContent = summary.csat.average === null ? "–" : summary.csat.average.toFixed(2) + " / 5";
    $("csat-average").dataset.value = summary.csat.average === null ? "" : String(summary.csat.average);
    $("csat-count").textContent = String(summary.csat.count);
    $("sla-breaches").textContent = String(summary.sla.breaches);
    $("sla-warnings").textContent = String(summary.sla.warnings);
    $("opened").textContent = String(summary.conversations.opened);
    $("resolved").textContent = String(summary.conversations.resolved);
    const days = series.items.map((r) => r.start.slice(5, 10));
    bars($("chart-response"), days, [
      {color: "#3a6ea5", values: series.items.map((r) => r.first_response.median)},
      {color: "#9cc3e6", values: series.items.map((r) => r.first_response.business_median)},
      {color: "#e39b3b", values: series.items.map((r) => r.resolution.business_median)},
    ], duration);
    bars($("chart-csat"), ["1", "2", "3", "4", "5"],
      [{color: "#5a9e5a", values: [1, 2, 3, 4, 5].map((r) => summary.csat.distribution[String(r)])}], (v) => String(v ?? 0));
    bars($("chart-sla"), days, [{color: "#c0392b", values: series.items.map((r) => r.sla.breaches)}], (v) => String(v ?? 0));
    bars($("chart-queue"), days, [{color: "#8e6bb8", values: series.items.map((r) => r.queue_wait.median)}], duration);
    document.body.dataset.loaded = "1";
  } catch (e) {
    $("error").textContent = "Could not load the report: " + e.message;
  }
}

async function csv(e) {
  e.preventDefault();
  const r = await api("/api/v1/reports/timeseries.csv?" + query(period(), {interval: "day"}));
  const a = document.createElement("a");
  a.href = URL.createObjectURL(await r.blob());
  a.download = "madoguchi-report.csv";
  a.click();
}

function isoDate(d) { return d.toISOString().slice(0, 10); }
function lastWeek() {
  // Monday to Monday of the week before this one, in the browser's calendar.
  const now = new Date(), monday = new Date(Date.UTC(now.getFullYear(), now.getMonth(), now.getDate()));
  monday.setUTCDate(monday.getUTCDate() - ((monday.getUTCDay() + 6) % 7) - 7);
  const next = new Date(monday); next.setUTCDate(monday.getUTCDate() + 7);
  $("from").value = isoDate(monday); $("to").value = isoDate(next);
}

async function start() {
  $("login").hidden = true; $("app").hidden = false;
  const params = new URLSearchParams(location.search);
  $("tz").value = params.get("tz") || Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  if (params.get("from") && params.get("to")) { $("from").value = params.get("from"); $("to").value = params.get("to"); }
  else lastWeek();
  try {
    const inboxes = await (await api("/api/v1/inboxes")).json();
    for (const inbox of inboxes.items || inboxes) {
      const o = document.createElement("option");
      o.value = inbox.id; o.textContent = `${inbox.name} (${inbox.channel})`;
      $("inbox").append(o);
    }
  } catch (e) { /* the report still works for all inboxes */ }
  $("inbox").value = params.get("inbox_id") || "";
  await load();
}

$("login").onsubmit = async (e) => {
  e.preventDefault();
  const r = await fetch("/api/v1/auth/token", {method: "POST", headers: {"content-type": "application/json"},
    body: JSON.stringify({email: $("email").value, password: $("password").value})});
  if (!r.ok) { $("login-error").textContent = "Sign-in failed"; return; }
  const answer = await r.json();
  token = answer.access_token;
  sessionStorage.setItem(STORE, JSON.stringify({token: token, agent: answer.agent}));
  start();
};
$("controls").onsubmit = (e) => { e.preventDefault(); load(); };
$("last-week").onclick = () => { lastWeek(); load(); };
$("csv").onclick = csv;
if (token) start(); else $("login").hidden = false;
