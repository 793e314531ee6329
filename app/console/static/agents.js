/* The admins' page for agents and teams: list, create, change role, teams,
 * skills and capacity, deactivate and reactivate, reset a password. Plain JS
 * under the console's Content-Security-Policy; every name, email or team is
 * set with textContent or as an input's value, never as HTML. The sign-in is
 * the console's (session.js).
 */
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const session = window.MadoguchiSession({
    signedIn: (auth) => {
      if (auth.agent.role !== "admin") {
        fail("Only admins change agents; your role is " + auth.agent.role + ".");
        $("create").hidden = true;
      }
      load();
    },
    signedOut: () => { $("agent-rows").replaceChildren(); $("teams").replaceChildren(); },
  });
  const api = session.api;

  function node(tag, className, text) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    if (text !== undefined && text !== null) el.textContent = String(text);
    return el;
  }
  function labelled(el, label) { el.setAttribute("aria-label", label); return el; }
  function names(text) {
    return String(text).split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  }
  function say(text) { $("notice").textContent = text || ""; $("error").textContent = ""; }
  function fail(text) { $("error").textContent = text || ""; $("notice").textContent = ""; }

  // -- the list -----------------------------------------------------------------------
  async function load() {
    let page;
    try { page = await api("/api/v1/agents"); } catch (e) { if (e.status !== 401) fail("The agents could not be listed: " + e.message); return; }
    $("agent-rows").replaceChildren(...page.items.map(row));
    showTeams(page.items);
    document.body.dataset.loaded = "1";
  }
  function showTeams(agents) {
    const members = new Map();
    for (const a of agents) {
      for (const team of a.teams) {
        if (!members.has(team)) members.set(team, []);
        members.get(team).push(a.name + (a.active ? "" : " (deactivated)"));
      }
    }
    const items = Array.from(members.keys()).sort().map((team) => {
      const li = node("li");
      li.append(node("strong", "", team), node("span", "members", ": " + members.get(team).join(", ")));
      return li;
    });
    $("teams").replaceChildren(...(items.length ? items : [node("li", "hint", "No teams yet.")]));
  }
  function row(a) {
    const tr = node("tr", a.active ? "" : "inactive");
    tr.dataset.agentId = String(a.id);
    const who = a.name;
    const name = labelled(node("input"), "Name of " + who);
    name.value = a.name;
    const role = labelled(node("select"), "Role of " + who);
    for (const value of ["agent", "supervisor", "admin"]) role.append(new Option(value[0].toUpperCase() + value.slice(1), value));
    role.value = a.role;
    const teams = labelled(node("input"), "Teams of " + who);
    teams.value = a.teams.join(", ");
    const skills = labelled(node("input"), "Skills of " + who);
    skills.value = a.skills.join(", ");
    const capacity = labelled(node("input"), "Capacity of " + who);
    capacity.type = "number"; capacity.min = "0"; capacity.max = "1000";
    capacity.value = String(a.capacity);

    const save = labelled(node("button", "", "Save"), "Save " + who);
    save.type = "button";
    save.addEventListener("click", () => change(a, {name: name.value.trim(), role: role.value,
      teams: names(teams.value), skills: names(skills.value), capacity: Number(capacity.value)},
      name.value.trim() + " saved."));
    const toggle = labelled(node("button", "", a.active ? "Deactivate" : "Reactivate"), (a.active ? "Deactivate " : "Reactivate ") + who);
    toggle.type = "button";
    toggle.addEventListener("click", () => change(a, {active: !a.active},
      who + (a.active ? " deactivated: signed out everywhere." : " reactivated: they may sign in again.")));

    const cells = [name, node("span", "", a.email), role, teams, skills, capacity,
      node("span", "status", a.status), node("span", "account", a.active ? "Active" : "Deactivated")];
    for (const content of cells) { const td = node("td"); td.append(content); tr.append(td); }
    const actions = node("td", "actions");
    actions.append(save, toggle, passwordReset(a));
    tr.append(actions);
    return tr;
  }
  function passwordReset(a) {
    const box = node("details", "reset");
    const summary = node("summary", "", "Reset password");
    const form = node("form");
    const input = labelled(node("input"), "New password for " + a.name);
    input.type = "password"; input.autocomplete = "new-password"; input.minLength = 8; input.maxLength = 1024; input.required = true;
    const button = node("button", "", "Set password");
    form.append(input, button);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        await api("/api/v1/agents/" + a.id + "/password", {method: "POST", body: {password: input.value}});
      } catch (err) { if (err.status !== 401) fail("The password was not changed: " + err.message); return; }
      input.value = "";
      box.open = false;
      say("Password of " + a.name + " reset: every session of theirs has ended.");
    });
    box.append(summary, form);
    return box;
  }
  async function change(a, body, done) {
    try {
      await api("/api/v1/agents/" + a.id, {method: "PATCH", body: body});
    } catch (e) {
      if (e.status === 401) return;
      fail(e.status === 409 ? "Not changed: " + e.message + " (make another admin first)." : "Not changed: " + e.message);
      return;
    }
    say(done);
    load();
  }

  // -- a new agent ---------------------------------------------------------------------
  $("create").addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = {email: $("new-email").value.trim(), name: $("new-name").value.trim(), password: $("new-password").value,
      role: $("new-role").value, capacity: Number($("new-capacity").value),
      teams: names($("new-teams").value), skills: names($("new-skills").value)};
    try { await api("/api/v1/agents", {method: "POST", body: body}); } catch (err) {
      if (err.status !== 401) fail("The agent was not created: " + err.message);
      return;
    }
    $("new-password").value = "";
    $("create").reset();
    say(body.name + " created.");
    load();
  });

  session.start();
})();
