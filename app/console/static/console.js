/* The agents' console. Plain JS under a strict Content-Security-Policy; every
 * piece of text from a customer, an email or an agent is set with textContent.
 *
 * Nothing an agent sends is lost: a reply goes into the outbox (kept in session
 * storage) with its client_id and leaves it only when the server acks it; while
 * the socket is down it shows as queued and is sent when the socket is back (the
 * server stores one message per client_id, so a resend never doubles it). After
 * every reconnect the open conversation fetches what it missed by seq.
 */
"use strict";
(function () {
  const STORE = "madoguchi.console";
  const OUTBOX = "madoguchi.console.outbox";
  const $ = (id) => document.getElementById(id);
  let auth = null;          // {token, agent}
  let socket = null, socketReady = false, attempts = 0, closing = false;
  let current = null;       // the open conversation (REST shape)
  let lastSeq = 0, readSent = 0;
  let outbox = [];          // [{client_id, conversation_id, body, private}]
  let listTimer = null, typingTimer = null, typingSentAt = 0;
  let canned = [];          // canned responses this agent may use
  let inboxes = [];         // every inbox, for filters and "another channel"
  const shown = new Set();  // message ids in the open conversation

  // -- storage ------------------------------------------------------------------
  function load(name, fallback) {
    try { return JSON.parse(sessionStorage.getItem(name)) || fallback; } catch (e) { return fallback; }
  }
  function save(name, value) {
    try { sessionStorage.setItem(name, JSON.stringify(value)); } catch (e) { /* private mode */ }
  }
  function saveOutbox() { save(OUTBOX, outbox); }

  // -- API --------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, detail) { super(detail); this.status = status; }
  }
  async function api(path, options) {
    const opts = options || {};
    const headers = {authorization: "Bearer " + (auth && auth.token)};
    let body;
    if (opts.file !== undefined) {
      // A file goes as it is, its type in Content-Type (the server checks the bytes).
      headers["content-type"] = opts.file.type || "application/octet-stream";
      body = opts.file;
    } else if (opts.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(opts.body);
    }
    const r = await fetch(path, {method: opts.method || "GET", headers: headers, body: body});
    if (r.status === 401) { signedOut("Your session has ended; sign in again."); throw new ApiError(401, "signed out"); }
    if (!r.ok) {
      let detail = String(r.status);
      try { const j = await r.json(); detail = typeof j.detail === "string" ? j.detail : (j.error || detail); } catch (e) { /* not JSON */ }
      throw new ApiError(r.status, detail);
    }
    return r.status === 204 ? null : r.json();
  }
  // Our own agents' download route (app/mail/endpoints.py): the only place the
  // token may go with a file's url. Ids are hex; anything else is refused.
  const ATTACHMENT_PATH = /^\/api\/v1\/attachments\/[A-Za-z0-9_-]{1,64}$/;
  // The path to fetch with the token, or null. A message's meta is not ours to
  // trust (a channel's payload, a plug-in, a mail): a url on another host, or
  // one of our paths that is not a file, must never receive the agent's token.
  function ownAttachmentPath(url) {
    if (typeof url !== "string") return null;
    let parsed;
    try { parsed = new URL(url, location.origin); } catch (e) { return null; }
    if (parsed.origin !== location.origin || parsed.username || parsed.password) return null;
    if (parsed.search || parsed.hash || !ATTACHMENT_PATH.test(parsed.pathname)) return null;
    return parsed.pathname;
  }
  // A file on the platform's own host (a Messenger or LINE media url): a plain
  // https link the agent may open, never fetched by the console, no token.
  function externalFileUrl(url) {
    if (typeof url !== "string") return null;
    let parsed;
    try { parsed = new URL(url); } catch (e) { return null; }
    if (parsed.protocol !== "https:" || parsed.origin === location.origin || parsed.username || parsed.password) return null;
    return parsed.href;
  }
  // A file behind the token: fetched with it and saved, never opened as a page.
  async function download(url, filename) {
    const path = ownAttachmentPath(url);
    if (path === null) { $("action-error").textContent = "That file is not ours to download."; return; }
    const r = await fetch(path, {headers: {authorization: "Bearer " + (auth && auth.token)}});
    if (!r.ok) { $("action-error").textContent = "The file could not be downloaded (" + r.status + ")."; return; }
    const href = URL.createObjectURL(await r.blob());
    const a = document.createElement("a");
    a.href = href; a.download = filename || "file";
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(href), 60000);
  }
  function size(bytes) {
    if (bytes == null) return "";
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1024 * 1024) return Math.round(bytes / 1024) + " KB";
    return (bytes / 1024 / 1024).toFixed(1) + " MB";
  }
  // Images under this size show as a picture; larger ones only as a download.
  const THUMBNAIL_BYTES = 5 * 1024 * 1024;
  // Fetched with the token and shown as a data: URL (the console's CSP allows
  // img-src 'self' data:, and the file's own URL needs the token).
  function thumbnail(path, filename) {
    const img = node("img", "thumb");
    img.alt = filename;
    img.decoding = "async";
    fetch(path, {headers: {authorization: "Bearer " + (auth && auth.token)}})
      .then((r) => (r.ok ? r.blob() : Promise.reject(new Error(String(r.status)))))
      .then((blob) => new Promise((resolve, reject) => {
        const reader = new FileReader();
        reader.onload = () => resolve(reader.result);
        reader.onerror = reject;
        reader.readAsDataURL(blob);
      }))
      .then((url) => { if (/^data:image\//.test(url)) img.src = url; else img.remove(); })
      .catch(() => img.remove());
    return img;
  }
  function filesOf(m) {
    const files = (m.attachments || []).filter((a) => a.url);
    if (!files.length) return null;
    const box = node("div", "files");
    for (const a of files) {
      const label = (a.filename || "file") + (a.size ? " (" + size(a.size) + ")" : "");
      const own = ownAttachmentPath(a.url);
      const external = own === null ? externalFileUrl(a.url) : null;
      if (own !== null && /^image\/(png|jpeg|gif|webp)$/.test(a.content_type || "") && (a.size || 0) <= THUMBNAIL_BYTES) {
        box.append(thumbnail(own, a.filename || "image"));
      }
      if (own !== null) {
        const b = node("button", "file", "⬇ " + label);
        b.type = "button";
        b.setAttribute("aria-label", "Download " + (a.filename || "file"));
        b.addEventListener("click", () => download(a.url, a.filename));
        box.append(b);
      } else if (external !== null) {
        const link = node("a", "file external", "↗ " + label);
        link.href = external;
        link.target = "_blank";
        link.rel = "noopener noreferrer";
        link.referrerPolicy = "no-referrer";
        link.title = "Opens " + new URL(external).host + " (not a file stored with us)";
        box.append(link);
      } else {
        const name = node("span", "file unavailable", label + " (not available)");
        name.title = "This file's address is not one the console opens.";
        box.append(name);
      }
    }
    return box;
  }

  // -- small DOM helpers ------------------------------------------------------------
  function node(tag, className, text) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    if (text !== undefined && text !== null) el.textContent = String(text);
    return el;
  }
  function badge(text) { return node("span", "badge", text); }
  function when(iso) {
    if (!iso) return "";
    const d = new Date(iso), now = new Date();
    const time = d.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
    return d.toDateString() === now.toDateString() ? time : d.toLocaleDateString([], {month: "short", day: "numeric"}) + " " + time;
  }
  function customerName(c) {
    return (c.customer && (c.customer.name || c.customer.email)) || "Visitor #" + c.customer_id;
  }
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "a" + Date.now().toString(36) + Math.random().toString(36).slice(2);
  }
  function setConnection(text) {
    $("connection").textContent = text || "";
    // The banner over the whole console: while the socket is down nothing
    // live arrives, and replies wait in the outbox.
    $("offline").textContent = text ? "Connection lost – reconnecting…" : "";
    $("app").classList.toggle("offline", !!text);
  }

  // -- signing in and out -------------------------------------------------------------
  $("login").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("login-error").textContent = "";
    let r;
    try {
      r = await fetch("/api/v1/auth/token", {method: "POST", headers: {"content-type": "application/json"},
        body: JSON.stringify({email: $("email").value, password: $("password").value})});
    } catch (err) { $("login-error").textContent = "The server cannot be reached."; return; }
    // Never left in the page, whatever the answer.
    $("password").value = "";
    if (!r.ok) {
      $("login-error").textContent = r.status === 429 ? "Too many attempts; wait a minute." : r.status === 503 ? "The server is busy; try again in a moment." : "Sign-in failed: wrong email or password.";
      return;
    }
    const answer = await r.json();
    auth = {token: answer.access_token, agent: answer.agent};
    save(STORE, auth);
    signedIn();
    // Where the agent starts: the console's heading, not the page's body.
    $("main-title").focus();
  });
  $("signout").addEventListener("click", async () => {
    try { await api("/api/v1/auth/logout", {method: "POST"}); } catch (e) { /* signed out either way */ }
    signedOut("");
  });
  function signedIn() {
    $("login").hidden = true;
    $("app").hidden = false;
    $("me").textContent = auth.agent.name + " (" + auth.agent.role + ")";
    outbox = load(OUTBOX, []);
    closing = false;
    connect();
    loadInboxes();
    loadAgents();
    loadList();
    loadCanned();
    $("canned-shared-label").hidden = auth.agent.role !== "admin";
    showAlertSettings();
    // The reports page is for supervisors and admins (the API says so too).
    $("reports-link").hidden = auth.agent.role === "agent";
    $("agents-link").hidden = auth.agent.role !== "admin";
    $("inboxes-link").hidden = auth.agent.role !== "admin";
  }
  function signedOut(message) {
    auth = null;
    try { sessionStorage.removeItem(STORE); sessionStorage.removeItem(OUTBOX); } catch (e) { /* private mode */ }
    outbox = [];
    closing = true;
    if (socket) socket.close();
    socket = null; socketReady = false;
    current = null;
    $("list").replaceChildren();
    $("log").replaceChildren();
    document.title = TITLE;
    $("conversation").hidden = true;
    $("placeholder").hidden = false;
    $("app").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("email").focus();
  }

  // -- the socket ---------------------------------------------------------------------
  function connect() {
    if (closing || !auth || socket) return;
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(proto + "://" + location.host + "/ws/agent?token=" + encodeURIComponent(auth.token));
    socket = ws;
    ws.onmessage = (e) => {
      let f;
      try { f = JSON.parse(e.data); } catch (err) { return; }
      if (socket === ws) onFrame(f);
    };
    ws.onclose = (e) => {
      if (socket !== ws) return;
      socket = null;
      socketReady = false;
      if (closing) return;
      if (e.code === 1008) { signedOut("Your session has ended; sign in again."); return; }
      setConnection("Reconnecting…");
      markQueued();
      attempts += 1;
      // Capped at 5 s: an agent waits at most that long after an outage ends
      // (and not at all when the browser says the network is back, below).
      const wait = Math.min(500 * Math.pow(2, attempts - 1), 4000) * (1 + Math.random() * 0.2);
      clearTimeout(reconnectTimer);
      reconnectTimer = setTimeout(connect, wait);
    };
  }
  let reconnectTimer = null;
  function reconnectNow() {
    if (closing || !auth || socket || document.visibilityState === "hidden") return;
    clearTimeout(reconnectTimer);
    attempts = 0;
    connect();
  }
  window.addEventListener("online", reconnectNow);
  document.addEventListener("visibilitychange", reconnectNow);
  function sendFrame(frame) {
    if (!socketReady || !socket) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }
  function onFrame(f) {
    switch (f.type) {
      case "hello":
        socketReady = true;
        attempts = 0;
        setConnection("");
        if (f.status === "online" || f.status === "away") $("presence").value = f.status;
        if (current) sendFrame({type: "watch", conversation_id: current.id});
        flushOutbox();
        catchUp();
        break;
      case "ack": acked(f); break;
      case "error":
        if (f.client_id) failed(f.client_id, f.detail);
        break;
      case "message.created":
        if (current && f.conversation_id === current.id) { showMessage(f.message); markRead(); }
        if (f.message && f.message.author && f.message.author.kind === "customer") customerWrote(f);
        scheduleList();
        break;
      case "message.updated":
        if (current && f.conversation_id === current.id) updateDelivery(f.message);
        break;
      case "conversation.assigned":
        if (f.conversation.assignee_id === auth.agent.id) notify(f.conversation);
        // falls through
      case "conversation.updated":
        if (current && f.conversation.id === current.id) {
          showHeader(Object.assign({}, current, f.conversation));
          // The customer panel stays live (a merge, a verified email).
          loadCustomer(current.customer_id);
        }
        scheduleList();
        break;
      case "conversation.read":
        if (current && f.conversation_id === current.id && f.reader !== "agent") {
          current.customer_last_read_seq = Math.max(current.customer_last_read_seq || 0, f.seq);
          showSeen();
        }
        if (f.reader === "agent") scheduleList();
        break;
      case "typing":
        if (current && f.conversation_id === current.id && f.author && f.author.kind === "customer") customerTyping(f);
        break;
      case "presence":
        if (f.status === "online" || f.status === "away") $("presence").value = f.status;
        break;
      case "sla.warning":
      case "sla.breached":
        slaAlert(f.conversation_id, f.type === "sla.breached" ? "breach" : "warning", f.target, f.due_at);
        if (current && f.conversation_id === current.id) showHeader(current);
        scheduleList();
        break;
    }
  }
  let audio = null;
  function chime() {
    // A short tone, made here: no sound file to fetch, nothing for the CSP to allow.
    try {
      audio = audio || new AudioContext();
      const osc = audio.createOscillator(), gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.15, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
      osc.connect(gain); gain.connect(audio.destination);
      osc.start(); osc.stop(audio.currentTime + 0.4);
    } catch (e) { /* no audio */ }
  }
  // -- alerts: a sound and desktop notifications, each with its setting ---------
  const ALERTS = "madoguchi.console.alerts";
  function alertSettings() {
    try { return Object.assign({sound: true, desktop: false}, JSON.parse(localStorage.getItem(ALERTS))); } catch (e) { return {sound: true, desktop: false}; }
  }
  function saveAlertSettings(settings) {
    try { localStorage.setItem(ALERTS, JSON.stringify(settings)); } catch (e) { /* private mode */ }
  }
  function showAlertSettings() {
    const settings = alertSettings();
    $("set-sound").checked = settings.sound;
    $("set-desktop").checked = settings.desktop && !!window.Notification && Notification.permission === "granted";
  }
  $("set-sound").addEventListener("change", () => {
    saveAlertSettings(Object.assign(alertSettings(), {sound: $("set-sound").checked}));
    if ($("set-sound").checked) chime();
  });
  $("set-desktop").addEventListener("change", async () => {
    $("settings-note").textContent = "";
    let on = $("set-desktop").checked;
    // Asked here, on the agent's own click: browsers ignore a request made otherwise.
    if (on && !window.Notification) { on = false; $("settings-note").textContent = "This browser has no desktop notifications."; }
    else if (on && Notification.permission !== "granted") {
      let answer = "denied";
      try { answer = await Notification.requestPermission(); } catch (e) { /* refused */ }
      if (answer !== "granted") { on = false; $("settings-note").textContent = "Notifications are blocked for this site in the browser's settings."; }
    }
    $("set-desktop").checked = on;
    saveAlertSettings(Object.assign(alertSettings(), {desktop: on}));
  });
  // One alert per conversation per burst: a new chat brings its message and
  // its assignment within moments, and the agent needs to hear it once.
  const ALERT_GAP_MS = 3000;
  const lastAlert = new Map();
  function alertAgent(title, body, tag) {
    const now = Date.now();
    if (now - (lastAlert.get(tag) || 0) < ALERT_GAP_MS) return;
    lastAlert.set(tag, now);
    const settings = alertSettings();
    if (settings.sound) chime();
    if (!settings.desktop || !window.Notification || Notification.permission !== "granted" || document.hasFocus()) return;
    try {
      const n = new Notification(title, {body: body, tag: tag});
      n.onclick = () => { window.focus(); const id = Number(tag.slice(5)); if (id) openConversation(id); n.close(); };
    } catch (e) { /* unsupported */ }
  }
  function notify(conversation) {
    alertAgent("New conversation", customerName(conversation), "conv-" + conversation.id);
  }
  // A customer's message: unless the agent is reading that conversation now.
  function customerWrote(f) {
    if (current && f.conversation_id === current.id && document.visibilityState === "visible" && document.hasFocus()) return;
    const name = f.message.author.name || "A customer";
    alertAgent(f.message.seq === 1 ? "New chat from " + name : name + " wrote", f.message.body.slice(0, 140), "conv-" + f.conversation_id);
  }
  $("presence").addEventListener("change", async () => {
    const status = $("presence").value;
    if (!sendFrame({type: "presence", status: status})) {
      try { await api("/api/v1/agents/me/status", {method: "PUT", body: {status: status}}); } catch (e) { /* shown by the select */ }
    }
  });

  // -- the outbox ---------------------------------------------------------------------
  function flushOutbox() {
    for (const entry of outbox) {
      const row = rowOf(entry.client_id);
      if (row) setState(row, "sending");
      sendFrame({type: "message", conversation_id: entry.conversation_id, client_id: entry.client_id,
        body: entry.body, private: entry.private});
    }
  }
  function markQueued() {
    for (const entry of outbox) { const row = rowOf(entry.client_id); if (row) setState(row, "queued"); }
  }
  function acked(f) {
    outbox = outbox.filter((e) => e.client_id !== f.client_id);
    saveOutbox();
    const row = rowOf(f.client_id);
    if (!row) return;
    if (!row.dataset.id) {
      row.dataset.id = f.id;
      row.dataset.seq = f.seq;
      shown.add(f.id);
    }
    setState(row, "sent");
    showSeen();
  }
  function failed(clientId, detail) {
    // Refused for good (no longer visible, a closed messaging window): shown
    // with the reason, and taken out of the outbox so it is not retried blindly.
    outbox = outbox.filter((e) => e.client_id !== clientId);
    saveOutbox();
    const row = rowOf(clientId);
    if (row) setState(row, "failed", detail);
  }
  function rowOf(clientId) {
    for (const row of $("log").children) if (row.dataset.clientId === clientId) return row;
    return null;
  }
  const STATE_TEXT = {sending: "Sending…", queued: "Queued: sends when the connection is back", delivering: "Delivering…", sent: "Sent", failed: "Not sent"};
  function setState(row, state, detail) {
    row.dataset.state = state;
    const el = row.querySelector(".state");
    if (el) el.textContent = STATE_TEXT[state] + (detail ? ": " + detail : "");
  }

  // -- the list -------------------------------------------------------------------------
  let listLoads = 0;
  // Frames reach an agent for what they may take (unassigned chats while
  // online, their own): the rest of the list, and its SLA timers, catch up here.
  const LIST_REFRESH_MS = 30000;
  setInterval(() => { if (auth && document.visibilityState === "visible") scheduleList(); }, LIST_REFRESH_MS);
  function scheduleList() {
    clearTimeout(listTimer);
    listTimer = setTimeout(loadList, 150);
  }
  ["f-status", "f-assignee", "f-inbox"].forEach((id) => $(id).addEventListener("change", loadList));
  async function loadList() {
    if (!auth) return;
    const query = new URLSearchParams();
    if ($("f-status").value) query.set("status", $("f-status").value);
    if ($("f-assignee").value) query.set("assignee", $("f-assignee").value);
    if ($("f-inbox").value) query.set("inbox_id", $("f-inbox").value);
    query.set("limit", "100");
    // Loads overlap (a frame, a filter, an action): only the latest one is
    // drawn, or an answer from before a change could draw over one after it.
    const mine = ++listLoads;
    let page;
    try { page = await api("/api/v1/conversations?" + query); } catch (e) { return; }
    if (mine !== listLoads) return;
    const list = $("list");
    // A redraw keeps each row that did not change, the very element: a click
    // whose press and release straddle a redraw still reaches its row, and the
    // focus stays where the agent was.
    const focused = list.contains(document.activeElement) ? document.activeElement.dataset.id : null;
    const before = new Map([...list.children].map((li) => [li.dataset.id, li]));
    const rows = page.items.map((c) => {
      const row = listRow(c);
      const old = before.get(row.dataset.id);
      return old && old.dataset.drawn === row.dataset.drawn ? old : row;
    });
    if (rows.length !== list.children.length || rows.some((row, i) => list.children[i] !== row)) list.replaceChildren(...rows);
    if (focused && document.activeElement === document.body) { const again = list.querySelector('li[data-id="' + focused + '"]'); if (again) again.focus(); }
    $("list-empty").hidden = page.items.length > 0;
    let every = page;
    if (query.has("assignee")) {
      query.delete("assignee");
      try { every = await api("/api/v1/conversations?" + query); } catch (e) { every = page; }
      if (mine !== listLoads) return;
    }
    showUnreadCounts(every.items, page.items);
  }
  // Unread conversations per list (all, mine, unassigned) of the status and
  // inbox chosen, and all of them in the tab's title.
  const TITLE = document.title;
  const ASSIGNEE_LABELS = {"": "All", me: "Mine", none: "Unassigned"};
  function showUnreadCounts(items, shownItems) {
    if (!auth) return;
    const unread = items.filter(isUnread);
    const unreadShown = shownItems.filter(isUnread).length;
    const counts = {"": unread.length,
      me: unread.filter((c) => c.assignee_id === auth.agent.id).length,
      none: unread.filter((c) => c.assignee_id == null).length};
    for (const option of $("f-assignee").options) {
      const n = counts[option.value];
      option.textContent = ASSIGNEE_LABELS[option.value] + (n ? " (" + n + " unread)" : "");
    }
    $("unread-count").textContent = unreadShown ? unreadShown + " unread" : "";
    document.title = (unread.length ? "(" + unread.length + ") " : "") + TITLE;
  }
  function isUnread(c) {
    const last = c.last_message;
    return !!last && last.author.kind === "customer" && !last.private && (last.seq || c.last_seq) > (c.agent_last_read_seq || 0);
  }
  function listRow(c) {
    const li = node("li", "conv");
    li.dataset.id = c.id;
    li.tabIndex = 0;
    li.setAttribute("role", "option");
    li.setAttribute("aria-selected", String(!!current && current.id === c.id));
    const last = c.last_message;
    // The preview is the newest message a person wrote (the server passes over
    // greetings and auto-replies): the customer's, not yet read by an agent.
    const unread = isUnread(c);
    if (unread) { li.classList.add("unread"); li.dataset.unread = "1"; }
    if (current && current.id === c.id) li.classList.add("active");
    const name = node("span", "name", customerName(c));
    const time = node("time", "time", when(c.last_message_at || c.created_at));
    const preview = node("span", "preview");
    if (last) {
      const who = last.private ? "Note: " : last.author.kind === "customer" ? "" :
        last.author.kind === "system" ? "Automatic: " : (last.author.name || "Agent") + ": ";
      preview.textContent = who + last.body;
    }
    const tags = node("span", "tags");
    tags.append(badge(c.channel), badge(c.status), node("span", "assignee", c.assignee ? c.assignee.name : "Unassigned"));
    const sla = slaMarker(c);
    if (sla) tags.append(sla);
    li.append(name, time, preview, tags);
    // Said in words as well as the dot and the colour (the row's name is its text).
    const said = (unread ? ", unread" : "") + (sla && sla.dataset.said ? ", " + sla.dataset.said : "");
    if (said) name.append(node("span", "sr", said));
    li.dataset.drawn = li.innerHTML + "|" + li.className;
    li.addEventListener("click", () => openConversation(c.id));
    li.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); openConversation(c.id); } });
    return li;
  }
  // -- first-reply promises (SLA) ---------------------------------------------------
  // The server's promised_reply_by is the first human reply's due time (an
  // acknowledgement or away message promised it); promise_outcome is set once
  // that reply came. Open and unanswered past it: overdue.
  function slaState(c) {
    if (!c.promised_reply_by || c.promise_outcome || c.status === "resolved") return null;
    const due = Date.parse(c.promised_reply_by);
    return isNaN(due) ? null : {due: due, overdue: Date.now() >= due};
  }
  function span(ms) {
    const minutes = Math.floor(Math.abs(ms) / 60000);
    if (minutes < 1) return Math.floor(Math.abs(ms) / 1000) + " s";
    if (minutes < 60) return minutes + " min";
    return Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
  }
  function slaText(state) {
    const left = state.due - Date.now();
    return left <= 0 ? "overdue " + span(left) : "reply in " + span(left);
  }
  // The inbox's service policy (SLA clocks): a warning, then a breach, told
  // live by sla.* frames and read back when a conversation is opened. A
  // breach outranks the promise's own marker.
  const slaAlerts = new Map();
  const SLA_TARGETS = {first_response: "first response", next_response: "next response", resolution: "resolution"};
  function slaAlert(id, phase, target, dueAt) {
    const known = slaAlerts.get(id);
    if (known && known.phase === "breach" && phase !== "breach") return;
    slaAlerts.set(id, {phase: phase, target: target, due: dueAt});
  }
  async function loadSla(id) {
    let marks;
    try { marks = await api("/api/v1/conversations/" + id + "/sla"); } catch (e) { return; }
    for (const m of marks.items) slaAlert(id, m.phase, m.target, m.due_at);
    if (current && current.id === id && slaAlerts.has(id)) { showHeader(current); scheduleList(); }
  }
  function slaMarker(c) {
    const alert = c.status !== "resolved" && slaAlerts.get(c.id);
    if (alert) {
      const breached = alert.phase === "breach";
      const words = (breached ? "SLA breached: " : "SLA due soon: ") + (SLA_TARGETS[alert.target] || alert.target);
      const el = node("span", "sla " + (breached ? "overdue" : "warning"), words);
      el.dataset.said = words;
      el.title = (breached ? "Was due " : "Due ") + when(alert.due);
      return el;
    }
    const state = slaState(c);
    if (!state) return null;
    const el = node("span", "sla" + (state.overdue ? " overdue" : ""), slaText(state));
    el.dataset.due = String(state.due);
    if (state.overdue) el.dataset.said = "first reply overdue";
    el.title = "First reply due " + when(c.promised_reply_by);
    return el;
  }
  // The timers tick in place; nothing else of the list is redrawn.
  setInterval(() => {
    for (const el of document.querySelectorAll(".sla[data-due]")) {
      const state = {due: Number(el.dataset.due)};
      state.overdue = Date.now() >= state.due;
      el.textContent = slaText(state);
      el.classList.toggle("overdue", state.overdue);
    }
  }, 15000);

  async function loadInboxes() {
    let page;
    try { page = await api("/api/v1/inboxes"); } catch (e) { return; }
    inboxes = page.items;
    if (current) fillOtherInboxes(current);
    fillTransfer();
    const select = $("f-inbox");
    const chosen = select.value;
    select.replaceChildren(new Option("All inboxes", ""), ...page.items.map((i) => new Option(i.name + " (" + i.channel + ")", String(i.id))));
    select.value = chosen;
    const hasWeb = page.items.some((i) => i.channel === "web");
    $("new-web-inbox").hidden = hasWeb || auth.agent.role !== "admin";
  }
  $("new-web-inbox").addEventListener("click", async () => {
    try {
      await api("/api/v1/inboxes", {method: "POST", body: {name: "Website", channel: "web", mode: "live", config: {}}});
    } catch (e) { $("list-empty").textContent = "Could not create the inbox: " + e.message; return; }
    loadInboxes();
  });
  // Who and which team a conversation may be handed to. A plain agent may not
  // list every agent (GET /api/v1/agents is for supervisors): the transfer
  // targets route, where the server has it, answers them; else the list.
  const TRANSFER_TARGETS = ["/api/v1/agents/transfer-targets", "/api/v1/agents"];
  let knownAgents = [], agentTeams = [], myTeams = [];
  async function loadAgents() {
    for (const path of TRANSFER_TARGETS) {
      let page;
      try { page = await api(path); } catch (e) { continue; }
      knownAgents = (page.items || []).filter((a) => a.active !== false);
      agentTeams = [].concat(...knownAgents.map((a) => a.teams || []));
      break;
    }
    // Every team there is (GET /api/v1/agents/teams), and the agent's own.
    try { agentTeams = agentTeams.concat((await api("/api/v1/agents/teams")).items || []); } catch (e) { /* those of the agents */ }
    try { myTeams = (await api("/api/v1/agents/me")).teams || []; } catch (e) { /* none known */ }
    fillTransfer();
  }
  // A team's name as the agent knows it, once per name whatever its case:
  // the server matches teams without regard to case.
  function knownTeams() {
    const byKey = new Map();
    const names = [].concat(myTeams, agentTeams, ...inboxes.map((i) => i.teams || []));
    for (const t of names) {
      const name = typeof t === "string" ? t : t && t.name;
      if (name && !byKey.has(name.toLowerCase())) byKey.set(name.toLowerCase(), name);
    }
    return Array.from(byKey.values()).sort((a, b) => a.localeCompare(b));
  }
  // Rebuilt in place: what the agent already chose stays chosen.
  function fillTransfer() {
    const agentSelect = $("transfer-agent"), teamSelect = $("transfer-team");
    const agentChosen = agentSelect.value, teamChosen = teamSelect.value;
    const others = knownAgents.filter((a) => !auth || a.id !== auth.agent.id);
    agentSelect.replaceChildren(new Option("—", ""), ...others.map((a) => new Option(a.name + (a.status ? " (" + a.status + ")" : ""), String(a.id))));
    teamSelect.replaceChildren(new Option("—", ""), ...knownTeams().map((t) => new Option(t, t)));
    agentSelect.value = agentChosen;
    teamSelect.value = teamChosen;
  }

  // -- one conversation -----------------------------------------------------------------
  async function openConversation(id) {
    if (current && current.id !== id) sendFrame({type: "unwatch", conversation_id: current.id});
    let conversation;
    $("open-error").textContent = "";
    try { conversation = await api("/api/v1/conversations/" + id); } catch (e) {
      // Said where the agent clicked, not swallowed: the row stays, try again.
      if (e.status !== 401) $("open-error").textContent = "This conversation could not be opened (" + e.message + ").";
      return;
    }
    current = conversation;
    lastSeq = 0; readSent = 0;
    shown.clear();
    $("log").replaceChildren();
    $("typing").textContent = "";
    $("action-error").textContent = "";
    $("placeholder").hidden = true;
    $("conversation").hidden = false;
    $("app").classList.add("reading");
    for (const li of $("list").children) {
      li.classList.toggle("active", li.dataset.id == id);
      li.setAttribute("aria-selected", String(li.dataset.id == id));
    }
    showHeader(conversation);
    sendFrame({type: "watch", conversation_id: id});
    await fetchMessages();
    for (const entry of outbox) {
      // One row per reply: one the server already stored shows as stored.
      if (entry.conversation_id === id && !rowOf(entry.client_id)) pendingRow(entry, socketReady ? "sending" : "queued");
    }
    loadCustomer(conversation.customer_id);
    loadSla(id);
    loadTimeline(conversation);
    fillOtherInboxes(conversation);
    markRead();
    // The conversation loads while the agent may already be typing (a transfer
    // note, a search): the reply box takes the focus only from nothing or the list.
    if (!typingInAField()) $("body").focus();
  }
  function typingInAField(target) {
    const el = target || document.activeElement;
    if (!el || el === document.body) return false;
    return el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName);
  }
  $("back").addEventListener("click", () => $("app").classList.remove("reading"));
  async function fetchMessages() {
    const id = current.id;
    for (;;) {
      const page = await api("/api/v1/conversations/" + id + "/messages?limit=200&after_seq=" + lastSeq);
      if (!current || current.id !== id) return;
      page.items.forEach(showMessage);
      if (!page.next_cursor || !page.items.length) return;
    }
  }
  async function catchUp() {
    scheduleList();
    if (!current) return;
    try { await fetchMessages(); markRead(); } catch (e) { /* the next reconnect tries again */ }
  }
  async function refreshHeader(id) {
    let c;
    try { c = await api("/api/v1/conversations/" + id); } catch (e) { return; }
    if (current && current.id === id) showHeader(c);
  }
  function showHeader(c) {
    current = c;
    $("conv-title").textContent = customerName(c);
    showContext(c.customer ? c.customer.context : null);
    const meta = $("conv-meta");
    meta.replaceChildren(badge(c.channel), badge(c.status), node("span", "assignee", c.assignee ? "Assigned to " + c.assignee.name : "Unassigned"));
    const sla = slaMarker(c);
    if (sla) meta.append(sla);
    const mine = c.assignee_id === auth.agent.id;
    $("assign-me").hidden = mine || c.status === "resolved";
    $("unassign").hidden = c.assignee_id === null || c.assignee_id === undefined;
    $("resolve").hidden = c.status === "resolved";
    $("reopen").hidden = c.status !== "resolved";
    if (c.csat !== undefined) {
      $("csat-box").hidden = !c.csat;
      if (c.csat) $("csat").textContent = c.csat.rating + " of 5" + (c.csat.comment ? ": " + c.csat.comment : "");
    }
  }
  function dayOf(iso) {
    const d = iso ? new Date(iso) : new Date();
    return d.getFullYear() + "-" + (d.getMonth() + 1) + "-" + d.getDate();
  }
  function dayLabel(iso) {
    const d = new Date(iso), today = new Date(), yesterday = new Date();
    yesterday.setDate(today.getDate() - 1);
    if (d.toDateString() === today.toDateString()) return "Today";
    if (d.toDateString() === yesterday.toDateString()) return "Yesterday";
    return d.toLocaleDateString([], {weekday: "long", year: "numeric", month: "long", day: "numeric"});
  }
  // A date line before the first message of each day.
  function markDays() {
    const log = $("log");
    for (const old of log.querySelectorAll("li.day")) old.remove();
    let last = null;
    for (const row of Array.from(log.children)) {
      if (!row.dataset.day || row.dataset.day === last) continue;
      last = row.dataset.day;
      const line = node("li", "day");
      line.append(node("span", "", dayLabel(row.dataset.at)));
      log.insertBefore(line, row);
    }
  }
  function messageRow(m) {
    const kind = m.private ? "note" : m.author.kind;
    const li = node("li", "msg " + kind);
    li.dataset.day = dayOf(m.created_at);
    li.dataset.at = m.created_at;
    li.dataset.author = m.author.kind;
    const meta = node("div", "meta");
    const name = m.author.kind === "system" ? "Automatic reply" : (m.author.name || (m.author.kind === "customer" ? "Customer" : "Agent"));
    meta.append(node("span", "who", name));
    if (m.private) meta.append(badge("private note"));
    if (m.channel) meta.append(badge(m.channel));
    // A mail whose From SPF, DKIM and DMARC did not vouch for: maybe not who it says.
    if ((m.flags || []).includes("unverified_sender")) {
      const warn = badge("sender not verified");
      warn.classList.add("unverified");
      warn.title = "The sender's address could not be verified (SPF, DKIM, DMARC): it may be forged.";
      meta.append(warn);
    }
    meta.append(node("time", "time", when(m.created_at)));
    meta.append(node("span", "state"));
    li.append(meta, node("div", "text", m.body));
    const files = filesOf(m);
    if (files) li.append(files);
    return li;
  }
  function firstPending() {
    for (const row of $("log").children) if (row.dataset.clientId && !row.dataset.id) return row;
    return null;
  }
  function showMessage(m) {
    if (m.seq > lastSeq) lastSeq = m.seq;
    if (shown.has(m.id)) return;
    shown.add(m.id);
    const mine = m.client_id ? rowOf(m.client_id) : null;
    if (mine && !mine.dataset.id) {
      // The server's copy of a reply this page sent: the ack may still be on its way.
      outbox = outbox.filter((e) => e.client_id !== m.client_id);
      saveOutbox();
      mine.dataset.id = m.id; mine.dataset.seq = m.seq;
      // A reply by mail or a platform is stored, then delivered by the outbox.
      setState(mine, m.delivery_status === "pending" ? "delivering" : "sent");
      return;
    }
    const row = messageRow(m);
    row.dataset.id = m.id;
    row.dataset.seq = m.seq;
    if (m.client_id) row.dataset.clientId = m.client_id;
    if (m.delivery_status === "failed") setState(row, "failed", m.delivery_error);
    else if (m.delivery_status === "pending") setState(row, "delivering");
    const log = $("log");
    log.insertBefore(row, firstPending());
    markDays();
    log.scrollTop = log.scrollHeight;
    showSeen();
  }
  function updateDelivery(m) {
    for (const row of $("log").children) {
      if (row.dataset.id != m.id) continue;
      if (m.delivery_status === "failed") setState(row, "failed", m.delivery_error);
      else if (m.delivery_status === "sent" && row.dataset.state === "delivering") setState(row, "sent");
    }
  }
  function pendingRow(entry, state) {
    const row = messageRow({author: {kind: "agent", name: auth.agent.name}, body: entry.body, private: entry.private,
      created_at: new Date().toISOString()});
    row.dataset.clientId = entry.client_id;
    setState(row, state);
    $("log").append(row);
    markDays();
    $("log").scrollTop = $("log").scrollHeight;
    return row;
  }
  // "Seen" on agent replies the customer has read up to.
  function showSeen() {
    if (!current) return;
    const upTo = current.customer_last_read_seq || 0;
    for (const row of $("log").children) {
      if (row.dataset.author === "agent" && !row.classList.contains("note") && row.dataset.seq && Number(row.dataset.seq) <= upTo && row.dataset.state !== "failed" && row.dataset.state !== "delivering") {
        row.dataset.seen = "1";
        row.querySelector(".state").textContent = "Seen";
      }
    }
  }
  function markRead() {
    if (!current || document.visibilityState === "hidden" || lastSeq <= readSent) return;
    readSent = lastSeq;
    const frame = {type: "read", conversation_id: current.id, seq: lastSeq};
    if (!sendFrame(frame)) api("/api/v1/conversations/" + current.id + "/read", {method: "POST", body: {seq: lastSeq}}).catch(() => { readSent = 0; });
    scheduleList();
  }
  document.addEventListener("visibilitychange", markRead);
  let typingOff = null;
  function customerTyping(f) {
    clearTimeout(typingOff);
    if (f.on === false) { $("typing").textContent = ""; return; }
    $("typing").textContent = (f.author.name || "The customer") + " is typing…";
    typingOff = setTimeout(() => { $("typing").textContent = ""; }, 6000);
  }
  async function loadCustomer(customerId) {
    let c;
    try { c = await api("/api/v1/customers/" + customerId); } catch (e) { return; }
    if (!current || current.customer_id !== customerId) return;
    const dl = $("customer-details");
    const rows = [["Name", c.name], ["Email", (c.emails || []).join(", ")], ["Email (unverified)", c.claimed_email],
      ["Phone", (c.phones || []).join(", ")], ["Customer since", when(c.created_at)]];
    dl.replaceChildren();
    for (const [term, value] of rows) if (value) dl.append(node("dt", "", term), node("dd", "", value));
    $("identities").replaceChildren(...(c.identities || []).map((i) => node("li", "", i.channel + ": " + i.external_id + (i.verified ? " ✓" : ""))));
  }

  // -- where the customer is (the widget's `context`, live by conversation.updated) ---------
  let shownContext = null, contextTick = 0;
  function contextBox() {
    let box = $("customer-context");
    if (!box) {
      box = node("section");
      box.id = "customer-context";
      box.setAttribute("aria-labelledby", "customer-context-title");
      const title = node("h4", "", "Where they are");
      title.id = "customer-context-title";
      box.append(title, node("dl"));
      $("customer-details").after(box);
    }
    return box;
  }
  // The customer's clock, named by its zone: "Tue 09:05 (Asia/Tokyo)".
  function localTime(zone) {
    try {
      const text = new Intl.DateTimeFormat([], {timeZone: zone, weekday: "short", hour: "2-digit", minute: "2-digit"}).format(new Date());
      return text + " (" + zone + ")";
    } catch (e) { return null; }
  }
  function showContext(context) {
    shownContext = context || null;
    clearTimeout(contextTick);
    const box = contextBox();
    box.hidden = !shownContext;
    const dl = box.querySelector("dl");
    dl.replaceChildren();
    if (!shownContext) return;
    const c = shownContext;
    if (c.page_url || c.page_title) {
      const dd = node("dd", "page");
      if (c.page_title) dd.append(node("span", "page-title", c.page_title));
      // Only a web address becomes a link (the server keeps no other kind).
      if (c.page_url && /^https?:\/\//i.test(c.page_url)) {
        const a = node("a", "page-url", c.page_url);
        a.href = c.page_url;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
        if (c.page_title) dd.append(document.createElement("br"));
        dd.append(a);
      }
      dl.append(node("dt", "", "Page"), dd);
    }
    const time = c.time_zone ? localTime(c.time_zone) : null;
    const rows = [["Browser", c.browser, "browser"], ["Language", c.language, "language"],
      ["Local time", time, "local-time"], ["Seen", when(c.seen_at), "seen"]];
    for (const [term, value, name] of rows) if (value) dl.append(node("dt", "", term), node("dd", name, value));
    if (time) {
      // Next at the turn of the minute, so the clock never lags by most of one.
      const now = new Date();
      contextTick = setTimeout(() => { if (shownContext === c) showContext(c); }, 60000 - now.getSeconds() * 1000 - now.getMilliseconds() + 50);
    }
  }

  // -- replying and acting ------------------------------------------------------------------
  $("reply").addEventListener("submit", (e) => {
    e.preventDefault();
    const body = $("body").value.trim();
    if (!current || !body) return;
    const entry = {client_id: uuid(), conversation_id: current.id, body: body, private: $("private").checked};
    outbox.push(entry);
    saveOutbox();
    pendingRow(entry, socketReady ? "sending" : "queued");
    sendFrame({type: "message", conversation_id: entry.conversation_id, client_id: entry.client_id, body: entry.body, private: entry.private});
    $("body").value = "";
    // A note is one message: the next reply goes to the customer unless ticked again.
    $("private").checked = false;
    typingSentAt = 0;
  });
  $("body").addEventListener("keydown", (e) => {
    // With the canned picker open, Enter picks a response (below), it does not send.
    if (!$("canned-picker").hidden) return;
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); $("reply").requestSubmit(); }
  });
  $("body").addEventListener("input", () => {
    if (!current || $("private").checked) return;
    const now = Date.now();
    if (now - typingSentAt > 3000) { typingSentAt = now; sendFrame({type: "typing", conversation_id: current.id, on: true}); }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => { if (current && typingSentAt) { typingSentAt = 0; sendFrame({type: "typing", conversation_id: current.id, on: false}); } }, 4000);
  });
  async function act(path, body) {
    if (!current) return;
    $("action-error").textContent = "";
    try {
      const c = await api("/api/v1/conversations/" + current.id + path, {method: "POST", body: body || {}});
      showHeader(c);
      scheduleList();
    } catch (e) { $("action-error").textContent = e.message; }
  }
  $("assign-me").addEventListener("click", () => act("/assign", {agent_id: auth.agent.id}));
  $("unassign").addEventListener("click", () => act("/assign", {agent_id: null}));
  $("resolve").addEventListener("click", () => act("/resolve"));
  $("reopen").addEventListener("click", () => act("/reopen"));
  $("transfer-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = {};
    if ($("transfer-agent").value) body.agent_id = Number($("transfer-agent").value);
    else if ($("transfer-team").value.trim()) body.team = $("transfer-team").value.trim();
    else { $("action-error").textContent = "Choose an agent or a team."; return; }
    if ($("transfer-note").value.trim()) body.note = $("transfer-note").value.trim();
    const id = current.id;
    await act("/transfer", body);
    if (!$("action-error").textContent) {
      $("transfer").open = false;
      $("transfer-note").value = ""; $("transfer-team").value = ""; $("transfer-agent").value = "";
      // Routing may hand a chat sent to one's own team straight back, and its
      // frame may come before the transfer's answer: the header shows the
      // conversation as the server has it after both.
      refreshHeader(id);
      fetchMessages().catch(() => {});
    }
  });

  // -- files ------------------------------------------------------------------------------
  $("attach").addEventListener("change", async () => {
    const file = $("attach").files[0];
    $("attach").value = "";
    if (!current || !file) return;
    $("action-error").textContent = "";
    const query = new URLSearchParams({filename: file.name, client_id: uuid()});
    if ($("private").checked) query.set("private", "true");
    try {
      const m = await api("/api/v1/conversations/" + current.id + "/attachments?" + query, {method: "POST", file: file});
      if (current && m.conversation_id === current.id) showMessage(m);
      $("private").checked = false;
      scheduleList();
    } catch (e) { $("action-error").textContent = "File not sent: " + e.message; }
  });

  // -- canned responses -------------------------------------------------------------------
  async function loadCanned() {
    let page;
    try { page = await api("/api/v1/canned-responses"); } catch (e) { return; }
    // An agent's own shadows a shared one of the same shortcut (own come first).
    const seen = new Set();
    canned = page.items.filter((c) => !seen.has(c.shortcut) && seen.add(c.shortcut));
    $("canned-list").replaceChildren(...page.items.map((c) => {
      const li = node("li");
      li.append(node("span", "", "/" + c.shortcut + (c.shared ? " (shared)" : "")));
      if (!c.shared || auth.agent.role === "admin") {
        const del = node("button", "", "Delete");
        del.type = "button";
        del.setAttribute("aria-label", "Delete /" + c.shortcut);
        del.addEventListener("click", async () => {
          try { await api("/api/v1/canned-responses/" + c.id, {method: "DELETE"}); } catch (e) { $("canned-error").textContent = e.message; }
          loadCanned();
        });
        li.append(del);
      }
      return li;
    }));
  }
  $("canned-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("canned-error").textContent = "";
    try {
      await api("/api/v1/canned-responses", {method: "POST", body: {shortcut: $("canned-shortcut").value.trim(),
        body: $("canned-body").value, shared: $("canned-shared").checked}});
    } catch (err) { $("canned-error").textContent = err.message; return; }
    $("canned-shortcut").value = ""; $("canned-body").value = ""; $("canned-shared").checked = false;
    loadCanned();
  });
  // The "/word" just before the caret, if the agent is typing a shortcut.
  function shortcutAtCaret() {
    const box = $("body");
    const before = box.value.slice(0, box.selectionStart);
    const match = /(^|\s)\/([\w-]*)$/.exec(before);
    return match ? {word: match[2].toLowerCase(), start: before.length - match[2].length - 1} : null;
  }
  let pickerIndex = 0, pickerStart = -1;
  function pickerItems() { return Array.from($("canned-picker").children); }
  function closePicker() { $("canned-picker").hidden = true; pickerStart = -1; $("body").removeAttribute("aria-activedescendant"); }
  function updatePicker() {
    const at = shortcutAtCaret();
    const found = at ? canned.filter((c) => c.shortcut.startsWith(at.word)) : [];
    if (!found.length) { closePicker(); return; }
    pickerStart = at.start;
    pickerIndex = Math.min(pickerIndex, found.length - 1);
    $("canned-picker").replaceChildren(...found.map((c, i) => {
      const li = node("li", "", "/" + c.shortcut + " — " + (c.title || c.body));
      li.id = "canned-option-" + i;
      li.setAttribute("role", "option");
      li.dataset.id = c.id;
      li.addEventListener("mousedown", (e) => { e.preventDefault(); insertCanned(c); });
      return li;
    }));
    $("canned-picker").hidden = false;
    selectOption(pickerIndex);
  }
  function selectOption(i) {
    const items = pickerItems();
    pickerIndex = (i + items.length) % items.length;
    items.forEach((li, n) => li.setAttribute("aria-selected", String(n === pickerIndex)));
    $("body").setAttribute("aria-activedescendant", items[pickerIndex].id);
    items[pickerIndex].scrollIntoView({block: "nearest"});
  }
  // The server's greeting falls back the same way (NAMELESS in
  // app/responders/templates.py): "there" in English; in Japanese お客, so that
  // 「{customer_name}様」 reads 「お客様」 and never 「様」 alone.
  const JAPANESE = /[\u3040-\u30ff\u3400-\u9fff\uff00-\uffef]/;
  function fillCanned(body, customer, agent) {
    const filled = body.replace(/\{agent_name\}/g, agent);
    if (customer) return filled.replace(/\{customer_name\}/g, customer);
    if (!JAPANESE.test(body)) return filled.replace(/\{customer_name\}/g, "there");
    return filled.replace(/\{customer_name\}(様|さま)?/g, "お客様");
  }
  function insertCanned(c) {
    const box = $("body");
    const name = current && current.customer ? (current.customer.name || "").trim() : "";
    const text = fillCanned(c.body, name, auth.agent.name);
    const end = box.selectionStart;
    box.value = box.value.slice(0, pickerStart) + text + box.value.slice(end);
    const caret = pickerStart + text.length;
    box.setSelectionRange(caret, caret);
    closePicker();
    box.focus();
  }
  $("body").addEventListener("input", () => { pickerIndex = 0; updatePicker(); });
  $("body").addEventListener("blur", closePicker);
  // Registered before the send-on-Enter handler: with the picker open, Enter picks.
  $("body").addEventListener("keydown", (e) => {
    if ($("canned-picker").hidden) return;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") { e.preventDefault(); selectOption(pickerIndex + (e.key === "ArrowDown" ? 1 : -1)); }
    else if (e.key === "Enter" || e.key === "Tab") {
      e.preventDefault();
      const id = Number(pickerItems()[pickerIndex].dataset.id);
      insertCanned(canned.find((c) => c.id === id));
    } else if (e.key === "Escape") { e.preventDefault(); closePicker(); }
  });

  // -- escalating ---------------------------------------------------------------------------
  $("escalate-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = {to: $("escalate-to").value};
    if (body.to === "team") {
      if ($("escalate-team").value.trim()) body.team = $("escalate-team").value.trim();
      if ($("escalate-skill").value.trim()) body.skill = $("escalate-skill").value.trim();
    }
    if ($("escalate-note").value.trim()) body.note = $("escalate-note").value.trim();
    const id = current.id;
    await act("/escalate", body);
    if (!$("action-error").textContent) {
      refreshHeader(id);
      $("escalate").open = false;
      $("escalate-note").value = ""; $("escalate-team").value = ""; $("escalate-skill").value = "";
      fetchMessages().catch(() => {});
    }
  });

  // -- the customer across channels ---------------------------------------------------------
  async function loadTimeline(conversation) {
    const items = [];
    let cursor = null;
    try {
      // A few pages at most: the panel is a summary, the conversations hold the rest.
      for (let i = 0; i < 5; i++) {
        const page = await api("/api/v1/customers/" + conversation.customer_id + "/timeline?limit=200" + (cursor ? "&cursor=" + cursor : ""));
        items.push(...page.items);
        cursor = page.next_cursor;
        if (!cursor) break;
      }
    } catch (e) { return; }
    if (!current || current.id !== conversation.id) return;
    showEarlier(conversation, items);
    $("timeline").replaceChildren(...items.map((m) => {
      const li = node("li", m.conversation_id === conversation.id ? "here" : "");
      const meta = node("div", "meta");
      const who = m.author.kind === "customer" ? "Customer" : m.author.kind === "system" ? "Automatic" : (m.author.name || "Agent");
      meta.append(badge(m.channel), node("span", "", who), node("time", "", when(m.sent_at || m.created_at)));
      if (m.private) meta.append(badge("note"));
      if (m.conversation_id !== conversation.id) {
        const open = node("button", "", "#" + m.conversation_id);
        open.type = "button";
        open.setAttribute("aria-label", "Open conversation " + m.conversation_id);
        open.addEventListener("click", () => openConversation(m.conversation_id));
        meta.append(open);
      }
      li.append(meta, node("div", "text", m.body));
      return li;
    }));
  }
  // The customer's other conversations, newest first, from their timeline.
  function showEarlier(conversation, items) {
    const byId = new Map();
    for (const m of items) {
      if (m.conversation_id === conversation.id) continue;
      byId.set(m.conversation_id, m);
    }
    const rows = Array.from(byId.values()).reverse().map((m) => {
      const li = node("li");
      const open = node("button", "", "#" + m.conversation_id + " · " + m.channel + " · " + when(m.sent_at || m.created_at));
      open.type = "button";
      open.setAttribute("aria-label", "Open earlier conversation " + m.conversation_id + " (" + m.channel + ")");
      open.addEventListener("click", () => openConversation(m.conversation_id));
      li.append(open, node("div", "text", m.body.slice(0, 140)));
      return li;
    });
    $("earlier").replaceChildren(...rows);
    $("earlier-none").hidden = rows.length > 0;
  }
  function fillOtherInboxes(conversation) {
    const others = inboxes.filter((i) => i.id !== conversation.inbox_id && i.mode !== "redirect");
    $("other-inbox").replaceChildren(...others.map((i) => new Option(i.name + " (" + i.channel + ")", String(i.id))));
    $("other-channel").hidden = others.length === 0;
    $("other-error").textContent = "";
  }
  $("other-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!current) return;
    $("other-error").textContent = "";
    const body = {inbox_id: Number($("other-inbox").value), body: $("other-body").value};
    if ($("other-subject").value.trim()) body.subject = $("other-subject").value.trim();
    let answer;
    try {
      answer = await api("/api/v1/customers/" + current.customer_id + "/conversations", {method: "POST", body: body});
    } catch (err) { $("other-error").textContent = err.message; return; }
    $("other-body").value = ""; $("other-subject").value = "";
    $("other-channel").open = false;
    scheduleList();
    openConversation(answer.conversation.id);
  });

  // -- keyboard shortcuts ---------------------------------------------------------------------
  // Single keys act only outside fields (typing "a" in a reply must not assign);
  // Ctrl+K opens the canned insert from anywhere, "?" lists them all.
  function openCannedInsert() {
    if (!current) return;
    const box = $("body");
    box.focus();
    const at = box.selectionStart;
    const lead = at > 0 && !/\s/.test(box.value[at - 1]) ? " /" : "/";
    box.setRangeText(lead, at, box.selectionEnd, "end");
    pickerIndex = 0;
    updatePicker();
  }
  function step(by) {
    const rows = Array.from($("list").children);
    if (!rows.length) return;
    const at = current ? rows.findIndex((li) => li.dataset.id == current.id) : -1;
    const next = rows[Math.max(0, Math.min(rows.length - 1, at + by))];
    next.focus();
    openConversation(Number(next.dataset.id));
  }
  function click(id) { if (current && !$(id).hidden) $(id).click(); }
  function showHelp(open) {
    $("help").hidden = !open;
    if (open) $("help-close").focus();
    else if (helpOpener && document.contains(helpOpener)) helpOpener.focus();
  }
  let helpOpener = null;
  $("help-open").addEventListener("click", () => { helpOpener = $("help-open"); showHelp(true); });
  $("help-close").addEventListener("click", () => showHelp(false));
  document.addEventListener("keydown", (e) => {
    if (!auth || $("app").hidden) return;
    if (e.key === "Escape" && !$("help").hidden) { e.preventDefault(); showHelp(false); return; }
    if ((e.ctrlKey || e.metaKey) && !e.altKey && e.key.toLowerCase() === "k") { e.preventDefault(); openCannedInsert(); return; }
    if (e.ctrlKey || e.metaKey || e.altKey || e.isComposing || typingInAField(e.target)) return;
    if (!$("help").hidden && e.key !== "?") return;
    switch (e.key) {
      case "j": step(1); break;
      case "k": step(-1); break;
      case "a": click("assign-me"); break;
      case "r": click("resolve"); break;
      case "/": openCannedInsert(); break;
      case "?": helpOpener = document.activeElement; showHelp($("help").hidden); break;
      default: return;
    }
    e.preventDefault();
  });

  // -- start ------------------------------------------------------------------------------
  async function boot() {
    auth = load(STORE, null);
    if (!auth || !auth.token) { auth = null; return; }
    $("login").hidden = true;
    // The token is still good (a reload): straight back in, no password asked.
    try {
      const me = await api("/api/v1/agents/me");
      auth.agent = {id: me.id, name: me.name, role: me.role};
      save(STORE, auth);
      signedIn();
    } catch (e) {
      // Unreachable server: stay signed in (queued replies included) and let
      // the socket's reconnects find it again; a refused token signed out in api().
      if (auth && !(e instanceof ApiError)) signedIn();
      else if (auth) signedOut("");
    }
  }
  boot();
})();
