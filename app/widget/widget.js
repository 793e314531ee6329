/* Madoguchi web widget. Embed with:
 *   <script src="https://HOST/widget.js" data-key="WIDGET_KEY" async></script>
 * Optional: data-lang="en|ja" (else navigator.language), data-prechat="1" (ask
 * name and email before the first message), data-fullscreen="1" (the chat page),
 * data-color="#0a7", data-position="left|right", data-offset="24" (px from the
 * side), data-launcher-text="Ask us", data-greeting="…" (the welcome line),
 * data-hide-on-mobile="1", data-sound="off" (no sound for a reply in a hidden tab).
 * The owner's look from the inbox settings (the session's `appearance`) applies
 * where no data- attribute says otherwise.
 * After each connect, and when a single-page shop changes its address, a
 * `context` frame tells the agents the page, language and time zone.
 * Plain JS, no build step. Everything lives in a shadow root, so the host page's
 * CSS cannot reach it. Message text is only ever set with textContent.
 *
 * Each connection: wait for `status` (it names the current conversation), send
 * `resume` for that conversation after the highest seq this page has shown (0
 * on the page's first connect, so a reload shows the whole history), and hold
 * `message` frames until `resumed`; then show them in seq order, each id once.
 * Read marks are kept per conversation: a new conversation's seq is never
 * compared with an old one's mark.
 */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-key][src*='widget.js']");
  if (!script) return;
  function attr(name) { return script.getAttribute("data-" + name); }
  var key = attr("key");
  // A signed chat link (the chat page passes it on): continue that customer's history.
  var link = attr("link") || null;
  var base = new URL(script.src, location.href).origin;
  var fullscreen = !!attr("fullscreen");
  var prechat = !!attr("prechat");
  var storeKey = "madoguchi:" + key;
  var saved = {};
  try { saved = JSON.parse(localStorage.getItem(storeKey) || "{}") || {}; } catch (e) { saved = {}; }
  saved.rated = saved.rated || {};

  var TEXT = {
    en: {
      launcher: "Chat", title: "Chat with us", close: "Close chat", message: "Message", send: "Send",
      connecting: "Connecting…", reconnecting: "Connection lost – reconnecting…", unavailable: "Chat is unavailable right now.",
      replyMinutes: "We reply in about {n} minutes", replyMinute: "We reply in about a minute",
      replyHours: "We reply in about {n} hours", away: "We are away, back {when}", awayNoTime: "We are away right now",
      queue: "You are number {n} in the queue, about {m}", minute: "minute", minutes: "minutes",
      helping: "{name} is here to help", typing: "{name} is typing…", support: "Support", you: "You",
      sending: "Sending…", sent: "Sent", read: "Read", failed: "Not sent",
      byEmail: "We'll answer by email", email: "Email", save: "Save", emailSaved: "Thanks, we'll answer at {email}",
      name: "Name", start: "Start chat", prechat: "Tell us who you are (optional)",
      rate: "How did we do?", comment: "Comment (optional)", thanks: "Thank you for your rating", star: "{n} of 5 – {word}",
      words: "Very poor|Poor|OK|Good|Excellent", rateSend: "Rate", resolved: "This chat was resolved.",
      attach: "Attach a file", download: "Download {name}", notSent: "Not sent: {reason}", tooLarge: "the file is too large",
      unreadWord: " unread", newTitle: "({n}) New message – {title}", auto: "Automatic message",
      welcome: "Hi! Ask us anything – we're happy to help.", history: "Conversation history", today: "Today",
      past: "Previous conversations", back: "Back", stOpen: "Open", stResolved: "Resolved"
    },
    ja: {
      launcher: "チャット", title: "お問い合わせ", close: "閉じる", message: "メッセージ", send: "送信",
      connecting: "接続中…", reconnecting: "接続が切れました。再接続中…", unavailable: "現在チャットをご利用いただけません。",
      replyMinutes: "通常{n}分ほどで返信します", replyMinute: "通常1分ほどで返信します",
      replyHours: "通常{n}時間ほどで返信します", away: "ただいま営業時間外です。{when}に再開します", awayNoTime: "ただいま営業時間外です",
      queue: "順番待ち{n}番目です（約{m}）", minute: "分", minutes: "分",
      helping: "{name}が対応します", typing: "{name}が入力中…", support: "サポート", you: "あなた",
      sending: "送信中…", sent: "送信済み", read: "既読", failed: "未送信",
      byEmail: "メールでお返事します", email: "メールアドレス", save: "保存", emailSaved: "{email} 宛にお返事します",
      name: "お名前", start: "チャットを始める", prechat: "お名前とメールアドレス（任意）",
      rate: "対応はいかがでしたか？", comment: "コメント（任意）", thanks: "ご評価ありがとうございました", star: "5段階中{n} – {word}",
      words: "とても不満|不満|普通|満足|とても満足", rateSend: "評価する", resolved: "このチャットは解決済みになりました。",
      attach: "ファイルを添付", download: "{name} をダウンロード", notSent: "未送信: {reason}", tooLarge: "ファイルが大きすぎます",
      unreadWord: "件の未読", newTitle: "({n}) 新着メッセージ – {title}", auto: "自動メッセージ",
      welcome: "こんにちは。お気軽にご質問ください。", history: "会話の履歴", today: "今日",
      past: "これまでのお問い合わせ", back: "戻る", stOpen: "対応中", stResolved: "解決済み"
    }
  };
  var lang = (attr("lang") || navigator.language || "en").toLowerCase().slice(0, 2);
  if (!TEXT[lang]) lang = "en";
  function t(name, vars) {
    return TEXT[lang][name].replace(/\{(\w+)\}/g, function (_, k) { return vars && vars[k] != null ? String(vars[k]) : ""; });
  }
  // The owner's look (the inbox's `appearance`), as last given; a data- attribute wins.
  var look = saved.look || {};
  function pick(name, value) { var v = attr(name); return v != null && v !== "" ? v : value; }

  var socket = null, live = null, pending = {}, seen = {}, lastSeq = {};
  // attempts: connects since the last served one (the backoff); renewed: the
  // token in use replaced one the server refused, so a refusal now is final.
  var attempts = 0, renewed = false, stopped = false, everOpened = false;
  var conversationId = null, conversationStatus = null, availabilityNow = null, assigneeName = null;
  // Per conversation: how far agents have read (readBy) and what we told them (readSent).
  var readBy = {}, readSent = {}, typingTimer = null, typingSentAt = 0, peerTypingTimer = null;
  var thankedFor = null, pageTitle = null, audio = null;

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
  var color, side, offset, hideMobile, sheet = null;
  function settle() {
    color = pick("color", look.color);
    if (!(color && window.CSS && CSS.supports("color", color))) color = "#1f3a5f";
    side = pick("position", look.position) === "left" ? "left" : "right";
    offset = parseInt(pick("offset", look.offset), 10);
    offset = isNaN(offset) ? 16 : Math.max(0, Math.min(400, offset));
    var hide = attr("hide-on-mobile");
    hideMobile = hide ? !/^(0|false|no|off)$/i.test(hide) : look.hide_on_mobile === true;
  }
  settle();
  // !important on :host only: the host element is in the page, where the
  // page's own rules would otherwise win over ours.
  function css() { return [
    ":host{all:initial!important;--c:" + color + ";position:fixed!important;" + side + ":" + offset + "px!important;bottom:16px!important;z-index:2147483000!important;display:block!important;font:14px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif,'Apple Color Emoji','Segoe UI Emoji','Noto Color Emoji'!important;color:#1d2433!important}",
    "*{box-sizing:border-box;font:inherit;color:inherit;margin:0}",
    "[hidden]{display:none!important}",
    ".dock{display:flex;flex-direction:column;align-items:" + (side === "left" ? "flex-start" : "flex-end") + "}",
    ".launcher{position:relative;border:0;border-radius:24px;padding:12px 20px;background:var(--c);color:#fff;cursor:pointer;font-weight:600;box-shadow:0 2px 8px rgba(0,0,0,.25)}",
    ".badge{position:absolute;top:-6px;" + (side === "left" ? "right" : "left") + ":-6px;min-width:22px;height:22px;border-radius:11px;background:#c62828;color:#fff;font-size:12px;line-height:22px;text-align:center;padding:0 6px}",
    ".preview{max-width:280px;margin-bottom:8px;border:1px solid #cfd6e0;border-radius:12px;background:#fff;color:#1d2433;padding:8px 12px;text-align:left;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.18);overflow-wrap:anywhere}",
    ".preview b{display:block;font-size:12px;color:#3a4352}",
    ":focus-visible{outline:2px solid #2b6cb0;outline-offset:2px}",
    "header :focus-visible,.launcher:focus-visible{outline:3px solid #fff;outline-offset:-5px}",
    ".panel{width:360px;height:min(560px,calc(100vh - 96px));background:#fff;border:1px solid #cfd6e0;border-radius:12px;display:flex;flex-direction:column;margin-bottom:10px;overflow:hidden;box-shadow:0 8px 28px rgba(0,0,0,.2)}",
    "header{background:var(--c);color:#fff;padding:10px 12px;display:flex;gap:8px;align-items:flex-start}",
    "header .titles{flex:1;min-width:0}header h2{font-weight:700;font-size:16px}",
    "header p{font-size:12px;opacity:.95}",
    ".x{border:0;background:transparent;color:#fff;font-size:22px;line-height:1;cursor:pointer;min-width:32px;min-height:32px;border-radius:6px}",
    ".conn{background:#fff4d6;color:#6b4e00;font-size:12px;padding:4px 12px}",
    ".scroll{flex:1;overflow:auto;position:relative;background:#f6f8fb;padding:10px 12px}.scroll:focus-visible{outline-offset:-2px}",
    ".log{display:flex;flex-direction:column;gap:8px}",
    ".welcome,.day,.ended{font-size:12px;color:#4a5363;text-align:center}",
    ".ended{margin-top:10px}",
    ".msg{max-width:85%;align-self:flex-start}.msg.customer{align-self:flex-end}",
    ".msg.agent{position:relative;padding-left:34px}",
    ".av{position:absolute;left:0;top:14px;width:28px;height:28px;border-radius:50%;background:var(--c);color:#fff;font-size:11px;font-weight:700;line-height:28px;text-align:center}",
    ".meta{font-size:11px;color:#4a5363;margin:0 4px 2px}.customer .meta{text-align:right}",
    ".bubble{background:#fff;border:1px solid #dde3ea;border-radius:12px;padding:7px 10px;white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-word}",
    ".customer .bubble{background:var(--c);color:#fff;border-color:var(--c)}.customer .bubble a{color:#fff}",
    ".system .bubble{background:#eef1f5;color:#3a4352;border-style:dashed}",
    ".thumb{display:block;max-width:100%;max-height:200px;border-radius:8px}",
    ".msg[data-state=sending] .bubble{opacity:.6}.msg[data-state=failed] .bubble{background:#b00020;border-color:#b00020}",
    ".mark{font-size:11px;color:#4a5363;text-align:right;margin:2px 4px 0}",
    ".typing{font-size:12px;color:#4a5363;padding:2px 12px;min-height:18px}",
    ".card{border-top:1px solid #e3e8ee;padding:8px 12px;display:flex;flex-direction:column;gap:6px;background:#fff}",
    ".scroll .card{border:1px solid #e3e8ee;border-radius:10px;margin-top:10px}",
    ".card label,.card legend{font-size:12px;color:#3a4352}",
    ".row{display:flex;gap:6px}.row input{flex:1;min-width:0}",
    "input,textarea{font-size:16px;border:1px solid #cfd6e0;border-radius:8px;padding:8px;background:#fff;color:#1d2433}",
    ".composer{display:flex;gap:6px;border-top:1px solid #e3e8ee;padding:8px;background:#fff}",
    ".composer input{flex:1;min-width:0}",
    ".clip{border:1px solid #cfd6e0;border-radius:8px;background:#fff;padding:6px 10px;cursor:pointer;font-size:16px;line-height:1;min-width:36px}",
    ".files{display:flex;flex-direction:column;gap:4px;margin-top:4px}",
    ".file{border:1px solid #cfd6e0;border-radius:8px;background:#fff;color:#1f3a5f;padding:4px 8px;cursor:pointer;text-align:left;overflow-wrap:anywhere;font-size:13px;min-height:28px}",
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);opacity:0}",
    ".btn{border:0;border-radius:8px;padding:8px 12px;background:var(--c);color:#fff;cursor:pointer;font-weight:600;min-height:36px}",
    "fieldset{border:0;padding:0;display:flex;flex-direction:column;gap:6px}",
    ".stars{display:flex;gap:4px}.stars label{flex:1;position:relative}",
    // The radio itself, unseen, covers its face: it is what a click or tap hits.
    ".stars input{position:absolute;inset:0;width:100%;height:100%;margin:0;opacity:0;cursor:pointer;z-index:1}",
    ".stars span{display:block;border:1px solid #8a94a6;border-radius:8px;background:#fff;color:#1d2433;min-height:36px;line-height:34px;text-align:center;cursor:pointer;font-size:14px}",
    ".stars input:checked+span{background:#f4b400;border-color:#8a6500;font-weight:700}",
    ".stars input:focus-visible+span{outline:2px solid #2b6cb0;outline-offset:2px}",
    "@media (max-width:480px){:host{" + side + ":12px!important;bottom:12px!important}.panel{position:fixed;inset:0;width:100vw;height:100%;border-radius:0;margin:0;border:0}.x{min-width:44px;min-height:44px}.opened .launcher{display:none}" +
      (hideMobile && !fullscreen ? ":host{display:none!important}" : "") + "}",
    ".full{position:fixed;inset:0;width:100vw;height:100%;border-radius:0;margin:0;border:0}",
    ".link{border:0;border-bottom:1px solid #e3e8ee;background:#fff;color:#1f3a5f;text-decoration:underline;cursor:pointer;padding:6px 12px;font-size:13px;text-align:left;min-height:32px}",
    ".pv{display:none}.inpast .pv{display:block}.inpast .scroll:not(.pv),.inpast .typing,.inpast .card,.inpast .composer,.inpast .link{display:none!important}",
    ".pv h3{font-weight:700;margin:8px 0}.plist{list-style:none;padding:0;display:flex;flex-direction:column;gap:6px}.plist .file{width:100%}.plist b,.plist span{display:block}"
  ].join("\n"); }
  style.textContent = css();

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
  // Focusable, so a keyboard can scroll the history.
  var scroller = el("div", "scroll", {role: "region", tabindex: "0", "aria-label": t("history")}); scroller.className = "scroll";
  var welcome = el("p", "welcome"); welcome.className = "welcome";
  var log = el("div", "log", {role: "log", "aria-live": "polite", "aria-label": t("title")}); log.className = "log";
  var ended = el("p", "resolved", {hidden: ""}); ended.className = "ended"; ended.textContent = t("resolved");
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

  // The rating: one choice of five, a native radio group (arrow keys move it).
  var csat = el("form", "csat", {hidden: ""}); csat.className = "card";
  var stars = el("fieldset", "stars", {role: "radiogroup"});
  var legend = el("legend"); legend.textContent = t("rate");
  var starRow = el("div"); starRow.className = "stars";
  var words = t("words").split("|");
  var rating = 0;
  for (var n = 1; n <= 5; n++) {
    var star = el("label");
    var radio = el("input", "star", {type: "radio", name: "madoguchi-rating", value: String(n), "aria-label": t("star", {n: n, word: words[n - 1]})});
    var face = el("span", null, {"aria-hidden": "true", title: words[n - 1]}); face.textContent = String(n);
    star.append(radio, face);
    starRow.append(star);
  }
  stars.append(legend, starRow);
  var csatComment = el("textarea", null, {"aria-label": t("comment"), placeholder: t("comment"), rows: "2", maxlength: "4000"});
  var csatSend = el("button", null, {type: "submit"}); csatSend.className = "btn"; csatSend.textContent = t("rateSend");
  var csatThanks = el("p", "csat-thanks", {hidden: "", role: "status"}); csatThanks.className = "ended"; csatThanks.textContent = t("thanks");
  csat.append(stars, csatComment, csatSend);
  scroller.append(welcome, log, ended, csatThanks, csat);

  var form = el("form", "composer"); form.className = "composer";
  var input = el("input", "input", {"aria-label": t("message"), placeholder: t("message"), autocomplete: "off", maxlength: "16000"});
  var sendButton = el("button", null, {type: "submit"}); sendButton.className = "btn"; sendButton.textContent = t("send");
  var fileInput = el("input", "file-input", {type: "file", tabindex: "-1", "aria-hidden": "true", "aria-label": t("attach")}); fileInput.className = "sr";
  var clip = el("button", "attach", {type: "button", "aria-label": t("attach"), title: t("attach")});
  clip.className = "clip"; clip.textContent = "📎";
  clip.onclick = function () { fileInput.click(); };
  form.append(clip, fileInput, input, sendButton);
  // Earlier conversations, read-only: a list, then one's messages, each with Back.
  var pastLink = el("button", "past-link", {type: "button", hidden: ""}); pastLink.className = "link"; pastLink.textContent = t("past");
  var past = el("div", "past", {role: "region", tabindex: "0", "aria-label": t("past")}); past.className = "scroll pv";
  var back = el("button", "past-back", {type: "button"}); back.className = "file"; back.textContent = "← " + t("back");
  var pastTitle = el("h3"), pastList = el("ul", "past-list"), pastLog = el("div", "past-log"); pastList.className = "plist"; pastLog.className = "log";
  past.append(back, pastTitle, pastList, pastLog);
  panel.append(header, connection, pastLink, scroller, past, typingLine, emailForm, prechatForm, form);

  var dock = el("div"); dock.className = "dock";
  var preview = el("button", "preview", {type: "button", hidden: ""}); preview.className = "preview";
  var previewWho = el("b"), previewText = el("span", "preview-text");
  preview.append(previewWho, document.createTextNode(" "), previewText);
  var button = el("button", "launcher", {type: "button", "aria-expanded": "false"});
  button.className = "launcher";
  // The count is part of the launcher's name as it is of its text ("Chat 2 unread").
  var badge = el("span", "badge", {hidden: ""}); badge.className = "badge";
  var unreadWord = el("span"); unreadWord.className = "sr";
  var gap = document.createTextNode("");
  var launcherLabel = document.createTextNode("");
  button.append(launcherLabel, gap, badge, unreadWord);
  // A constructed sheet where the browser has one: the host page's CSP
  // (style-src without 'unsafe-inline') does not block it as it would <style>.
  try {
    sheet = new CSSStyleSheet();
    sheet.replaceSync(style.textContent);
    shadow.adoptedStyleSheets = [sheet];
  } catch (e) {
    sheet = null;
    shadow.append(style);
  }
  function applyLook() {
    settle();
    if (sheet) sheet.replaceSync(css()); else style.textContent = css();
    launcherLabel.data = pick("launcher-text", look.launcher_text) || t("launcher");
    welcome.textContent = pick("greeting", look.greeting) || t("welcome");
  }
  applyLook();
  dock.append(panel);
  if (!fullscreen) dock.append(preview, button);
  shadow.append(dock);

  // -- open and close ----------------------------------------------------------
  function isOpen() { return !panel.hidden; }
  function setOpen(open, focus) {
    // The first reply the customer has not seen, looked up before they see it.
    var first = open && !isOpen() ? unreadRows()[0] : null;
    panel.hidden = !open;
    // On a phone the open panel fills the screen: the launcher would cover its Send button.
    dock.classList.toggle("opened", open);
    button.setAttribute("aria-expanded", String(open));
    if (!fullscreen) { saved.open = open; persist(); }
    if (open) {
      showForms();
      if (first) scroller.scrollTop = first.offsetTop - 8; else scroll();
      if (focus !== false) (prechatForm.hidden ? input : nameInput).focus();
      markRead();
      if (stopped) { stopped = false; attempts = 0; renewed = false; start(); }
    } else {
      panel.classList.remove("inpast");
      if (focus !== false) button.focus();
    }
    showUnread();
  }
  button.onclick = function () { setOpen(!isOpen()); };
  preview.onclick = function () { setOpen(true); };
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
        email: saved.email || null, started: !!saved.started, rated: saved.rated, seen: saved.seen || null, look: look}));
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
  function initials(name) {
    var words = String(name || "").trim().split(/\s+/).filter(Boolean);
    if (!words.length) return "?";
    var first = Array.from(words[0])[0], last = words.length > 1 ? Array.from(words[words.length - 1])[0] : "";
    return (first + last).toUpperCase();
  }
  function line(kind, name, body, createdAt) {
    var row = el("div", "message", {"data-author": kind});
    row.className = "msg " + kind;
    row.setAttribute("data-day", (createdAt ? new Date(createdAt) : new Date()).toDateString());
    if (kind === "agent") {
      var av = el("span", "avatar", {"aria-hidden": "true"}); av.className = "av";
      av.textContent = initials(name || t("support"));
      row.append(av);
    }
    var meta = el("div", "meta"); meta.className = "meta";
    var who = el("span", "author");
    // An automatic message says so in words, not in italics (slanted CJK is hard to read).
    who.textContent = kind === "customer" ? t("you") : kind === "system" ? t("auto") : (name || t("support"));
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
  // A line with the date before each day's first message, unless all are today.
  var daysDue = false;
  function showDays() {
    daysDue = false;
    var old = log.querySelectorAll(".day");
    for (var i = 0; i < old.length; i++) old[i].remove();
    var rows = log.querySelectorAll(".msg"), today = new Date().toDateString(), prev = null;
    var all = Array.prototype.every.call(rows, function (r) { return r.getAttribute("data-day") === today; });
    if (all) return;
    for (var j = 0; j < rows.length; j++) {
      var day = rows[j].getAttribute("data-day");
      if (day === prev) continue;
      prev = day;
      var sep = el("p", "day", {role: "separator"}); sep.className = "day";
      sep.textContent = day === today ? t("today") : new Date(day).toLocaleDateString(lang, {weekday: "short", year: "numeric", month: "short", day: "numeric"});
      log.insertBefore(sep, rows[j]);
    }
  }
  function daysLater() {
    if (!daysDue) { daysDue = true; setTimeout(showDays, 0); }
  }
  function size(bytes) {
    if (bytes == null) return "";
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1048576) return Math.round(bytes / 1024) + " KB";
    return (bytes / 1048576).toFixed(1) + " MB";
  }
  function fetchFile(f) {
    return fetch(base + f.url, {headers: {authorization: "Bearer " + saved.token}})
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.blob(); });
  }
  // The message's files as buttons: each is fetched with the session token
  // and saved (a link could not carry the token, and never opens as a page).
  // An image is shown too, from the same fetch (an <img> could not send the token).
  function addFiles(row, files) {
    if (!files || !files.length || row.querySelector(".files")) return;
    var box = el("div", "files"); box.className = "files";
    var bubble = row.querySelector(".bubble");
    files.forEach(function (f) {
      var b = el("button", "file", {type: "button", "aria-label": t("download", {name: f.filename || "file"})});
      b.className = "file";
      b.textContent = "⬇ " + (f.filename || "file") + (f.size ? " (" + size(f.size) + ")" : "");
      b.onclick = function () { download(f); };
      box.append(b);
      if (/^image\/(png|jpeg|gif|webp)$/.test(f.content_type || "") && files.length === 1) {
        var img = el("img", "thumb", {alt: f.filename || "image"}); img.className = "thumb";
        fetchFile(f).then(function (blob) {
          var end = atEnd();
          img.onload = function () { if (end) scroll(); };
          img.src = URL.createObjectURL(blob);
          bubble.textContent = "";
          bubble.append(img);
        }).catch(function () { /* the label and the button stay */ });
      }
    });
    var mark = row.querySelector(".mark");
    row.insertBefore(box, mark);
  }
  // An upload's line, once stored: the text the server keeps for it, and its file.
  function fileStored(row, m) {
    if (m.body) row.querySelector(".bubble").textContent = m.body;
    addFiles(row, m.attachments);
    scroll();
  }
  function download(f) {
    fetchFile(f)
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
  function atEnd() { return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40; }
  function scroll() { scroller.scrollTop = scroller.scrollHeight; }
  // Stored messages go above the customer's unacked ones, which stay last, in
  // the order sent (object keys that are not integers keep insertion order).
  function firstPending() {
    var ids = Object.keys(pending);
    return ids.length ? pending[ids[0]].line : null;
  }
  // fresh: a live message (not history), which may call for a sound.
  function show(f, fresh) {
    if (f.seq > (lastSeq[f.conversation_id] || 0)) lastSeq[f.conversation_id] = f.seq;
    if (seen[f.id]) return;
    seen[f.id] = true;
    var mine = f.client_id && pending[f.client_id];
    if (mine) {
      if (mine.file) fileStored(mine.line, f);
      markStored(f.client_id, f.id, f.seq, f.conversation_id);
      return;
    }
    var row = line(f.author.kind, f.author.name, f.body, f.created_at);
    addFiles(row, f.attachments);
    row.setAttribute("data-id", String(f.id));
    row.setAttribute("data-seq", String(f.seq));
    row.setAttribute("data-conv", String(f.conversation_id));
    if (f.author.kind === "customer") setMark(row, "stored");
    else stopPeerTyping();
    log.insertBefore(row, firstPending());
    daysLater();
    scroll();
    showReadMarks();
    markRead();
    if (showUnread() && fresh && f.author.kind !== "customer" && document.visibilityState === "hidden") beep();
  }
  function markStored(clientId, id, seq, conv) {
    var p = pending[clientId];
    if (!p) return;
    delete pending[clientId];
    p.line.setAttribute("data-id", String(id));
    if (seq) p.line.setAttribute("data-seq", String(seq));
    if (conv) p.line.setAttribute("data-conv", String(conv));
    setMark(p.line, "stored");
    showReadMarks();
  }
  // "Read" on the customer's messages an agent has read up to, each compared
  // with its own conversation's mark.
  function showReadMarks() {
    var rows = log.querySelectorAll(".msg.customer[data-seq][data-conv]");
    for (var i = 0; i < rows.length; i++) {
      var seq = Number(rows[i].getAttribute("data-seq"));
      if (seq <= (readBy[rows[i].getAttribute("data-conv")] || 0) && rows[i].getAttribute("data-state") === "stored") setMark(rows[i], "read");
    }
  }
  function agentsRead(id, seq) {
    if (id && seq > (readBy[id] || 0)) { readBy[id] = seq; showReadMarks(); }
  }
  function seenSeq() { return saved.seen && saved.seen[0] === conversationId ? saved.seen[1] : 0; }
  // Tells the agents what the customer has seen: only while the panel is open
  // and the page is in front (a closed panel or a hidden tab has seen nothing).
  function markRead() {
    if (!conversationId || !isOpen() || document.visibilityState === "hidden") return;
    var seq = lastSeq[conversationId] || 0;
    if (seq > seenSeq()) { saved.seen = [conversationId, seq]; persist(); }
    if (live && seq > (readSent[conversationId] || 0)) {
      readSent[conversationId] = seq;
      sendFrame({type: "read", seq: seq, conversation_id: conversationId});
    }
    showUnread();
  }
  document.addEventListener("visibilitychange", function () {
    markRead();
    showUnread();
    if (document.visibilityState === "visible") retryNow();
  });
  // The replies of this conversation the customer has not seen (panel closed, or tab hidden).
  function unreadRows() {
    var mark = seenSeq();
    return Array.prototype.filter.call(log.querySelectorAll(".msg:not(.customer)[data-conv]"), function (r) {
      return r.getAttribute("data-conv") === String(conversationId) && Number(r.getAttribute("data-seq")) > mark;
    });
  }
  // The launcher's badge and preview, and the page title's count while the tab is hidden.
  function showUnread() {
    var rows = unreadRows(), count = rows.length, last = rows[count - 1];
    var shown = count && !isOpen();
    badge.hidden = !shown;
    badge.textContent = shown ? (count > 99 ? "99+" : String(count)) : "";
    gap.data = shown ? " " : "";
    unreadWord.textContent = shown ? t("unreadWord") : "";
    preview.hidden = !last || isOpen() || fullscreen;
    if (last) {
      previewWho.textContent = last.querySelector("[data-madoguchi-part=author]").textContent;
      var file = last.querySelector(".file");
      var text = last.querySelector(".bubble").textContent || (file ? file.textContent : "");
      previewText.textContent = text.length > 90 ? text.slice(0, 89) + "…" : text;
    }
    if (count && document.visibilityState === "hidden") {
      if (pageTitle === null) pageTitle = document.title;
      document.title = t("newTitle", {n: count, title: pageTitle});
    } else if (pageTitle !== null) {
      document.title = pageTitle;
      pageTitle = null;
    }
    return count;
  }
  // A short two-note chime, made here (no file to fetch); data-sound="off" silences it.
  function beep() {
    if (attr("sound") === "off") return;
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      [660, 880].forEach(function (hz, i) {
        var o = audio.createOscillator(), g = audio.createGain(), at = audio.currentTime + i * 0.12;
        o.frequency.value = hz;
        g.gain.setValueAtTime(0.06, at);
        g.gain.exponentialRampToValueAtTime(0.0001, at + 0.2);
        o.connect(g); g.connect(audio.destination);
        o.start(at); o.stop(at + 0.2);
      });
    } catch (e) { /* no audio here */ }
  }

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
  // The next opening as the server words it (the inbox's zone and language),
  // else formatted here in the inbox's zone, named.
  function backAt(a) {
    if (a.next_open_text) return a.next_open_text;
    var when = new Date(a.next_open_at);
    if (a.time_zone) {
      try {
        return when.toLocaleString(lang, {weekday: "long", day: "numeric", month: "long", hour: "2-digit",
          minute: "2-digit", timeZone: a.time_zone, timeZoneName: "short"});
      } catch (e) { /* an unknown zone: the browser's */ }
    }
    return when.toLocaleDateString(lang, {weekday: "long"}) + " " +
      when.toLocaleTimeString(lang, {hour: "numeric", minute: "2-digit"});
  }
  function showAvailability(a) {
    var was = availabilityNow || {};
    if (a) {
      availabilityNow = {open: a.open, next_open_at: a.next_open_at,
        next_open_text: a.next_open_text || null, time_zone: a.time_zone || was.time_zone || null,
        expected_reply_seconds: a.expected_reply_seconds != null ? a.expected_reply_seconds : was.expected_reply_seconds};
    }
    a = availabilityNow;
    if (!a) return;
    if (a.open) {
      var seconds = a.expected_reply_seconds;
      if (seconds == null) { availabilityLine.textContent = ""; }
      else if (seconds >= 5400) availabilityLine.textContent = t("replyHours", {n: Math.round(seconds / 3600)});
      else {
        var minutes = Math.max(1, Math.round(seconds / 60));
        availabilityLine.textContent = minutes === 1 ? t("replyMinute") : t("replyMinutes", {n: minutes});
      }
    } else if (a.next_open_at || a.next_open_text) {
      availabilityLine.textContent = t("away", {when: backAt(a)});
    } else {
      availabilityLine.textContent = t("awayNoTime");
    }
    // An agent who has this chat answers now: "away" would contradict them.
    availabilityLine.hidden = !a.open && !!assigneeName;
    showForms();
  }
  // Routing's word on the chat: waiting in the queue, or with an agent.
  var queued = false;
  function showPlace(f) {
    if (f.queue_position) {
      queued = true;
      assigneeName = null;
      var minutes = Math.max(1, Math.round((f.expected_wait_seconds || 0) / 60));
      status.textContent = t("queue", {n: f.queue_position, m: minutes + " " + t(minutes === 1 ? "minute" : "minutes")});
    } else if (f.assignee && f.assignee.name) {
      queued = false;
      assigneeName = f.assignee.name;
      status.textContent = t("helping", {name: f.assignee.name});
    } else if (f.queue_position === null) {
      queued = false;
    }
    showAvailability();
  }
  // A new conversation: the last one's agent and queue place are not its own.
  function follow(id) {
    if (!id || id === conversationId) return;
    conversationId = id;
    conversationStatus = "open";
    checkPast();
    assigneeName = null; queued = false;
    if (!stopped) status.textContent = "";
    showAvailability();
    showForms();
  }
  function api(path) {
    return fetch(base + "/api/v1/widget/conversations" + path, {headers: {authorization: "Bearer " + saved.token}})
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); });
  }
  // The link shows once the customer has more than one conversation.
  function checkPast() {
    api("?limit=2").then(function (page) { pastLink.hidden = (page.items || []).length < 2; }).catch(function () { /* later */ });
  }
  function day(iso) { return new Date(iso).toLocaleDateString(lang, {year: "numeric", month: "short", day: "numeric"}); }
  function pastRows(c, limit) {
    return api("/" + c.id + "/messages?limit=" + limit).then(function (page) { return page.items || []; });
  }
  pastLink.onclick = function () {
    panel.classList.add("inpast");
    pastLog.textContent = ""; pastList.textContent = ""; pastList.hidden = false;
    pastTitle.textContent = t("past");
    back.focus();
    api("?limit=50").then(function (page) {
      (page.items || []).forEach(function (c) {
        if (c.id === conversationId) return;
        var li = el("li"), b = el("button", "past-item", {type: "button"}), head = el("b"), first = el("span", "past-first");
        b.className = "file";
        head.textContent = day(c.created_at) + " · " + t(c.status === "resolved" ? "stResolved" : "stOpen");
        b.append(head, first); li.append(b); pastList.append(li);
        // Its first line: the customer's question rather than a greeting.
        pastRows(c, 5).then(function (rows) {
          var m = rows.filter(function (r) { return r.author.kind === "customer"; })[0] || rows[0];
          var text = m ? m.body.split("\n")[0] : "";
          first.textContent = text.length > 80 ? text.slice(0, 79) + "…" : text;
        }).catch(function () { /* the date says which */ });
        b.onclick = function () { showPast(c, head.textContent); };
      });
    }).catch(function () { /* Back still works */ });
  };
  function showPast(c, label) {
    pastList.hidden = true;
    pastTitle.textContent = label;
    back.focus();
    pastRows(c, 200).then(function (rows) {
      pastLog.textContent = "";
      rows.forEach(function (m) {
        var row = line(m.author.kind, m.author.name, m.body, m.created_at);
        row.setAttribute("data-madoguchi-part", "past-message");
        addFiles(row, m.attachments);
        pastLog.append(row);
      });
    }).catch(function () { /* Back still works */ });
  }
  back.onclick = function () {
    if (pastList.hidden) { pastList.hidden = false; pastLog.textContent = ""; pastTitle.textContent = t("past"); back.focus(); return; }
    panel.classList.remove("inpast");
    pastLink.focus();
  };
  // The status frame on connect names no agent: the conversation list does.
  function fetchAssignee(id) {
    fetch(base + "/api/v1/widget/conversations", {headers: {authorization: "Bearer " + saved.token}})
      .then(function (r) { return r.ok ? r.json() : {items: []}; })
      .then(function (page) {
        (page.items || []).forEach(function (c) {
          if (c.id === id && id === conversationId && c.assignee && !queued && !assigneeName) showPlace({assignee: c.assignee});
        });
      })
      .catch(function () { /* the next status frame says it */ });
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
    var wasEnded = !ended.hidden;
    var done = conversationStatus === "resolved" && !!conversationId;
    ended.hidden = !done;
    csat.hidden = !done || !!saved.rated[conversationId];
    csatThanks.hidden = !done || thankedFor !== conversationId;
    // The end of a chat: its last message stays in view, the prompt below it.
    if (done && !wasEnded) {
      var rows = log.querySelectorAll(".msg");
      var last = rows[rows.length - 1];
      scroller.scrollTop = last ? Math.min(last.offsetTop - 8, scroller.scrollHeight) : scroller.scrollHeight;
    }
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
    state.held.forEach(function (f) { show(f, false); });
    state.held = [];
    // What was written while offline goes now, once: its client_id makes a
    // copy the server stored before the drop an ack, not a second message.
    Object.keys(pending).forEach(function (id) {
      // A file goes by HTTP, not on the socket: its own request retries it.
      if (!pending[id].file) sendFrame({type: "message", client_id: id, body: pending[id].body});
    });
    markRead();
    heartbeat(state);
    sendContext();
  }
  // Where the customer is, for the agents: sent on each connect and when the
  // address changes in a single-page shop. An older server answers an
  // `error` (no client_id), which is ignored.
  var contextTimer = null, contextUrl = null;
  function sendContext() {
    if (!live) return;
    var zone = null;
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || null; } catch (e) { /* none */ }
    contextUrl = location.href;
    sendFrame({type: "context", page_url: contextUrl.slice(0, 2000),
      page_title: String(pageTitle !== null ? pageTitle : document.title || "").slice(0, 300),
      language: navigator.language || null, time_zone: zone});
  }
  function moved() {
    clearTimeout(contextTimer);
    contextTimer = setTimeout(function () { if (location.href !== contextUrl) sendContext(); }, 400);
  }
  ["pushState", "replaceState"].forEach(function (name) {
    var original = history[name];
    if (typeof original !== "function") return;
    history[name] = function () {
      var result = original.apply(this, arguments);
      moved();
      return result;
    };
  });
  window.addEventListener("popstate", moved);
  // A socket on a network that went away may not close for minutes: a ping
  // unanswered for 20 s closes it, and the reconnect starts.
  function heartbeat(state) {
    var ws = socket;
    var timer = setInterval(function () {
      if (socket !== ws || live !== state) { clearInterval(timer); return; }
      if (state.pinged) { clearInterval(timer); ws.close(); return; }
      state.pinged = true;
      sendFrame({type: "ping"});
    }, 20000);
  }
  function unavailable() {
    stopped = true;
    setConnection(null);
    status.textContent = t("unavailable");
  }
  // 1 s, 2 s, 4 s, then every 5 s: after an outage the customer waits
  // seconds, not half a minute; the jitter spreads a server's reconnects.
  function delay() {
    if (attempts === 0) return 0;
    return Math.min(1000 * Math.pow(2, attempts - 1), 5000) * (0.8 + Math.random() * 0.2);
  }
  function lost() { if (everOpened) setConnection(t("reconnecting")); }

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
      lost();
      if (e.code === 1008) refused();
      // A refused handshake (HTTP 403) looks like a dead server (1006 before
      // open): asking for the session again tells the two apart.
      else if (!state.opened) start();
      else later(connect);
    };
  }
  var retryTimer = null, retryFn = null;
  function later(fn) {
    if (stopped) return;
    clearTimeout(retryTimer);
    retryFn = fn;
    retryTimer = setTimeout(function () { retryFn = null; fn(); }, delay());
  }
  // The network is back, or the customer looks at the page again: no need to
  // sit out the rest of the wait.
  function retryNow() {
    if (!retryFn || stopped) return;
    clearTimeout(retryTimer);
    var fn = retryFn;
    retryFn = null;
    fn();
  }
  window.addEventListener("online", retryNow);
  window.addEventListener("offline", function () {
    lost();
    // A socket on a dead network may take minutes to notice.
    if (socket) socket.close();
  });
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
      if (state.resumed) show(f, true); else state.held.push(f);
    } else if (f.type === "ack") {
      seen[f.id] = true;
      follow(f.conversation_id);
      if (f.conversation_id && f.seq > (lastSeq[f.conversation_id] || 0)) lastSeq[f.conversation_id] = f.seq;
      markStored(f.client_id, f.id, f.seq, f.conversation_id);
    } else if (f.type === "availability") {
      showAvailability(f);
    } else if (f.type === "status") {
      follow(f.conversation_id);
      // The agents' read mark as stored: "Read" survives a reload.
      agentsRead(f.conversation_id, f.agent_read_seq);
      if (f.conversation_status && f.conversation_id === conversationId) conversationStatus = f.conversation_status;
      showPlace(f);
      showForms();
      if (!state.resuming) {
        state.resuming = true;
        var id = f.conversation_id || null;
        if (id && !f.assignee && !f.queue_position && f.conversation_status !== "resolved") fetchAssignee(id);
        var frame = {type: "resume", after_seq: id ? lastSeq[id] || 0 : 0};
        if (id) frame.conversation_id = id;
        sendFrame(frame);
      }
    } else if (f.type === "resumed") {
      if (f.conversation_id && f.last_seq > (lastSeq[f.conversation_id] || 0)) lastSeq[f.conversation_id] = f.last_seq;
      if (!state.resumed) resumed(state);
    } else if (f.type === "pong") {
      state.pinged = false;
    } else if (f.type === "typing") {
      peerTyping(f);
    } else if (f.type === "read") {
      agentsRead(f.conversation_id, f.seq);
    } else if (f.type === "csat") {
      saved.rated[f.conversation_id] = f.rating;
      persist();
      thankedFor = f.conversation_id;
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
        look = s.appearance && typeof s.appearance === "object" ? s.appearance : {};
        persist();
        applyLook();
        showAvailability(s.availability);
        later(connect);
      })
      .catch(function () { attempts += 1; lost(); later(start); });
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
    daysLater();
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
    daysLater();
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
        follow(ack.conversation_id);
        if (ack.conversation_id && ack.seq > (lastSeq[ack.conversation_id] || 0)) lastSeq[ack.conversation_id] = ack.seq;
        markStored(id, ack.id, ack.seq, ack.conversation_id);
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
  stars.addEventListener("change", function (e) { rating = Number(e.target.value); });
  csat.onsubmit = function (e) {
    e.preventDefault();
    if (!rating) { stars.querySelector("input").focus(); return; }
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
