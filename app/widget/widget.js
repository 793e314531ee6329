/* Madoguchi web widget. Embed with:
 *   <script src="https://HOST/widget.js" data-key="WIDGET_KEY" async></script>
 * Plain JS, no build step. Message text is only ever set with textContent.
 */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-key][src*='widget.js']");
  if (!script) return;
  var key = script.getAttribute("data-key");
  var base = new URL(script.src, location.href).origin;
  var storeKey = "madoguchi:" + key;
  var saved = {};
  try { saved = JSON.parse(localStorage.getItem(storeKey) || "{}"); } catch (e) { saved = {}; }
  var lastSeq = saved.lastSeq || 0, conversationId = saved.conversationId || null;
  var socket = null, pending = {}, retry = 500, seen = {};

  var root = document.createElement("div");
  root.setAttribute("data-madoguchi", "");
  root.style.cssText = "position:fixed;right:16px;bottom:16px;z-index:2147483000;font:14px system-ui,sans-serif";
  var button = document.createElement("button");
  button.type = "button";
  button.textContent = "Chat";
  button.style.cssText = "border-radius:24px;padding:12px 20px;border:0;background:#234;color:#fff;cursor:pointer";
  var panel = document.createElement("div");
  panel.hidden = true;
  panel.style.cssText = "width:320px;height:420px;background:#fff;border:1px solid #ccc;border-radius:8px;display:flex;flex-direction:column;margin-bottom:8px";
  var status = document.createElement("div");
  status.style.cssText = "padding:8px;border-bottom:1px solid #eee;color:#555";
  var log = document.createElement("div");
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
  if (script.getAttribute("data-fullscreen")) { panel.hidden = false; panel.style.width = "100%"; panel.style.height = "90vh"; }

  function persist() {
    try { localStorage.setItem(storeKey, JSON.stringify({token: saved.token, lastSeq: lastSeq, conversationId: conversationId})); } catch (e) { /* private mode */ }
  }
  function show(kind, name, body, id) {
    if (id && seen[id]) return;
    if (id) seen[id] = true;
    var line = document.createElement("div");
    line.style.cssText = "margin:4px 0;" + (kind === "customer" ? "text-align:right" : "");
    var who = document.createElement("b");
    who.textContent = kind === "customer" ? "" : (name || "Support") + ": ";
    var text = document.createElement("span");
    text.textContent = body;
    line.append(who, text);
    log.append(line);
    log.scrollTop = log.scrollHeight;
    return line;
  }
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "c" + Date.now().toString(36) + Math.random().toString(36).slice(2);
  }
  function onFrame(f) {
    if (f.type === "message") {
      if (f.conversation_id !== conversationId) { conversationId = f.conversation_id; lastSeq = 0; }
      if (f.seq > lastSeq) lastSeq = f.seq;
      persist();
      show(f.author.kind, f.author.name, f.body, f.id);
    } else if (f.type === "ack") {
      var p = pending[f.client_id];
      if (p) { p.line.style.opacity = "1"; delete pending[f.client_id]; }
      seen[f.id] = true;
      if (f.conversation_id !== conversationId) { conversationId = f.conversation_id; lastSeq = 0; }
      if (f.seq > lastSeq) lastSeq = f.seq;
      persist();
    } else if (f.type === "availability") {
      status.textContent = f.open ? "We're here" : "We're away" + (f.next_open_at ? " until " + new Date(f.next_open_at).toLocaleString() : "");
    } else if (f.type === "status") {
      if (f.conversation_id && f.conversation_id !== conversationId) { conversationId = f.conversation_id; lastSeq = 0; }
    } else if (f.type === "error" && f.client_id && pending[f.client_id]) {
      pending[f.client_id].line.style.color = "#b00";
    }
  }
  function connect() {
    var url = base.replace(/^http/, "ws") + "/ws/widget?token=" + encodeURIComponent(saved.token);
    socket = new WebSocket(url);
    socket.onopen = function () {
      retry = 500;
      socket.send(JSON.stringify({type: "resume", after_seq: lastSeq}));
      Object.keys(pending).forEach(function (id) { socket.send(JSON.stringify({type: "message", client_id: id, body: pending[id].body})); });
    };
    socket.onmessage = function (e) { onFrame(JSON.parse(e.data)); };
    socket.onclose = function () { setTimeout(connect, retry); retry = Math.min(retry * 2, 15000); };
  }
  function start() {
    fetch(base + "/api/v1/widget/sessions", {method: "POST", headers: {"content-type": "application/json"},
      body: JSON.stringify({widget_key: key, session_token: saved.token || null})})
      .then(function (r) { if (!r.ok) throw new Error("session " + r.status); return r.json(); })
      .then(function (s) { saved.token = s.session_token; persist(); connect(); })
      .catch(function () { status.textContent = "Chat is unavailable right now."; });
  }
  button.onclick = function () { panel.hidden = !panel.hidden; if (!panel.hidden) input.focus(); };
  form.onsubmit = function (e) {
    e.preventDefault();
    var body = input.value.trim();
    if (!body) return;
    var id = uuid();
    var line = show("customer", null, body);
    line.style.opacity = "0.5";
    pending[id] = {body: body, line: line};
    if (socket && socket.readyState === 1) socket.send(JSON.stringify({type: "message", client_id: id, body: body}));
    input.value = "";
  };
  function mount() { document.body.append(root); start(); }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
