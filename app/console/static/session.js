/* The sign-in of the console's admin pages (agents, inboxes): the console's
 * token, kept for this tab (sessionStorage), so an admin signed in on one
 * page is signed in on the others; the login form; and api(), which signs
 * out on a 401 and turns an error body into its `detail`.
 *   const session = MadoguchiSession({signedIn, signedOut, refused});
 * signedIn(auth) and signedOut() update the page; refused(status, detail)
 * may reword an error.
 */
"use strict";
window.MadoguchiSession = function (page) {
  const STORE = "madoguchi.console";
  const $ = (id) => document.getElementById(id);
  const session = {auth: null};  // auth: {token, agent}
  try { session.auth = JSON.parse(sessionStorage.getItem(STORE)) || null; } catch (e) { session.auth = null; }

  class ApiError extends Error {
    constructor(status, detail) { super(detail); this.status = status; }
  }
  session.api = async function (path, options) {
    const opts = options || {};
    const headers = {authorization: "Bearer " + (session.auth && session.auth.token)};
    if (opts.body !== undefined) headers["content-type"] = "application/json";
    const r = await fetch(path, {method: opts.method || "GET", headers: headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body)});
    if (r.status === 401) { signedOut("Your session has ended; sign in again."); throw new ApiError(401, "signed out"); }
    if (!r.ok) {
      let detail = String(r.status);
      try { const j = await r.json(); detail = typeof j.detail === "string" ? j.detail : (j.error || detail); } catch (e) { /* not JSON */ }
      throw new ApiError(r.status, page.refused ? page.refused(r.status, detail) : detail);
    }
    return r.status === 204 ? null : r.json();
  };

  $("login").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("login-error").textContent = "";
    let r;
    try {
      r = await fetch("/api/v1/auth/token", {method: "POST", headers: {"content-type": "application/json"},
        body: JSON.stringify({email: $("email").value, password: $("password").value})});
    } catch (err) { $("login-error").textContent = "The server cannot be reached."; return; }
    $("password").value = "";
    if (!r.ok) {
      $("login-error").textContent = r.status === 429 ? "Too many attempts; wait a minute." : r.status === 503 ? "The server is busy; try again in a moment." : "Sign-in failed: wrong email or password.";
      return;
    }
    const answer = await r.json();
    session.auth = {token: answer.access_token, agent: answer.agent};
    try { sessionStorage.setItem(STORE, JSON.stringify(session.auth)); } catch (err) { /* private mode */ }
    signedIn();
    $("main-title").focus();
  });
  function signedIn() {
    $("login").hidden = true;
    $("app").hidden = false;
    page.signedIn(session.auth);
  }
  function signedOut(message) {
    session.auth = null;
    try { sessionStorage.removeItem(STORE); } catch (e) { /* private mode */ }
    page.signedOut();
    $("app").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
  }
  // Once the page has set itself up: signed in already, or the form.
  session.start = function () { if (session.auth && session.auth.token) signedIn(); else signedOut(""); };
  return session;
};
