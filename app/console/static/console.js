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
  function filesOf(m) {
    const files = (m.attachments || []).filter((a) => a.url);
    if (!files.length) return null;
    const box = node("div", "files");
    for (const a of files) {
      const label = (a.filename || "file") + (a.size ? " (" + size(a.size) + ")" : "");
      const own = ownAttachmentPath(a.url);
      const external = own === null ? externalFileUrl(a.url) : null;
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
  function setConnection(text) { $("connection").textContent = text || ""; }

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
    if (window.Notification && Notification.permission === "default") Notification.requestPermission().catch(() => {});
    signedIn();
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
    $("conversation").hidden = true;
    $("placeholder").hidden = false;
    $("app").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("email").focus();
  }

  // -- the socket ---------------------------------------------------------------------
  function connect() {
    if (closing || !auth) return;
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
      const wait = Math.min(500 * Math.pow(2, attempts - 1), 15000) * (1 + Math.random() * 0.2);
      setTimeout(connect, wait);
    };
  }
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
        scheduleList();
        break;
      case "message.updated":
        if (current && f.conversation_id === current.id) updateDelivery(f.message);
        break;
      case "conversation.assigned":
        if (f.conversation.assignee_id === auth.agent.id) notify(f.conversation);
        // falls through
      case "conversation.updated":
        if (current && f.conversation.id === current.id) showHeader(Object.assign({}, current, f.conversation));
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
  function notify(conversation) {
    chime();
    if (!window.Notification || Notification.permission !== "granted" || document.hasFocus()) return;
    try { new Notification("New conversation", {body: customerName(conversation), tag: "conv-" + conversation.id}); } catch (e) { /* unsupported */ }
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
    let page;
    try { page = await api("/api/v1/conversations?" + query); } catch (e) { return; }
    const list = $("list");
    list.replaceChildren(...page.items.map(listRow));
    $("list-empty").hidden = page.items.length > 0;
  }
  function listRow(c) {
    const li = node("li", "conv");
    li.dataset.id = c.id;
    li.tabIndex = 0;
    li.setAttribute("role", "button");
    const last = c.last_message;
    const unread = !!last && last.author.kind === "customer" && c.last_seq > (c.agent_last_read_seq || 0);
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
    li.append(name, time, preview, tags);
    li.setAttribute("aria-label", customerName(c) + (unread ? ", unread" : ""));
    li.addEventListener("click", () => openConversation(c.id));
    li.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); openConversation(c.id); } });
    return li;
  }
  async function loadInboxes() {
    let page;
    try { page = await api("/api/v1/inboxes"); } catch (e) { return; }
    inboxes = page.items;
    if (current) fillOtherInboxes(current);
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
  async function loadAgents() {
    // Supervisors and admins may list agents; others transfer to a team.
    let page;
    try { page = await api("/api/v1/agents"); } catch (e) { return; }
    $("transfer-agent").replaceChildren(new Option("—", ""), ...page.items.map((a) => new Option(a.name, String(a.id))));
  }

  // -- one conversation -----------------------------------------------------------------
  async function openConversation(id) {
    if (current && current.id !== id) sendFrame({type: "unwatch", conversation_id: current.id});
    const conversation = await api("/api/v1/conversations/" + id);
    current = conversation;
    lastSeq = 0; readSent = 0;
    shown.clear();
    $("log").replaceChildren();
    $("typing").textContent = "";
    $("action-error").textContent = "";
    $("placeholder").hidden = true;
    $("conversation").hidden = false;
    $("app").classList.add("reading");
    for (const li of $("list").children) li.classList.toggle("active", li.dataset.id == id);
    showHeader(conversation);
    sendFrame({type: "watch", conversation_id: id});
    await fetchMessages();
    for (const entry of outbox) {
      // One row per reply: one the server already stored shows as stored.
      if (entry.conversation_id === id && !rowOf(entry.client_id)) pendingRow(entry, socketReady ? "sending" : "queued");
    }
    loadCustomer(conversation.customer_id);
    loadTimeline(conversation);
    fillOtherInboxes(conversation);
    markRead();
    $("body").focus();
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
  function showHeader(c) {
    current = c;
    $("conv-title").textContent = customerName(c);
    const meta = $("conv-meta");
    meta.replaceChildren(badge(c.channel), badge(c.status), node("span", "assignee", c.assignee ? "Assigned to " + c.assignee.name : "Unassigned"));
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
  function messageRow(m) {
    const kind = m.private ? "note" : m.author.kind;
    const li = node("li", "msg " + kind);
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
    await act("/transfer", body);
    if (!$("action-error").textContent) {
      $("transfer").open = false;
      $("transfer-note").value = ""; $("transfer-team").value = ""; $("transfer-agent").value = "";
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
  function insertCanned(c) {
    const box = $("body");
    const name = current && current.customer ? current.customer.name || "" : "";
    const text = c.body.replace(/\{customer_name\}/g, name).replace(/\{agent_name\}/g, auth.agent.name);
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
    await act("/escalate", body);
    if (!$("action-error").textContent) {
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
