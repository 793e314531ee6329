/* Madoguchi web widget. Embed with:
 *   <script src="https://HOST/widget.js" data-key="WIDGET_KEY" async></script>
 * Optional: data-lang="en|ja" (else navigator.language), data-prechat="1" (ask
 * name and email before the first message), data-fullscreen="1" (the chat page).
 * Plain JS, no build step. Everything lives in a shadow root, so the host page's
 * CSS cannot reach it. Message text is only ever set with textContent.
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
  var fullscreen = !!script.getAttribute("data-fullscreen");
  var prechat = !!script.getAttribute("data-prechat");
  var storeKey = "madoguchi:" + key;
  var saved = {};
  try { saved = JSON.parse(localStorage.getItem(storeKey) || "{}") || {}; } catch (e) { saved = {}; }
  saved.rated = saved.rated || {};

  var TEXT = {
    en: {
      launcher: "Chat", title: "Chat with us", close: "Close chat", message: "Message", send: "Send",
      connecting: "Connecting…", reconnecting: "Reconnecting…", unavailable: "Chat is unavailable right now.",
      replyMinutes: "We reply in about {n} minutes", replyMinute: "We reply in about a minute",
      replyHours: "We reply in about {n} hours", away: "We are away, back {when}", awayNoTime: "We are away right now",
      queue: "You are number {n} in the queue, about {m}", minute: "minute", minutes: "minutes",
      helping: "{name} is here to help", typing: "{name} is typing…", support: "Support", you: "You",
      sending: "Sending…", sent: "Sent", read: "Read", failed: "Not sent",
      byEmail: "We'll answer by email", email: "Email", save: "Save", emailSaved: "Thanks, we'll answer at {email}",
      name: "Name", start: "Start chat", prechat: "Tell us who you are (optional)",
      rate: "How did we do?", comment: "Comment (optional)", thanks: "Thank you for your rating", star: "{n} of 5",
      attach: "Attach a file", download: "Download {name}", notSent: "Not sent: {reason}", tooLarge: "the file is too large"
    },
    ja: {
      launcher: "チャット", title: "お問い合わせ", close: "閉じる", message: "メッセージ", send: "送信",
      connecting: "接続中…", reconnecting: "再接続中…", unavailable: "現在チャットをご利用いただけません。",
      replyMinutes: "通常{n}分ほどで返信します", replyMinute: "通常1分ほどで返信します",
      replyHours: "通常{n}時間ほどで返信します", away: "ただいま営業時間外です。{when}に再開します", awayNoTime: "ただいま営業時間外です",
      queue: "順番待ち{n}番目です（約{m}）", minute: "分", minutes: "分",
      helping: "{name}が対応します", typing: "{name}が入力中…", support: "サポート", you: "あなた",
      sending: "送信中…", sent: "送信済み", read: "既読", failed: "未送信",
      byEmail: "メールでお返事します", email: "メールアドレス", save: "保存", emailSaved: "{email} 宛にお返事します",
      name: "お名前", start: "チャットを始める", prechat: "お名前とメールアドレス（任意）",
      rate: "対応はいかがでしたか？", comment: "コメント（任意）", thanks: "ご評価ありがとうございました", star: "5段階中{n}",
      attach: "ファイルを添付", download: "{name} をダウンロード", notSent: "未送信: {reason}", tooLarge: "ファイルが大きすぎます"
    }
  };
  var lang = (script.getAttribute("data-lang") || navigator.language || "en").toLowerCase().slice(0, 2);
  if (!TEXT[lang]) lang = "en";
  function t(name, vars) {
    return TEXT[lang][name].replace(/\{(\w+)\}/g, function (_, k) { return vars && vars[k] != null ? String(vars[k]) : ""; });
  }

  var socket = null, live = null, pending = {}, seen = {}, lastSeq = {};
  // attempts: connects since the last served one (the backoff); renewed: the
  // token in use replaced one the server refused, so a refusal now is final.
  var attempts = 0, renewed = false, stopped = false, everOpened = false;
  var conversationId = null, conversationStatus = null, availabilityNow = null;
  var readSent = 0, agentRead = 0, typingTimer = null, typingSentAt = 0, peerTypingTimer = null;

  // -- the DOM ---------------------------------------------------------------
  function el(tag, part, attrs) {
    var node = document.createElement(tag);
    if (part) node.setAttribute("data-madoguchi-part", part);
    for (var name in attrs || {}) node.setAttribute(name, attrs[name]);
    return node;
  }
  var host = document.createElement("madoguchi-chat");
  host.setAttribute("data-madoguchi", "");
  var shadow = host.attachShadow({mode: "open"});
  var style = document.createElement("style");
  // !important on :host only: the host element is in the page, where the
  // page's own rules would otherwise win over ours.
  style.textContent = [
    ":host{all:initial!important;position:fixed!important;right:16px!important;bottom:16px!important;z-index:2147483000!important;display:block!important;font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif!important;color:#1d2433!important}",
    "*{box-sizing:border-box;font:inherit;color:inherit;margin:0}",
    "[hidden]{display:none!important}",
    ".launcher{display:block;margin-left:auto;border:0;border-radius:24px;padding:12px 20px;background:#1f3a5f;color:#fff;cursor:pointer;font-weight:600;box-shadow:0 2px 8px rgba(0,0,0,.25)}",
    ".launcher:focus-visible,button:focus-visible,input:focus-visible,textarea:focus-visible{outline:2px solid #2b6cb0;outline-offset:2px}",
    ".panel{width:360px;height:min(560px,calc(100vh - 96px));background:#fff;border:1px solid #cfd6e0;border-radius:12px;display:flex;flex-direction:column;margin-bottom:10px;overflow:hidden;box-shadow:0 8px 28px rgba(0,0,0,.2)}",
    "header{background:#1f3a5f;color:#fff;padding:10px 12px;display:flex;gap:8px;align-items:flex-start}",
    "header .titles{flex:1;min-width:0}header h2{font-weight:700;font-size:16px}",
    "header p{font-size:12px;opacity:.9}",
    ".x{border:0;background:transparent;color:#fff;font-size:20px;line-height:1;cursor:pointer;padding:2px 6px}",
    ".conn{background:#fff4d6;color:#6b4e00;font-size:12px;padding:4px 12px}",
    ".log{flex:1;overflow:auto;padding:10px 12px;display:flex;flex-direction:column;gap:8px;background:#f6f8fb}",
    ".msg{max-width:85%;align-self:flex-start}.msg.customer{align-self:flex-end}",
    ".meta{font-size:11px;color:#5b6575;margin:0 4px 2px}.customer .meta{text-align:right}",
    ".bubble{background:#fff;border:1px solid #dde3ea;border-radius:12px;padding:7px 10px;white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-word}",
    ".customer .bubble{background:#1f3a5f;color:#fff;border-color:#1f3a5f}.customer .bubble a{color:#cfe3ff}",
    ".system .bubble{background:#eef1f5;font-style:italic;color:#3a4352}",
    ".msg[data-state=sending] .bubble{opacity:.6}.msg[data-state=failed] .bubble{background:#b00020;border-color:#b00020}",
    ".mark{font-size:11px;color:#5b6575;text-align:right;margin:2px 4px 0}",
    ".typing{font-size:12px;color:#5b6575;padding:2px 12px;min-height:18px}",
    ".card{border-top:1px solid #e3e8ee;padding:8px 12px;display:flex;flex-direction:column;gap:6px;background:#fff}",
    ".card label{font-size:12px;color:#3a4352}",
    ".row{display:flex;gap:6px}.row input{flex:1;min-width:0}",
    "input,textarea{font-size:16px;border:1px solid #cfd6e0;border-radius:8px;padding:8px;background:#fff;color:#1d2433}",
    ".composer{display:flex;gap:6px;border-top:1px solid #e3e8ee;padding:8px;background:#fff}",
    ".composer input{flex:1;min-width:0}",
    ".clip{border:1px solid #cfd6e0;border-radius:8px;background:#fff;padding:6px 10px;cursor:pointer;font-size:16px;line-height:1}",
    ".files{display:flex;flex-direction:column;gap:4px;margin-top:4px}",
    ".file{border:1px solid #cfd6e0;border-radius:8px;background:#fff;color:#1f3a5f;padding:4px 8px;cursor:pointer;text-align:left;overflow-wrap:anywhere;font-size:13px}",
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}",
    ".btn{border:0;border-radius:8px;padding:8px 12px;background:#1f3a5f;color:#fff;cursor:pointer;font-weight:600}",
    ".stars{display:flex;gap:4px}.stars button{flex:1;border:1px solid #cfd6e0;border-radius:8px;background:#fff;padding:6px 0;cursor:pointer}",
    ".stars button[aria-pressed=true]{background:#f4b400;border-color:#f4b400}",
    "@media (max-width:480px){:host{right:12px!important;bottom:12px!important}.panel{position:fixed;inset:0;width:100vw;height:100%;border-radius:0;margin:0;border:0}}",
    ".full{position:fixed;inset:0;width:100vw;height:100%;border-radius:0;margin:0;border:0}"
  ].join("\n");

  var panel = el("section", "panel", {role: "dialog", "aria-label": t("title"), hidden: ""});
  panel.className = "panel" + (fullscreen ? " full" : "");
  var header = el("header");
  var titles = el("div"); titles.className = "titles";
  var title = el("h2"); title.textContent = t("title");
  var availabilityLine = el("p", "availability");
  var status = el("p", "status", {role: "status", "aria-live": "polite"});
  titles.append(title, availabilityLine, status);
  var closeButton = el("button", "close", {type: "button", "aria-label": t("close")});
  closeButton.className = "x"; closeButton.textContent = "×";
  header.append(titles);
  if (!fullscreen) header.append(closeButton);
  var connection = el("div", "connection", {role: "status", hidden: ""}); connection.className = "conn";
  var log = el("div", "log", {role: "log", "aria-live": "polite", "aria-label": t("title")}); log.className = "log";
  var typingLine = el("div", "typing", {"aria-live": "polite"}); typingLine.className = "typing";

  var prechatForm = el("form", "prechat", {hidden: ""}); prechatForm.className = "card";
  var prechatLabel = el("label"); prechatLabel.textContent = t("prechat");
  var nameInput = el("input", null, {"aria-label": t("name"), placeholder: t("name"), autocomplete: "name", maxlength: "200"});
  var prechatEmail = el("input", null, {type: "email", "aria-label": t("email"), placeholder: t("email"), autocomplete: "email"});
  var startButton = el("button", null, {type: "submit"}); startButton.className = "btn"; startButton.textContent = t("start");
  prechatForm.append(prechatLabel, nameInput, prechatEmail, startButton);

  var emailForm = el("form", "email-form", {hidden: ""}); emailForm.className = "card";
  var emailLabel = el("label", null, {"for": "madoguchi-email"}); emailLabel.textContent = t("byEmail");
  var emailRow = el("div"); emailRow.className = "row";
  var emailInput = el("input", null, {id: "madoguchi-email", type: "email", required: "", placeholder: t("email"), autocomplete: "email"});
  var emailSave = el("button", null, {type: "submit"}); emailSave.className = "btn"; emailSave.textContent = t("save");
  emailRow.append(emailInput, emailSave);
  var emailDone = el("p", "email-saved", {hidden: ""});
  emailForm.append(emailLabel, emailRow, emailDone);

  var csat = el("form", "csat", {hidden: ""}); csat.className = "card";
  var csatLabel = el("label"); csatLabel.textContent = t("rate");
  var stars = el("div", null, {role: "group", "aria-label": t("rate")}); stars.className = "stars";
  var rating = 0;
  for (var n = 1; n <= 5; n++) {
    var star = el("button", "star", {type: "button", "aria-pressed": "false", "aria-label": t("star", {n: n}), "data-rating": String(n)});
    star.textContent = String(n);
    stars.append(star);
  }
  var csatComment = el("textarea", null, {"aria-label": t("comment"), placeholder: t("comment"), rows: "2", maxlength: "4000"});
  var csatSend = el("button", null, {type: "submit"}); csatSend.className = "btn"; csatSend.textContent = t("send");
  var csatThanks = el("p", "csat-thanks", {hidden: ""}); csatThanks.textContent = t("thanks");
  csat.append(csatLabel, stars, csatComment, csatSend);

  var form = el("form", "composer"); form.className = "composer";
  var input = el("input", "input", {"aria-label": t("message"), placeholder: t("message"), autocomplete: "off", maxlength: "16000"});
  var sendButton = el("button", null, {type: "submit"}); sendButton.className = "btn"; sendButton.textContent = t("send");
  var fileInput = el("input", "file-input", {type: "file", tabindex: "-1", "aria-hidden": "true"}); fileInput.className = "sr";
  var clip = el("button", "attach", {type: "button", "aria-label": t("attach"), title: t("attach")});
  clip.className = "clip"; clip.textContent = "📎";
  clip.onclick = function () { fileInput.click(); };
  form.append(clip, fileInput, input, sendButton);
  panel.append(header, connection, log, typingLine, csatThanks, csat, emailForm, prechatForm, form);

  var button = el("button", "launcher", {type: "button", "aria-expanded": "false"});
  button.className = "launcher";
  button.textContent = t("launcher");
  // A constructed sheet where the browser has one: the host page's CSP
  // (style-src without 'unsafe-inline') does not block it as it would <style>.
  try {
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(style.textContent);
    shadow.adoptedStyleSheets = [sheet];
  } catch (e) {
    shadow.append(style);
  }
  shadow.append(panel);
  if (!fullscreen) shadow.append(button);

  // -- open and close ----------------------------------------------------------
  function isOpen() { return !panel.hidden; }
  function setOpen(open, focus) {
    panel.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    if (!fullscreen) { saved.open = open; persist(); }
    if (open) {
      showForms();
      if (focus !== false) (prechatForm.hidden ? input : nameInput).focus();
      markRead();
      if (stopped) { stopped = false; attempts = 0; renewed = false; start(); }
    } else if (focus !== false) {
      button.focus();
    }
  }
  button.onclick = function () { setOpen(!isOpen()); };
  closeButton.onclick = function () { setOpen(false); };
  panel.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && !fullscreen) { e.preventDefault(); setOpen(false); }
  });

  // The page's storage is shared by its tabs: another tab may have rotated
  // the token (the one it replaced dies minutes later) or opened a new
  // session. A token found there that differs from ours is the one to use.
  function adoptStored() {
    try {
      var stored = JSON.parse(localStorage.getItem(storeKey) || "{}") || {};
      if (stored.token && stored.token !== saved.token) { saved.token = stored.token; return true; }
    } catch (e) { /* private mode */ }
    return false;
  }
  window.addEventListener("storage", function (e) { if (e.key === storeKey) adoptStored(); });
  function persist() {
    try {
      localStorage.setItem(storeKey, JSON.stringify({token: saved.token || null, open: !!saved.open,
        email: saved.email || null, started: !!saved.started, rated: saved.rated}));
    } catch (e) { /* private mode */ }
  }

  // -- messages ------------------------------------------------------------------
  var URL_PATTERN = /\bhttps?:\/\/[^\s<>"']+/gi;
  // Text with its web addresses as links; every piece is a text node.
  function linkify(target, text) {
    var at = 0, match;
    URL_PATTERN.lastIndex = 0;
    while ((match = URL_PATTERN.exec(text))) {
      var url = match[0].replace(/[.,;:!?)\]]+$/, "");
      if (match.index > at) target.append(document.createTextNode(text.slice(at, match.index)));
      var a = document.createElement("a");
      a.href = url; a.target = "_blank"; a.rel = "noopener noreferrer nofollow";
      a.textContent = url;
      target.append(a);
      at = match.index + url.length;
      URL_PATTERN.lastIndex = at;
    }
    if (at < text.length) target.append(document.createTextNode(text.slice(at)));
  }
  function clock(iso) {
    var d = iso ? new Date(iso) : new Date();
    return d.toLocaleTimeString(lang, {hour: "2-digit", minute: "2-digit"});
  }
  function line(kind, name, body, createdAt) {
    var row = el("div", "message", {"data-author": kind});
    row.className = "msg " + kind;
    var meta = el("div", "meta"); meta.className = "meta";
    var who = el("span", "author");
    who.textContent = kind === "customer" ? t("you") : (name || t("support"));
    var when = el("time", "time");
    when.textContent = clock(createdAt);
    if (createdAt) when.setAttribute("datetime", createdAt);
    meta.append(who, document.createTextNode(" · "), when);
    var bubble = el("div", "body"); bubble.className = "bubble";
    linkify(bubble, body);
    row.append(meta, bubble);
    if (kind === "customer") { var mark = el("div", "mark"); mark.className = "mark"; row.append(mark); }
    return row;
  }
  function size(bytes) {
    if (bytes == null) return "";
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1048576) return Math.round(bytes / 1024) + " KB";
    return (bytes / 1048576).toFixed(1) + " MB";
  }
  // The message's files as buttons: each is fetched with the session token
  // and saved (a link could not carry the token, and never opens as a page).
  function addFiles(row, files) {
    if (!files || !files.length || row.querySelector(".files")) return;
    var box = el("div", "files"); box.className = "files";
    files.forEach(function (f) {
      var b = el("button", "file", {type: "button", "aria-label": t("download", {name: f.filename || "file"})});
      b.className = "file";
      b.textContent = "⬇ " + (f.filename || "file") + (f.size ? " (" + size(f.size) + ")" : "");
      b.onclick = function () { download(f); };
      box.append(b);
    });
    var mark = row.querySelector(".mark");
    row.insertBefore(box, mark);
  }
  // An upload's line, once stored: the text the server keeps for it, and its file.
  function fileStored(row, m) {
    if (m.body) row.querySelector(".bubble").textContent = m.body;
    addFiles(row, m.attachments);
  }
  function download(f) {
    fetch(base + f.url, {headers: {authorization: "Bearer " + saved.token}})
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.blob(); })
      .then(function (blob) {
        var href = URL.createObjectURL(blob);
        var a = document.createElement("a");
        a.href = href; a.download = f.filename || "file";
        shadow.append(a); a.click(); a.remove();
        setTimeout(function () { URL.revokeObjectURL(href); }, 60000);
      })
      .catch(function () { /* the button stays; a retry may work */ });
  }
  function setMark(row, state) {
    row.setAttribute("data-state", state);
    var mark = row.querySelector(".mark");
    if (mark) mark.textContent = t(state === "stored" ? "sent" : state);
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
    if (mine) {
      if (mine.file) fileStored(mine.line, f);
      markStored(f.client_id, f.id, f.seq);
      return;
    }
    var row = line(f.author.kind, f.author.name, f.body, f.created_at);
    addFiles(row, f.attachments);
    row.setAttribute("data-id", String(f.id));
    row.setAttribute("data-seq", String(f.seq));
    if (f.author.kind === "customer") setMark(row, "stored");
    else stopPeerTyping();
    log.insertBefore(row, firstPending());
    scroll();
    showReadMarks();
    markRead();
  }
  function markStored(clientId, id, seq) {
    var p = pending[clientId];
    if (!p) return;
    delete pending[clientId];
    p.line.setAttribute("data-id", String(id));
    if (seq) p.line.setAttribute("data-seq", String(seq));
    setMark(p.line, "stored");
    showReadMarks();
  }
  // "Read" on the customer's messages an agent has read up to.
  function showReadMarks() {
    var rows = log.querySelectorAll(".msg.customer[data-seq]");
    for (var i = 0; i < rows.length; i++) {
      var seq = Number(rows[i].getAttribute("data-seq"));
      if (seq <= agentRead && rows[i].getAttribute("data-state") === "stored") setMark(rows[i], "read");
    }
  }
  // Tells the agents what the customer has seen: only while the panel is open
  // and the page is in front.
  function markRead() {
    if (!conversationId || !isOpen() || document.visibilityState === "hidden" || !live) return;
    var seq = lastSeq[conversationId] || 0;
    if (seq > readSent) { readSent = seq; sendFrame({type: "read", seq: seq, conversation_id: conversationId}); }
  }
  document.addEventListener("visibilitychange", markRead);

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "c" + Date.now().toString(36) + Math.random().toString(36).slice(2);
  }
  function sendFrame(frame) {
    if (socket && socket.readyState === 1) socket.send(JSON.stringify(frame));
  }

  // -- typing ----------------------------------------------------------------------
  input.addEventListener("input", function () {
    if (!live || !conversationId) return;
    var now = Date.now();
    // At most one "on" every 3 s; "off" after 4 s without a key.
    if (now - typingSentAt > 3000) { typingSentAt = now; sendFrame({type: "typing", on: true}); }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(stopTyping, 4000);
  });
  function stopTyping() {
    clearTimeout(typingTimer);
    if (typingSentAt) { typingSentAt = 0; sendFrame({type: "typing", on: false}); }
  }
  function stopPeerTyping() { clearTimeout(peerTypingTimer); typingLine.textContent = ""; }
  function peerTyping(f) {
    if (!f.author || f.author.kind === "customer") return;
    clearTimeout(peerTypingTimer);
    if (f.on === false) { stopPeerTyping(); return; }
    typingLine.textContent = t("typing", {name: f.author.name || t("support")});
    // A lost "off" frame must not leave it on for ever.
    peerTypingTimer = setTimeout(stopPeerTyping, 6000);
  }

  // -- what the panel says -------------------------------------------------------
  function showAvailability(a) {
    if (!a) return;
    availabilityNow = {open: a.open, next_open_at: a.next_open_at,
      expected_reply_seconds: a.expected_reply_seconds != null ? a.expected_reply_seconds : (availabilityNow || {}).expected_reply_seconds};
    if (a.open) {
      var seconds = availabilityNow.expected_reply_seconds;
      if (seconds == null) { availabilityLine.textContent = ""; }
      else if (seconds >= 5400) availabilityLine.textContent = t("replyHours", {n: Math.round(seconds / 3600)});
      else {
        var minutes = Math.max(1, Math.round(seconds / 60));
        availabilityLine.textContent = minutes === 1 ? t("replyMinute") : t("replyMinutes", {n: minutes});
      }
    } else if (a.next_open_at) {
      var when = new Date(a.next_open_at);
      var text = when.toLocaleDateString(lang, {weekday: "long"}) + " " +
        when.toLocaleTimeString(lang, {hour: "numeric", minute: "2-digit"});
      availabilityLine.textContent = t("away", {when: text});
    } else {
      availabilityLine.textContent = t("awayNoTime");
    }
    showForms();
  }
  // Routing's word on the chat: waiting in the queue, or with an agent.
  var queued = false;
  function showPlace(f) {
    if (f.queue_position) {
      queued = true;
      var minutes = Math.max(1, Math.round((f.expected_wait_seconds || 0) / 60));
      status.textContent = t("queue", {n: f.queue_position, m: minutes + " " + t(minutes === 1 ? "minute" : "minutes")});
    } else if (f.assignee && f.assignee.name) {
      queued = false;
      status.textContent = t("helping", {name: f.assignee.name});
    } else if (f.queue_position === null) {
      queued = false;
    }
  }
  function showForms() {
    prechatForm.hidden = !(prechat && !saved.started && !saved.token);
    form.hidden = !prechatForm.hidden;
    // Away, or waiting in the queue: the customer need not stay on the page.
    var offerEmail = availabilityNow && (!availabilityNow.open || queued);
    emailForm.hidden = !(offerEmail && prechatForm.hidden);
    if (saved.email) {
      emailLabel.hidden = true; emailRow.hidden = true; emailDone.hidden = false;
      emailDone.textContent = t("emailSaved", {email: saved.email});
    }
    var resolved = conversationStatus === "resolved" && conversationId && !saved.rated[conversationId];
    csat.hidden = !resolved;
  }
  function setConnection(text) {
    connection.textContent = text || "";
    connection.hidden = !text;
  }

  // -- the socket ------------------------------------------------------------------
  function resumed(state) {
    state.resumed = true;
    live = state;
    attempts = 0;
    renewed = false;
    everOpened = true;
    setConnection(null);
    state.held.sort(function (a, b) { return a.conversation_id - b.conversation_id || a.seq - b.seq; });
    state.held.forEach(show);
    state.held = [];
    Object.keys(pending).forEach(function (id) {
      // A file goes by HTTP, not on the socket: its own request retries it.
      if (!pending[id].file) sendFrame({type: "message", client_id: id, body: pending[id].body});
    });
    markRead();
  }
  function unavailable() {
    stopped = true;
    setConnection(null);
    status.textContent = t("unavailable");
  }
  function delay() {
    if (attempts === 0) return 0;
    return Math.min(500 * Math.pow(2, attempts - 1), 30000) * (1 + Math.random() * 0.2);
  }

  function connect() {
    if (stopped) return;
    attempts += 1;
    adoptStored();
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
      stopPeerTyping();
      if (everOpened) setConnection(t("reconnecting"));
      if (e.code === 1008) refused();
      // A refused handshake (HTTP 403) looks like a dead server (1006 before
      // open): asking for the session again tells the two apart.
      else if (!state.opened) start();
      else later(connect);
    };
  }
  function later(fn) { if (!stopped) setTimeout(fn, delay()); }
  function refused() {
    // Refused because another tab has moved on to a newer token: resume with it.
    if (adoptStored()) { start(); return; }
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
      if (f.conversation_id && f.conversation_id !== conversationId) {
        conversationId = f.conversation_id; conversationStatus = "open"; showForms();
      }
      if (f.conversation_id && f.seq > (lastSeq[f.conversation_id] || 0)) lastSeq[f.conversation_id] = f.seq;
      markStored(f.client_id, f.id, f.seq);
    } else if (f.type === "availability") {
      showAvailability(f);
    } else if (f.type === "status") {
      if (f.conversation_id) {
        if (f.conversation_id !== conversationId) { agentRead = 0; readSent = 0; }
        conversationId = f.conversation_id;
      }
      // The agents' read mark as stored: "Read" survives a reload.
      if (f.conversation_id === conversationId && f.agent_read_seq > agentRead) { agentRead = f.agent_read_seq; showReadMarks(); }
      if (f.conversation_status) conversationStatus = f.conversation_status;
      showPlace(f);
      showForms();
      if (!state.resuming) {
        state.resuming = true;
        var id = f.conversation_id || null;
        var frame = {type: "resume", after_seq: id ? lastSeq[id] || 0 : 0};
        if (id) frame.conversation_id = id;
        sendFrame(frame);
      }
    } else if (f.type === "resumed") {
      if (f.conversation_id && f.last_seq > (lastSeq[f.conversation_id] || 0)) lastSeq[f.conversation_id] = f.last_seq;
      if (!state.resumed) resumed(state);
    } else if (f.type === "typing") {
      peerTyping(f);
    } else if (f.type === "read") {
      if (f.conversation_id === conversationId && f.seq > agentRead) { agentRead = f.seq; showReadMarks(); }
    } else if (f.type === "csat") {
      saved.rated[f.conversation_id] = f.rating;
      persist();
      csatThanks.hidden = false;
      showForms();
    } else if (f.type === "error") {
      if (f.client_id && pending[f.client_id]) setMark(pending[f.client_id].line, "failed");
      // A resume the server could not answer: show what came rather than hold it forever.
      else if (state.resuming && !state.resumed) resumed(state);
    }
  }
  function session(extra) {
    var body = {widget_key: key, session_token: saved.token || null, language: navigator.language || null,
      link: link};
    for (var name in extra || {}) body[name] = extra[name];
    return fetch(base + "/api/v1/widget/sessions", {method: "POST", headers: {"content-type": "application/json"},
      body: JSON.stringify(body)});
  }
  function start(extra) {
    if (stopped) return;
    adoptStored();
    var had = saved.token || null;
    if (!everOpened) setConnection(t("connecting"));
    session(extra)
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
        // A new token for the same session (a rotation) is no renewal: only
        // a new session, when the server no longer knew our token, is.
        if (had && s.resumed === false) {
          if (renewed) { unavailable(); return; }
          renewed = true;
        }
        saved.token = s.session_token;
        persist();
        showAvailability(s.availability);
        later(connect);
      })
      .catch(function () { attempts += 1; later(start); });
  }

  // -- forms -------------------------------------------------------------------------
  form.onsubmit = function (e) {
    e.preventDefault();
    var body = input.value.trim();
    if (!body) return;
    stopTyping();
    var id = uuid();
    var row = line("customer", null, body, null);
    setMark(row, "sending");
    log.append(row);
    scroll();
    pending[id] = {body: body, line: row};
    // Until `resumed` it waits in pending: resumed() sends it after the history.
    if (live) sendFrame({type: "message", client_id: id, body: body});
    input.value = "";
  };
  fileInput.onchange = function () {
    var file = fileInput.files && fileInput.files[0];
    fileInput.value = "";
    if (!file || !saved.token) return;
    var id = uuid();
    var row = line("customer", null, "[" + file.name + "]", null);
    setMark(row, "sending");
    log.append(row);
    scroll();
    pending[id] = {file: true, body: file.name, line: row};
    upload(id, file, 0);
  };
  function upload(id, file, tries) {
    var query = "?filename=" + encodeURIComponent(file.name) + "&client_id=" + encodeURIComponent(id);
    fetch(base + "/api/v1/widget/attachments" + query, {method: "POST", body: file,
      headers: {authorization: "Bearer " + saved.token, "content-type": file.type || "application/octet-stream"}})
      .then(function (r) {
        if (r.ok) return r.json();
        return r.json().catch(function () { return {}; }).then(function (j) {
          var err = new Error(r.status === 413 ? t("tooLarge") : (j.detail || String(r.status)));
          // Refused for what it is (size, kind): resending changes nothing.
          err.final = r.status >= 400 && r.status < 500 && r.status !== 429 && r.status !== 401;
          throw err;
        });
      })
      .then(function (ack) {
        var p = pending[id];
        if (p) fileStored(p.line, ack);
        seen[ack.id] = true;
        if (ack.conversation_id && ack.conversation_id !== conversationId) {
          conversationId = ack.conversation_id; conversationStatus = "open"; showForms();
        }
        if (ack.conversation_id && ack.seq > (lastSeq[ack.conversation_id] || 0)) lastSeq[ack.conversation_id] = ack.seq;
        markStored(id, ack.id, ack.seq);
      })
      .catch(function (err) {
        var p = pending[id];
        if (!p) return;
        if (err.final || tries >= 5) {
          delete pending[id];
          setMark(p.line, "failed");
          p.line.querySelector(".mark").textContent = t("notSent", {reason: err.message});
          return;
        }
        setTimeout(function () { upload(id, file, tries + 1); }, 1000 * Math.pow(2, tries));
      });
  }
  prechatForm.onsubmit = function (e) {
    e.preventDefault();
    saved.started = true;
    var email = prechatEmail.value.trim();
    if (email) saved.email = email;
    persist();
    showForms();
    input.focus();
    start({name: nameInput.value.trim() || null, email: email || null});
  };
  emailForm.onsubmit = function (e) {
    e.preventDefault();
    var email = emailInput.value.trim();
    if (!email || !saved.token) return;
    session({email: email}).then(function (r) {
      if (!r.ok) { emailInput.setAttribute("aria-invalid", "true"); return; }
      emailInput.removeAttribute("aria-invalid");
      saved.email = email;
      persist();
      showForms();
    });
  };
  stars.addEventListener("click", function (e) {
    var target = e.target.closest && e.target.closest("button");
    if (!target) return;
    rating = Number(target.getAttribute("data-rating"));
    var all = stars.querySelectorAll("button");
    for (var i = 0; i < all.length; i++) all[i].setAttribute("aria-pressed", String(i < rating));
  });
  csat.onsubmit = function (e) {
    e.preventDefault();
    if (!rating) { stars.querySelector("button").focus(); return; }
    var frame = {type: "csat", rating: rating};
    if (csatComment.value.trim()) frame.comment = csatComment.value.trim();
    sendFrame(frame);
  };

  function mount() {
    document.body.append(host);
    showForms();
    if (fullscreen || saved.open) setOpen(true, false);
    if (!prechat || saved.started || saved.token) start();
  }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
