/* Madoguchi web widget. Embed with:
 *   <script src="https://HOST/widget.js" data-key="WIDGET_KEY" async></script>
 * Plain JS, no build step. Message text is only ever set with textContent.
 *
 * Each connection: wait for `status` (it names the current conversation), send
 * `resume` for that conversation after the highest seq this page has shown (0
 * on the page's first connect, so a reload shows the whole history), and hold
 * `message` frames until `resumed`; then show them in seq order, each id once.
 */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-key][src*='widget.js']");
  if (!script) return;
  var key = script.getAttribute("data-key");
  // A signed chat link (the chat page passes it on): continue that customer's history.
  var link = script.getAttribute("data-link") || null;
  var base = new URL(script.src, location.href).origin;
  var storeKey = "madoguchi:" + key;
  var saved = {};
  try { saved = JSON.parse(localStorage.getItem(storeKey) || "{}") || {}; } catch (e) { saved = {}; }
  var socket = null, live = null, pending = {}, seen = {}, lastSeq = {};
  // attempts: connects since the last served one (the backoff); renewed: the
  // token in use replaced one the server refused, so a refusal now is final.
  var attempts = 0, renewed = false, stopped = false;

  var root = document.createElement("div");
  root.setAttribute("data-madoguchi", "");
  root.style.cssText = "position:fixed;right:16px;bottom:16px;z-index:2147483000;font:14px system-ui,sans-serif";
  var button = document.createElement("button");
  button.type = "button";
  button.textContent = "Chat";
  button.setAttribute("data-madoguchi-part", "launcher");
  button.style.cssText = "border-radius:24px;padding:12px 20px;border:0;background:#234;color:#fff;cursor:pointer";
  var panel = document.createElement("div");
  panel.setAttribute("data-madoguchi-part", "panel");
  // The display property, not the hidden attribute: an inline display:flex beats [hidden].
  panel.style.cssText = "width:320px;height:420px;background:#fff;border:1px solid #ccc;border-radius:8px;display:none;flex-direction:column;margin-bottom:8px";
  var status = document.createElement("div");
  status.setAttribute("data-madoguchi-part", "status");
  status.style.cssText = "padding:8px;border-bottom:1px solid #eee;color:#555";
  var log = document.createElement("div");
  log.setAttribute("data-madoguchi-part", "log");
  log.style.cssText = "flex:1;overflow:auto;padding:8px";
  var form = document.createElement("form");
  form.style.cssText = "display:flex;border-top:1px solid #eee";
  var input = document.createElement("input");
  input.style.cssText = "flex:1;border:0;padding:10px";
  input.setAttribute("aria-label", "Message");
  var send = document.createElement("button");
  send.textContent = "Send";
  form.append(input, send);
  panel.append(status, log, form);
  root.append(panel, button);
  function isOpen() { return panel.style.display !== "none"; }
  function setOpen(open) { panel.style.display = open ? "flex" : "none"; }
  if (script.getAttribute("data-fullscreen")) { setOpen(true); panel.style.width = "100%"; panel.style.height = "90vh"; }

  function persist() {
    try { localStorage.setItem(storeKey, JSON.stringify({token: saved.token || null})); } catch (e) { /* private mode */ }
  }
  function line(kind, name, body) {
    var el = document.createElement("div");
    el.setAttribute("data-madoguchi-part", "message");
    el.setAttribute("data-author", kind);
    el.style.cssText = "margin:4px 0;" + (kind === "customer" ? "text-align:right" : "");
    var who = document.createElement("b");
    who.textContent = kind === "customer" ? "" : (name || "Support") + ": ";
    var text = document.createElement("span");
    text.textContent = body;
    el.append(who, text);
    return el;
  }
  function scroll() { log.scrollTop = log.scrollHeight; }
  // Stored messages go above the customer's unacked ones, which stay last, in
  // the order sent (object keys that are not integers keep insertion order).
  function firstPending() {
    var ids = Object.keys(pending);
    return ids.length ? pending[ids[0]].line : null;
  }
  function show(f) {
    if (f.seq > (lastSeq[f.conversation_id] || 0)) lastSeq[f.conversation_id] = f.seq;
    if (seen[f.id]) return;
    seen[f.id] = true;
    var mine = f.client_id && pending[f.client_id];
    if (mine) { markStored(f.client_id, f.id); return; }
    var el = line(f.author.kind, f.author.name, f.body);
    el.setAttribute("data-id", String(f.id));
    log.insertBefore(el, firstPending());
    scroll();
  }
  function markStored(clientId, id) {
    var p = pending[clientId];
    if (!p) return;
    delete pending[clientId];
    p.line.style.opacity = "1";
    p.line.style.color = "";
    p.line.setAttribute("data-id", String(id));
  }
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "c" + Date.now().toString(36) + Math.random().toString(36).slice(2);
  }
  function sendFrame(frame) {
    if (socket && socket.readyState === 1) socket.send(JSON.stringify(frame));
  }
  function resumed(state) {
    state.resumed = true;
    live = state;
    attempts = 0;
    renewed = false;
    state.held.sort(function (a, b) { return a.conversation_id - b.conversation_id || a.seq - b.seq; });
    state.held.forEach(show);
    state.held = [];
    Object.keys(pending).forEach(function (id) { sendFrame({type: "message", client_id: id, body: pending[id].body}); });
  }
  function unavailable() {
    stopped = true;
    status.textContent = "Chat is unavailable right now.";
  }
  function delay() {
    if (attempts === 0) return 0;
    return Math.min(500 * Math.pow(2, attempts - 1), 30000) * (1 + Math.random() * 0.2);
  }

  function connect() {
    if (stopped) return;
    attempts += 1;
    var ws = new WebSocket(base.replace(/^http/, "ws") + "/ws/widget?token=" + encodeURIComponent(saved.token));
    // Per connection: frames of an old socket must not touch the new one's state.
    var state = {opened: false, resumed: false, resuming: false, held: []};
    socket = ws;
    live = null;
    ws.onopen = function () { state.opened = true; };
    ws.onmessage = function (e) {
      var f;
      try { f = JSON.parse(e.data); } catch (err) { return; }
      if (socket === ws) onFrame(state, f);
    };
    ws.onclose = function (e) {
      if (socket !== ws) return;
      socket = null;
      live = null;
      if (e.code === 1008) refused();
      // A refused handshake (HTTP 403) looks like a dead server (1006 before
      // open): asking for the session again tells the two apart.
      else if (!state.opened) start();
      else later(connect);
    };
  }
  function later(fn) { if (!stopped) setTimeout(fn, delay()); }
  function refused() {
    if (renewed) { unavailable(); return; }
    renewed = true;
    saved.token = null;
    persist();
    start();
  }
  function onFrame(state, f) {
    if (f.type === "message") {
      if (state.resumed) show(f); else state.held.push(f);
    } else if (f.type === "ack") {
      seen[f.id] = true;
      markStored(f.client_id, f.id);
    } else if (f.type === "availability") {
      status.textContent = f.open ? "We're here" : "We're away" + (f.next_open_at ? " until " + new Date(f.next_open_at).toLocaleString() : "");
    } else if (f.type === "status") {
      showPlace(f);
      var conversationId = f.conversation_id || null;
      if (!state.resuming) {
        state.resuming = true;
        var frame = {type: "resume", after_seq: conversationId ? lastSeq[conversationId] || 0 : 0};
        if (conversationId) frame.conversation_id = conversationId;
        sendFrame(frame);
      }
    } else if (f.type === "resumed") {
      if (f.conversation_id && f.last_seq > (lastSeq[f.conversation_id] || 0)) lastSeq[f.conversation_id] = f.last_seq;
      if (!state.resumed) resumed(state);
    } else if (f.type === "error") {
      if (f.client_id && pending[f.client_id]) pending[f.client_id].line.style.color = "#b00";
      // A resume the server could not answer: show what came rather than hold it forever.
      else if (state.resuming && !state.resumed) resumed(state);
    }
  }
  // Routing's word on the chat: waiting in the queue, or with an agent.
  function showPlace(f) {
    if (f.queue_position) {
      var minutes = Math.max(1, Math.round((f.expected_wait_seconds || 0) / 60));
      status.textContent = "You are number " + f.queue_position + " in the queue, about " +
        minutes + (minutes === 1 ? " minute" : " minutes");
    } else if (f.assignee && f.assignee.name) {
      status.textContent = f.assignee.name + " is here to help";
    }
  }
  function start() {
    if (stopped) return;
    var had = saved.token || null;
    fetch(base + "/api/v1/widget/sessions", {method: "POST", headers: {"content-type": "application/json"},
      body: JSON.stringify({widget_key: key, session_token: had, language: navigator.language || null,
        link: link})})
      .then(function (r) {
        if (r.ok) { link = null; return r.json(); }
        // An expired or broken link still chats, as a new customer.
        if (r.status === 403 && link) { link = null; later(start); return undefined; }
        // 4xx but 429: this page may not chat (unknown key, origin); retrying changes nothing.
        if (r.status >= 400 && r.status < 500 && r.status !== 429) return null;
        throw new Error("session " + r.status);
      })
      .then(function (s) {
        if (s === undefined) return;
        if (!s) { unavailable(); return; }
        if (had && s.session_token !== had) {
          // The server no longer knew our token and opened a new session.
          if (renewed) { unavailable(); return; }
          renewed = true;
        }
        saved.token = s.session_token;
        persist();
        later(connect);
      })
      .catch(function () { attempts += 1; later(start); });
  }
  button.onclick = function () {
    setOpen(!isOpen());
    if (!isOpen()) return;
    input.focus();
    if (stopped) { stopped = false; attempts = 0; renewed = false; start(); }
  };
  form.onsubmit = function (e) {
    e.preventDefault();
    var body = input.value.trim();
    if (!body) return;
    var id = uuid();
    var el = line("customer", null, body);
    el.style.opacity = "0.5";
    log.append(el);
    scroll();
    pending[id] = {body: body, line: el};
    // Until `resumed` it waits in pending: resumed() sends it after the history.
    if (live) sendFrame({type: "message", client_id: id, body: body});
    input.value = "";
  };
  function mount() { document.body.append(root); start(); }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
