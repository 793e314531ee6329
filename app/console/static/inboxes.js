/* The admins' page for inboxes: list them with what a channel needs outside
 * (the widget's embed snippet, the webhook URL a platform calls), create an
 * inbox of every channel, set business hours, responders and routing. Plain
 * JS under the console's Content-Security-Policy; whatever the server says is
 * set with textContent or as an input's value, never as HTML. The sign-in is
 * the console's (session.js), as on the agents page.
 */
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const session = window.MadoguchiSession({
    signedIn: () => {
      $("create-section").hidden = !isAdmin();
      if (!isAdmin()) fail("Only admins create and change inboxes; your role is " + session.auth.agent.role + ".");
      load();
    },
    signedOut: () => { $("inboxes").replaceChildren(); },
    refused: (status, detail) => status === 403 ? "only admins may do this (" + detail + ")" : detail,
  });
  const api = session.api;
  const isAdmin = () => session.auth && session.auth.agent.role === "admin";

  // The channels' webhook slugs (app/conversations/webhooks.py): /webhooks/{slug}/{inbox_id}.
  const WEBHOOK = {telegram: "telegram", line: "line", messenger: "meta", instagram: "meta", whatsapp: "meta"};
  // Config keys never shown back: the admin got them from the platform and has them.
  const SECRETS = new Set(["password", "bot_token", "secret_token", "channel_secret", "channel_access_token",
    "app_secret", "verify_token", "page_access_token", "access_token", "identity_secret"]);
  const DAYS = [["mon", "Monday"], ["tue", "Tuesday"], ["wed", "Wednesday"], ["thu", "Thursday"],
    ["fri", "Friday"], ["sat", "Saturday"], ["sun", "Sunday"]];
  const RESPONDERS = [["greeting", "Greeting"], ["away", "Away"], ["acknowledgement", "Acknowledgement"], ["redirect", "Redirect"]];

  function node(tag, className, text) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    if (text !== undefined && text !== null) el.textContent = String(text);
    return el;
  }
  function field(text, control) {
    const l = node("label", "", text + " ");
    // A select's name would otherwise end with its chosen option's text.
    if (control.tagName === "SELECT") control.setAttribute("aria-label", text);
    l.append(control);
    return l;
  }
  function input(value, type) { const i = node("input"); i.type = type || "text"; i.value = value == null ? "" : String(value); i.autocomplete = "off"; return i; }
  function button(text, onClick) { const b = node("button", "", text); b.type = "button"; b.addEventListener("click", onClick); return b; }
  function names(text) { return String(text).split(/[,\n]/).map((s) => s.trim()).filter((s) => s.length > 0); }
  function say(text) { $("notice").textContent = text || ""; $("error").textContent = ""; }
  function fail(text) { $("error").textContent = text || ""; $("notice").textContent = ""; }

  // -- the list -----------------------------------------------------------------------
  async function load() {
    let page;
    try { page = await api("/api/v1/inboxes"); } catch (e) { if (e.status !== 401) fail("The inboxes could not be listed: " + e.message); return; }
    // A form that was open stays open across the new list (a save reloads it).
    const open = new Set(Array.from(document.querySelectorAll("#inboxes details[open] > summary"), (s) => s.textContent));
    $("inboxes").replaceChildren(...(page.items.length ? page.items.map(card) : [node("li", "hint", "No inboxes yet.")]));
    for (const s of document.querySelectorAll("#inboxes details > summary")) if (open.has(s.textContent)) s.parentElement.open = true;
    document.body.dataset.loaded = "1";
  }
  function card(inbox) {
    const li = node("li", "inbox");
    li.dataset.inboxId = String(inbox.id);
    li.append(node("h3", "", inbox.name));
    if (inbox.warnings && inbox.warnings.length) li.append(warnings(inbox.warnings));
    const facts = node("dl");
    const fact = (term, value) => { facts.append(node("dt", "", term), node("dd", "", value)); };
    fact("Channel", inbox.channel);
    fact("Mode", inbox.mode === "redirect" ? "Redirect" : "Live");
    fact("Teams", inbox.teams.length ? inbox.teams.join(", ") : "Any online agent");
    const config = inbox.config || {};
    for (const key of Object.keys(config).sort()) {
      if (key === "identity_secret") continue;  // an admin's web inbox shows it on request, below
      if (key === "appearance") continue;  // its own form, below
      if (key === "imap" && config.imap) {
        fact("IMAP", config.imap.username + " at " + config.imap.host + ":" + config.imap.port + " (" + config.imap.folder + ")");
      } else if (SECRETS.has(key)) {
        fact(key.replace(/_/g, " "), "set (not shown)");
      } else if (config[key] !== null && config[key] !== undefined && !(Array.isArray(config[key]) && config[key].length === 0)) {
        fact(key.replace(/_/g, " "), Array.isArray(config[key]) ? config[key].join(", ") : String(config[key]));
      }
    }
    li.append(facts);
    if (inbox.channel === "web" && inbox.widget_key) li.append(webSetup(inbox));
    if (WEBHOOK[inbox.channel]) li.append(webhookSetup(inbox));
    if (isAdmin()) li.append(hoursForm(inbox), respondersForm(inbox), routingForm(inbox));
    if (isAdmin() && inbox.channel === "web") li.append(appearanceForm(inbox));
    return li;
  }
  // What the inbox cannot do as the server is set up (e.g. no outbound mail
  // relay): said on the card itself, where the admin looks at that inbox.
  function warnings(list) {
    const box = node("ul", "warnings");
    box.setAttribute("aria-label", "Warnings");
    for (const w of list) {
      const item = node("li", "warning");
      item.dataset.code = w.code;
      item.append(node("strong", "", "Warning: "), node("span", "", w.message));
      box.append(item);
    }
    return box;
  }
  function copyable(labelText, value, className) {
    const box = node("div", "copy " + className);
    const text = node("textarea");
    text.readOnly = true; text.rows = 2; text.value = value;
    const status = node("span", "copied");
    status.setAttribute("role", "status");
    const copy = button("Copy", async () => {
      try { await navigator.clipboard.writeText(value); } catch (e) { text.select(); document.execCommand("copy"); }
      status.textContent = "Copied.";
    });
    copy.setAttribute("aria-label", "Copy " + labelText.toLowerCase());
    box.append(field(labelText, text), copy, status);
    return box;
  }
  function webSetup(inbox) {
    const box = node("div", "setup");
    const snippet = '<script src="' + location.origin + '/widget.js" data-key="' + inbox.widget_key + '" async></script>';
    const key = node("p", "", "Widget key: ");
    key.append(node("code", "widget-key", inbox.widget_key));
    const links = node("p", "links");
    const chat = node("a", "", "Full-screen chat page");
    chat.href = "/chat/" + encodeURIComponent(inbox.widget_key);
    const demo = node("a", "", "Demo shop page");
    demo.href = "/demo";
    links.append(chat, demo);
    box.append(key, copyable("Embed snippet", snippet, "snippet"), links);
    if (isAdmin() && inbox.config && inbox.config.identity_secret) {
      // Shown to admins only, on request: the site signs its users' ids with it.
      const secret = node("details", "identity");
      secret.append(node("summary", "", "Identity secret"), node("code", "", inbox.config.identity_secret));
      box.append(secret);
    }
    return box;
  }
  function webhookSetup(inbox) {
    const box = node("div", "setup");
    const url = location.origin + "/webhooks/" + WEBHOOK[inbox.channel] + "/" + inbox.id;
    box.append(copyable("Webhook URL", url, "webhook"));
    const how = {
      telegram: "Give this URL and the inbox's secret token to the Bot API's setWebhook.",
      line: "Set this URL as the Messaging API channel's webhook URL.",
    }[inbox.channel] || "Set this URL as the Meta app's callback URL, with the inbox's verify token.";
    box.append(node("p", "hint", how));
    return box;
  }

  // -- settings: business hours, responders, routing ---------------------------------
  function settings(title, inbox, build) {
    const box = node("details", "settings");
    box.append(node("summary", "", title + " of " + inbox.name));
    const form = node("form");
    const error = node("p", "form-error");
    error.setAttribute("role", "alert");
    const submit = build(form, error);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      error.textContent = "";
      let body;
      try { body = submit.body(); } catch (err) { error.textContent = err.message; return; }
      try { await api("/api/v1/inboxes/" + inbox.id + submit.path, {method: "PUT", body: body}); } catch (err) {
        if (err.status !== 401) error.textContent = title + " not saved: " + err.message;
        return;
      }
      // The notice comes once the list shows what was saved.
      await load();
      say(title + " of " + inbox.name + " saved.");
    });
    form.append(error);
    box.append(form);
    return box;
  }
  function hoursForm(inbox) {
    return settings("Business hours", inbox, (form) => {
      const hours = inbox.business_hours || {};
      let zone = "UTC";
      try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (e) { /* old browser */ }
      const tz = input(hours.timezone || zone);
      const holidays = input(hours.holiday_calendar || "");
      holidays.placeholder = "optional, a country code: JP";
      const closed = input((hours.closed_dates || []).join(", "));
      closed.placeholder = "YYYY-MM-DD, comma separated";
      const week = {};
      if (!inbox.business_hours) form.append(node("p", "hint", "Now open around the clock."));
      form.append(field("Time zone", tz));
      for (const [day, name] of DAYS) {
        const slots = (hours.weekly || {})[day] || [];
        week[day] = input(slots.map((s) => s[0] + "-" + s[1]).join(", "));
        week[day].placeholder = "closed";
        form.append(field(name, week[day]));
      }
      form.append(field("Holiday calendar", holidays), field("Closed dates", closed),
        node("p", "hint", "Hours are HH:MM-HH:MM in the time zone, comma separated for breaks; an empty day is closed."),
        node("button", "", "Save business hours"),
        button("Open around the clock", async () => {
          try { await api("/api/v1/inboxes/" + inbox.id + "/business-hours", {method: "PUT", body: null}); } catch (err) {
            if (err.status !== 401) fail("Business hours not saved: " + err.message);
            return;
          }
          await load();
          say(inbox.name + " is open around the clock.");
        }));
      return {path: "/business-hours", body: () => {
        const weekly = {};
        for (const [day, name] of DAYS) {
          const slots = names(week[day].value).map((slot) => {
            const m = /^(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})$/.exec(slot);
            if (!m) throw new Error(name + ": write hours as 09:00-18:00, not " + slot);
            return [m[1].padStart(5, "0"), m[2].padStart(5, "0")];
          });
          if (slots.length) weekly[day] = slots;
        }
        return {timezone: tz.value.trim(), weekly: weekly, closed_dates: names(closed.value),
          holiday_calendar: holidays.value.trim() || null};
      }};
    });
  }
  function respondersForm(inbox) {
    return settings("Responders", inbox, (form) => {
      const current = inbox.responders || {};
      const boxes = {};
      for (const [key, name] of RESPONDERS) {
        const text = node("textarea");
        text.rows = 2; text.maxLength = 4000;
        text.value = current[key] || "";
        text.placeholder = "empty: the default text";
        const off = node("input");
        off.type = "checkbox";
        off.checked = key in current && !current[key];
        const offLabel = node("label", "check");
        offLabel.append(off, " " + name + " off");
        boxes[key] = {text: text, off: off};
        form.append(field(name + " text", text), offLabel);
      }
      const language = input(current.language || "");
      language.placeholder = "optional, e.g. ja";
      form.append(field("Language", language),
        node("p", "hint", "Placeholders: {customer_name} {next_open} {expected_reply} {channels} {agent_name}."),
        node("button", "", "Save responders"));
      return {path: "/responders", body: () => {
        const body = {};
        for (const [key] of RESPONDERS) {
          if (boxes[key].off.checked) body[key] = false;
          else if (boxes[key].text.value.trim()) body[key] = boxes[key].text.value;
        }
        if (language.value.trim()) body.language = language.value.trim();
        return body;
      }};
    });
  }
  function routingForm(inbox) {
    return settings("Routing", inbox, (form) => {
      const current = inbox.routing || {};
      const policy = node("select");
      for (const [value, name] of [["least_loaded", "Least loaded"], ["round_robin", "Round robin"], ["skills", "Skills (language)"]]) {
        policy.append(new Option(name, value));
      }
      policy.value = current.policy || "least_loaded";
      const numbers = {};
      form.append(field("Policy", policy));
      for (const [key, name] of [["skill_wait_seconds", "Skill wait (seconds)"], ["sticky_seconds", "Sticky window (seconds)"],
        ["answer_timeout_seconds", "Answer timeout (seconds)"]]) {
        numbers[key] = input(current[key], "number");
        numbers[key].min = "0";
        form.append(field(name, numbers[key]));
      }
      form.append(node("button", "", "Save routing"));
      return {path: "/routing", body: () => {
        const body = {policy: policy.value};
        for (const key of Object.keys(numbers)) if (numbers[key].value !== "") body[key] = Number(numbers[key].value);
        return body;
      }};
    });
  }

  // The widget's look, set without code (config.appearance): the widget reads
  // it from its session. A field left at its default is sent as null.
  const DEFAULT_COLOUR = "#1f3a5f";  // the widget's own (widget.js)
  function appearanceForm(inbox) {
    return settings("Widget appearance", inbox, (form) => {
      const current = (inbox.config && inbox.config.appearance) || {};
      form.noValidate = true;  // an out-of-range offset is said in words, below
      const ownColour = node("input");
      ownColour.type = "checkbox";
      ownColour.checked = !!current.color;
      const ownColourLabel = node("label", "check");
      ownColourLabel.append(ownColour, " Own colour (else the default)");
      const colour = input(current.color || DEFAULT_COLOUR, "color");
      colour.addEventListener("input", () => { ownColour.checked = true; });
      const position = node("select");
      for (const [value, name] of [["", "Default (bottom right)"], ["right", "Bottom right"], ["left", "Bottom left"]]) {
        position.append(new Option(name, value));
      }
      position.value = current.position || "";
      const offset = input(current.offset, "number");
      offset.min = "0"; offset.max = "200"; offset.step = "1";
      offset.placeholder = "default";
      const launcher = input(current.launcher_text || "");
      launcher.maxLength = 40;
      launcher.placeholder = "optional, e.g. Chat with us";
      const greeting = node("textarea");
      greeting.rows = 2; greeting.maxLength = 300;
      greeting.value = current.greeting || "";
      greeting.placeholder = "optional, the first line the panel shows";
      const hide = node("input");
      hide.type = "checkbox";
      hide.checked = current.hide_on_mobile === true;
      const hideLabel = node("label", "check");
      hideLabel.append(hide, " Hide on mobile");
      form.append(field("Colour", colour), ownColourLabel, field("Position", position),
        field("Offset from the edge (px, 0-200)", offset), field("Launcher text", launcher),
        field("Greeting", greeting), hideLabel,
        node("p", "hint", "Shown to every visitor of the pages that embed the widget; a page's data- attributes override it."),
        node("button", "", "Save widget appearance"));
      return {path: "/appearance", body: () => {
        let px = null;
        if (offset.value.trim() !== "") {
          px = Number(offset.value);
          if (!Number.isInteger(px) || px < 0 || px > 200) throw new Error("Offset: a whole number of pixels from 0 to 200");
        }
        return {
          color: ownColour.checked ? colour.value : null,
          position: position.value || null,
          offset: px,
          launcher_text: launcher.value.trim() || null,
          greeting: greeting.value.trim() || null,
          hide_on_mobile: hide.checked ? true : null,
        };
      }};
    });
  }

  // -- a new inbox ----------------------------------------------------------------------
  function channel() { return $("new-channel").value; }
  function showChannel() {
    for (const set of document.querySelectorAll("#create fieldset")) {
      const shown = set.dataset.channel.split(" ").includes(channel());
      set.hidden = !shown;
      set.disabled = !shown;
    }
    $("imap-fields").hidden = !$("email-imap").checked;
    $("create-error").textContent = "";
  }
  $("new-channel").addEventListener("change", showChannel);
  $("email-imap").addEventListener("change", showChannel);

  function config() {
    const kind = channel();
    if (kind === "web") {
      const web = {allowed_origins: names($("web-origins").value)};
      if ($("web-secret").value) web.identity_secret = $("web-secret").value;
      if ($("web-namespace").value.trim()) web.identity_namespace = $("web-namespace").value.trim();
      return web;
    }
    if (kind === "email") {
      const mail = $("email-address").value.trim() ? {address: $("email-address").value.trim()} : {};
      if ($("email-imap").checked) {
        mail.imap = {host: $("imap-host").value.trim(), username: $("imap-username").value,
          password: $("imap-password").value, tls: $("imap-tls").checked,
          folder: $("imap-folder").value.trim() || "INBOX"};
        if ($("imap-port").value) mail.imap.port = Number($("imap-port").value);
      }
      return mail;
    }
    if (kind === "other") {
      try { return JSON.parse($("other-config").value.trim() || "{}"); } catch (e) { throw new Error("Config (JSON): not valid JSON"); }
    }
    const out = {};
    // A field left empty is left out: the server names a required one missing.
    for (const el of document.querySelectorAll("#create fieldset:not([disabled]) [data-key]")) {
      if (el.value.trim()) out[el.dataset.key] = el.value.trim();
    }
    return out;
  }
  // The server names a field by its path (config.imap.host); the form by its label.
  function readable(detail) {
    return detail.replace(/\bbody\.name\b/g, "Inbox name").replace(/\bbody\.teams\b/g, "Teams").replace(/\bconfig\.([a-z_]+(?:\.[a-z_]+)?)/g, (whole, path) => {
      const el = document.querySelector("#create fieldset:not([disabled]) [data-key='" + path + "']")
        || $({address: "email-address", "imap.host": "imap-host", "imap.username": "imap-username",
          "imap.password": "imap-password", "imap.port": "imap-port", "imap.folder": "imap-folder",
          allowed_origins: "web-origins", identity_secret: "web-secret", identity_namespace: "web-namespace"}[path] || "");
      const label = el && el.closest("label");
      return label ? label.firstChild.textContent.trim() : whole;
    });
  }
  $("create").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("create-error").textContent = "";
    let body;
    try {
      body = {name: $("new-name").value.trim(), mode: $("new-mode").value, teams: names($("new-teams").value),
        channel: channel() === "other" ? $("other-kind").value.trim() : channel(), config: config()};
    } catch (err) { $("create-error").textContent = err.message; return; }
    let made;
    try { made = await api("/api/v1/inboxes", {method: "POST", body: body}); } catch (err) {
      if (err.status !== 401) $("create-error").textContent = "The inbox was not created: " + readable(err.message);
      return;
    }
    $("create").reset();
    showChannel();
    await load();
    say(made.name + " created (" + made.channel + ").");
    const shown = document.querySelector("#inboxes li[data-inbox-id='" + made.id + "'] h3");
    if (shown) shown.scrollIntoView({block: "nearest"});
  });

  showChannel();
  session.start();
})();
