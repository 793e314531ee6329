// The reports page: plain JS and SVG, no build step. Text is set with
// textContent only. The sign-in is the console's, kept for this tab
// (sessionStorage), so a supervisor signed in there is signed in here.
//
// Dates: the page speaks in whole days of one calendar (the time zone field,
// by default the inboxes' business zone), both ends included; the API's `to`
// is exclusive, so the page asks up to the midnight after the last day.
const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const STORE = "madoguchi.console";
const DAY = 86400000;
let token = null;
try { token = (JSON.parse(sessionStorage.getItem(STORE)) || {}).token || null; } catch (e) { token = null; }

async function api(path) {
  const r = await fetch(path, {headers: {authorization: "Bearer " + token}});
  if (r.status === 401) { signOut(); throw new Error("signed out"); }
  if (!r.ok) throw new Error((await r.json()).detail || r.status);
  return r;
}
function signOut() {
  token = null;
  sessionStorage.removeItem(STORE);
  if (socket) { const s = socket; socket = null; s.close(); }
  $("app").hidden = true; $("login").hidden = false;
}

// -- presence -------------------------------------------------------------------
// Reading reports is being at the desk: the page holds the agent socket the
// console holds (it is what makes an agent online), so leaving the console for
// this page in the same tab does not, after the grace period, take the
// supervisor offline and send their conversations back to the queue. The
// frames it brings are not shown here.
let socket = null, attempts = 0;
function stayPresent() {
  if (!token || socket) return;
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(proto + "://" + location.host + "/ws/agent?token=" + encodeURIComponent(token));
  socket = ws;
  ws.onmessage = (e) => {
    let f;
    try { f = JSON.parse(e.data); } catch (err) { return; }
    if (f.type === "hello") { attempts = 0; showPresence(f.status); }
    else if (f.type === "presence" && f.status) showPresence(f.status);
  };
  ws.onclose = (e) => {
    if (socket !== ws) return;
    socket = null;
    showPresence(null);
    if (e.code === 1008) { signOut(); return; }
    attempts += 1;
    setTimeout(stayPresent, Math.min(500 * Math.pow(2, attempts - 1), 15000) * (1 + Math.random() * 0.2));
  };
}
function showPresence(status) {
  const words = {online: "You are online", away: "You are away", offline: "You are offline"};
  $("presence").textContent = status ? (words[status] || "") : "Reconnecting…";
  $("presence").dataset.status = status || "";
}

// -- figures --------------------------------------------------------------------
function duration(s) {
  if (s === null || s === undefined) return "–";
  s = Math.round(s);
  if (s < 60) return s + "s";
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return (d ? d + "d " : "") + (h ? h + "h " : "") + (m || (!d && !h) ? m + "m" : "").trim();
}
function percent(rate) { return rate === null || rate === undefined ? "–" : Math.round(rate * 100) + "%"; }
function show(id, seconds) { const el = $(id); el.textContent = duration(seconds); el.dataset.seconds = seconds === null ? "" : String(seconds); }
function showTiming(prefix, t) {
  show(prefix + "-median", t.median); show(prefix + "-business-median", t.business_median);
  if ($(prefix + "-p90")) show(prefix + "-p90", t.p90);
  if ($(prefix + "-business-p90")) show(prefix + "-business-p90", t.business_p90);
  $(prefix + "-count").textContent = String(t.count);
}
function csatText(c) { return c.average === null ? "–" : c.average.toFixed(2) + " / 5"; }

function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}
// Bars (one or more series side by side) with labels under each group, and
// the same figures as a table under the chart: the chart's text alternative.
function bars(svg, labels, series, fmt, head) {
  svg.replaceChildren();
  svg.setAttribute("role", "img");
  const W = +svg.getAttribute("width"), H = +svg.getAttribute("height"), left = 44, bottom = 22;
  const max = Math.max(1, ...series.flatMap((s) => s.values.map((v) => v || 0)));
  svg.append(el("line", {x1: left, y1: H - bottom, x2: W, y2: H - bottom, stroke: "#767676"}));
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
    // Room for about 8 labels of "MM-DD" under a 420 px chart.
    if (labels.length <= 8 || i % Math.ceil(labels.length / 8) === 0)
      svg.append(el("text", {x: left + i * group + 2, y: H - 6}, label));
  });
  const heading = svg.parentElement.querySelector("h3").textContent;
  svg.setAttribute("aria-label", `${heading}: chart, the figures are in the table below it`);
  const id = svg.id + "-table";
  let details = $(id + "-details");
  if (!details) {
    details = document.createElement("details");
    details.id = id + "-details";
    details.append(document.createElement("summary"));
    details.querySelector("summary").textContent = "Show the figures as a table";
    svg.parentElement.append(details);
  }
  const table = document.createElement("table");
  table.id = id;
  const caption = table.createCaption(); caption.textContent = heading;
  const hr = table.createTHead().insertRow();
  for (const name of [head, ...series.map((s) => s.name)]) {
    const th = document.createElement("th"); th.scope = "col"; th.textContent = name; hr.append(th);
  }
  const body = table.createTBody();
  labels.forEach((label, i) => {
    const tr = body.insertRow();
    const th = document.createElement("th"); th.scope = "row"; th.textContent = label; tr.append(th);
    for (const s of series) tr.insertCell().textContent = fmt(s.values[i]);
  });
  details.querySelector("table")?.remove();
  details.append(table);
}

// -- the period -----------------------------------------------------------------
function zone() { return $("tz").value.trim() || "UTC"; }
// Today's date in the report's calendar, as YYYY-MM-DD.
function today() {
  try { return new Intl.DateTimeFormat("en-CA", {timeZone: zone()}).format(new Date()); }
  catch (e) { return new Date().toISOString().slice(0, 10); }
}
function addDays(date, days) { return new Date(Date.parse(date + "T00:00:00Z") + days * DAY).toISOString().slice(0, 10); }
function preset(days) {
  const end = today();
  $("from").value = addDays(end, 1 - days); $("to").value = end;
}
function markPreset() {
  const end = today();
  for (const b of document.querySelectorAll(".presets button")) {
    const on = $("to").value === end && $("from").value === addDays(end, 1 - +b.dataset.days);
    b.setAttribute("aria-pressed", String(on));
  }
}
function period() {
  return {
    from: $("from").value + "T00:00:00", to: addDays($("to").value, 1) + "T00:00:00", tz: zone(),
    inbox: $("inbox").value, channel: $("channel").value, team: $("team").value, agent: $("agent").value,
  };
}
function query(p, extra = {}) {
  const q = new URLSearchParams({from: p.from, to: p.to, tz: p.tz, ...extra});
  if (p.inbox) q.set("inbox_id", p.inbox);
  if (p.channel) q.set("channel", p.channel);
  if (p.team) q.set("team", p.team);
  if (p.agent) q.set("agent_id", p.agent);
  return q.toString();
}

// -- the report -----------------------------------------------------------------
async function load() {
  $("error").textContent = "";
  if (!$("from").value || !$("to").value || $("to").value < $("from").value) {
    $("error").textContent = "Choose a first day on or before the last day.";
    return;
  }
  delete document.body.dataset.loaded;
  markPreset();
  $("tz-shown").textContent = zone();
  const p = period();
  const state = {from: $("from").value, until: $("to").value, tz: p.tz};
  for (const [key, value] of [["inbox_id", p.inbox], ["channel", p.channel], ["team", p.team], ["agent_id", p.agent]])
    if (value) state[key] = value;
  history.replaceState(null, "", "?" + new URLSearchParams(state));
  $("shown-period").textContent = $("from").value === $("to").value
    ? `${$("from").value} (${p.tz})` : `${$("from").value} to ${$("to").value}, both included (${p.tz})`;
  try {
    const [summary, series, agents] = await Promise.all([
      api("/api/v1/reports/summary?" + query(p)).then((r) => r.json()),
      api("/api/v1/reports/timeseries?" + query(p, {interval: "day"})).then((r) => r.json()),
      api("/api/v1/reports/agents?" + query(p)).then((r) => r.json()),
    ]);
    showTiming("fr", summary.first_response);
    showTiming("res", summary.resolution);
    showTiming("resp", summary.response);
    showTiming("queue", summary.queue_wait);
    $("csat-average").textContent = csatText(summary.csat);
    $("csat-average").dataset.value = summary.csat.average === null ? "" : String(summary.csat.average);
    $("csat-count").textContent = String(summary.csat.count);
    $("sla-breaches").textContent = String(summary.sla.breaches);
    $("sla-warnings").textContent = String(summary.sla.warnings);
    $("opened").textContent = String(summary.conversations.opened);
    $("resolved").textContent = String(summary.conversations.resolved);
    const sla = agents.first_response_sla;
    $("sla-attainment").textContent = percent(sla.rate);
    $("sla-attainment").dataset.value = sla.rate === null ? "" : String(sla.rate);
    $("sla-attainment-note").textContent = sla.due
      ? `${sla.met} of ${sla.due} first responses within the inbox's target`
      : "None due: first-response targets are set per inbox (service policy)";
    showAgents(agents.items);
    const days = series.items.map((r) => r.start.slice(5, 10));
    bars($("chart-response"), days, [
      {name: "First response", color: "#3a6ea5", values: series.items.map((r) => r.first_response.median)},
      {name: "First response, business", color: "#2b8a7e", values: series.items.map((r) => r.first_response.business_median)},
      {name: "Resolution, business", color: "#b35900", values: series.items.map((r) => r.resolution.business_median)},
    ], duration, "Day");
    bars($("chart-csat"), ["1", "2", "3", "4", "5"],
      [{name: "Ratings", color: "#3d7a3d", values: [1, 2, 3, 4, 5].map((r) => summary.csat.distribution[String(r)])}],
      (v) => String(v ?? 0), "Rating");
    bars($("chart-sla"), days, [{name: "Breaches", color: "#c0392b", values: series.items.map((r) => r.sla.breaches)}],
      (v) => String(v ?? 0), "Day");
    bars($("chart-queue"), days, [{name: "Queue wait", color: "#7a55a8", values: series.items.map((r) => r.queue_wait.median)}],
      duration, "Day");
    document.body.dataset.loaded = "1";
  } catch (e) {
    $("error").textContent = "Could not load the report: " + e.message;
  }
}

function showAgents(items) {
  const body = $("agents").tBodies[0];
  body.replaceChildren();
  for (const a of items) {
    const tr = body.insertRow();
    tr.dataset.agentId = String(a.agent_id);
    const th = document.createElement("th"); th.scope = "row"; th.textContent = a.name; tr.append(th);
    const sla = a.first_response_sla;
    for (const text of [
      String(a.conversations), duration(a.first_response.median), duration(a.first_response.p90),
      duration(a.resolution.median),
      a.csat.count ? `${csatText(a.csat)} (${a.csat.count})` : "–",
      sla.due ? `${percent(sla.rate)} (${sla.met} of ${sla.due})` : "–",
    ]) tr.insertCell().textContent = text;
  }
  $("agents-empty").hidden = items.length > 0;
}

async function csv(e) {
  e.preventDefault();
  try {
    const r = await api("/api/v1/reports/timeseries.csv?" + query(period(), {interval: "day"}));
    const a = document.createElement("a");
    a.href = URL.createObjectURL(await r.blob());
    a.download = `madoguchi-report-${$("from").value}-${$("to").value}.csv`;
    a.click();
  } catch (err) {
    $("error").textContent = "Could not download the CSV: " + err.message;
  }
}

// -- start ----------------------------------------------------------------------
function option(select, value, text) {
  const o = document.createElement("option");
  o.value = value; o.textContent = text;
  select.append(o);
}

async function fillFilters() {
  const zones = new Set();
  try {
    const inboxes = await (await api("/api/v1/inboxes")).json();
    const channels = new Set(), teams = new Set();
    for (const inbox of inboxes.items || inboxes) {
      option($("inbox"), inbox.id, `${inbox.name} (${inbox.channel})`);
      channels.add(inbox.channel);
      for (const t of inbox.teams || []) teams.add(t);
      if (inbox.business_hours && inbox.business_hours.timezone) zones.add(inbox.business_hours.timezone);
    }
    for (const c of [...channels].sort()) option($("channel"), c, c);
    const agents = await (await api("/api/v1/agents")).json();
    for (const a of agents.items) {
      option($("agent"), a.id, a.name);
      for (const t of a.teams || []) teams.add(t);
    }
    for (const t of [...teams].sort()) option($("team"), t, t);
  } catch (e) { /* the report still works without the filters' lists */ }
  return zones;
}

async function start() {
  $("login").hidden = true; $("app").hidden = false;
  stayPresent();
  const params = new URLSearchParams(location.search);
  const zones = await fillFilters();
  // The business's calendar: the inboxes' zone when they share one.
  $("tz").value = params.get("tz") || (zones.size === 1 ? [...zones][0] : "")
    || Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  if (params.get("from") && params.get("until")) {
    $("from").value = params.get("from"); $("to").value = params.get("until");
  } else if (params.get("from") && params.get("to")) {
    // An older link: its `to` was the day after the last.
    $("from").value = params.get("from"); $("to").value = addDays(params.get("to"), -1);
  } else preset(7);
  for (const [id, key] of [["inbox", "inbox_id"], ["channel", "channel"], ["team", "team"], ["agent", "agent_id"]]) {
    const value = params.get(key) || "";
    if (value && ![...$(id).options].some((o) => o.value === value)) option($(id), value, value);
    $(id).value = value;
  }
  await load();
}

$("login-form").onsubmit = async (e) => {
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
for (const b of document.querySelectorAll(".presets button")) b.onclick = () => { preset(+b.dataset.days); load(); };
for (const id of ["inbox", "channel", "team", "agent"]) $(id).onchange = () => load();
$("csv").onclick = csv;
if (token) start(); else { $("login").hidden = false; $("email").focus(); }
