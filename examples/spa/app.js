// The single-page app: log in with authorization code + PKCE + PAR + dpop_jkt, call the API
// with a DPoP-bound access token, refresh with the DPoP-bound refresh token.

import { DPoP, dpopChallengeError } from "./dpop.js";
import { newPkce, newState } from "./pkce.js";

// sessionStorage: per tab, gone when the tab closes. The tokens are bound to the key, so a copy
// of them is useless without it; the key never leaves the browser (dpop.js).
const ACCESS_TOKEN = "pb.access_token";
const REFRESH_TOKEN = "pb.refresh_token";
const PENDING = "pb.pending_login"; // {state, verifier} between PAR and the redirect back

const $ = (id) => document.getElementById(id);

class AppError extends Error {}

function setStatus(text) {
  $("status").textContent = text;
}

async function getJson(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  if (!response.ok) throw new AppError(`GET ${url}: HTTP ${response.status}`);
  return response.json();
}

// An OAuth error response (RFC 6749 §5.2) as one readable line; its values come from the server
// and never include a token.
async function oauthError(what, response) {
  let body = {};
  try {
    body = (await response.json()) ?? {};
  } catch {
    // not JSON: the status alone
  }
  const detail = [body.error, body.error_description].filter(Boolean).join(": ");
  return new AppError(`${what}: HTTP ${response.status}${detail ? ` ${detail}` : ""}`);
}

// RFC 8414 §3.1: the well-known segment goes between the host and the issuer's path.
async function discover(issuer) {
  const url = new URL(issuer);
  const path = url.pathname.replace(/\/$/, "");
  const metadata = await getJson(`${url.origin}/.well-known/oauth-authorization-server${path}`);
  // RFC 8414 §3.3: the document must name exactly the issuer we asked about.
  if (metadata.issuer !== issuer) throw new AppError("the metadata names another issuer");
  for (const endpoint of [
    "pushed_authorization_request_endpoint",
    "authorization_endpoint",
    "token_endpoint",
  ]) {
    if (typeof metadata[endpoint] !== "string") throw new AppError(`the AS has no ${endpoint}`);
  }
  return metadata;
}

class App {
  constructor(config, metadata, dpop) {
    this.config = config;
    this.metadata = metadata;
    this.dpop = dpop;
  }

  // PAR (RFC 9126) with a DPoP proof (RFC 9449 §10.1): the request, with the PKCE challenge
  // and dpop_jkt, goes to the AS directly, and only its handle goes through the address bar.
  async login() {
    const { config, metadata, dpop } = this;
    const pkce = await newPkce();
    const state = newState();
    const form = new URLSearchParams({
      client_id: config.client_id,
      response_type: "code",
      redirect_uri: config.redirect_uri,
      scope: config.scope,
      state,
      code_challenge: pkce.challenge,
      code_challenge_method: pkce.method,
      dpop_jkt: dpop.jkt, // RFC 9449 §10: the code can only be redeemed with this key
    });
    for (const resource of [config.resource ?? []].flat()) form.append("resource", resource);
    const response = await dpop.fetch(metadata.pushed_authorization_request_endpoint, {
      method: "POST",
      body: form,
    });
    if (response.status !== 201) throw await oauthError("pushed authorization request", response);
    const { request_uri: requestUri } = await response.json();
    sessionStorage.setItem(PENDING, JSON.stringify({ state, verifier: pkce.verifier }));
    setStatus("Redirecting to the authorization server…");
    const query = new URLSearchParams({ client_id: config.client_id, request_uri: requestUri });
    window.location.assign(`${metadata.authorization_endpoint}?${query}`);
  }

  // The authorization response (RFC 6749 §4.1.2) back on the redirect URI.
  async finishLogin(params) {
    // The code is single-use: take it out of the address bar and history first, so neither a
    // reload nor a later visitor of this history entry sends it again.
    window.history.replaceState(null, "", window.location.pathname);
    const pending = JSON.parse(sessionStorage.getItem(PENDING) ?? "null");
    sessionStorage.removeItem(PENDING);
    if (pending === null || params.get("state") !== pending.state) {
      throw new AppError("the authorization response does not answer a login started here (state)");
    }
    // RFC 9207: the response must name the issuer we sent the user to, exactly (mix-up attacks).
    if (params.get("iss") !== this.metadata.issuer) {
      throw new AppError("the authorization response comes from another issuer (iss)");
    }
    if (params.has("error")) throw new AppError(`login refused: ${params.get("error")}`);
    const code = params.get("code");
    if (!code) throw new AppError("the authorization response has no code");
    await this.tokenRequest("code exchange", {
      grant_type: "authorization_code",
      code,
      redirect_uri: this.config.redirect_uri,
      client_id: this.config.client_id,
      code_verifier: pending.verifier,
    });
    setStatus("Logged in: DPoP-bound tokens stored.");
  }

  async refresh() {
    const refreshToken = sessionStorage.getItem(REFRESH_TOKEN);
    if (refreshToken === null) throw new AppError("no refresh token: log in first");
    await this.tokenRequest("refresh", {
      grant_type: "refresh_token",
      refresh_token: refreshToken,
      client_id: this.config.client_id,
    });
    setStatus("Tokens refreshed.");
  }

  async tokenRequest(what, fields) {
    const response = await this.dpop.fetch(this.metadata.token_endpoint, {
      method: "POST",
      body: new URLSearchParams(fields),
    });
    if (response.status !== 200) throw await oauthError(what, response);
    const tokens = await response.json();
    // Fail closed: a bearer token here would be exactly the stealable kind (RFC 9449 §5).
    if (String(tokens.token_type).toLowerCase() !== "dpop") {
      throw new AppError(`${what}: the AS issued a ${tokens.token_type} token, not a DPoP one`);
    }
    sessionStorage.setItem(ACCESS_TOKEN, tokens.access_token);
    // Rotation: the old refresh token is spent; a response without one keeps it (RFC 6749 §6).
    if (typeof tokens.refresh_token === "string") {
      sessionStorage.setItem(REFRESH_TOKEN, tokens.refresh_token);
    }
  }

  async callApi() {
    const token = sessionStorage.getItem(ACCESS_TOKEN);
    if (token === null) throw new AppError("no access token: log in first");
    $("result").textContent = "";
    const response = await this.dpop.fetch(`${this.config.api}/whoami`, {}, token);
    if (response.status !== 200) {
      const error = dpopChallengeError(response.headers.get("WWW-Authenticate"));
      const hint = error === "invalid_token" ? " (expired? try Refresh)" : "";
      throw new AppError(`API: HTTP ${response.status}${error ? ` ${error}` : ""}${hint}`);
    }
    $("result").textContent = JSON.stringify(await response.json(), null, 2);
    setStatus("API call succeeded.");
  }
}

let app = null; // set once the configuration, the AS metadata and the key are loaded

function render() {
  const idle = app !== null && document.body.dataset.state !== "busy";
  $("login").disabled = !idle;
  $("call").disabled = !idle || sessionStorage.getItem(ACCESS_TOKEN) === null;
  $("refresh").disabled = !idle || sessionStorage.getItem(REFRESH_TOKEN) === null;
}

function describe(error) {
  if (error instanceof AppError) return error.message;
  // fetch() rejects with a TypeError, without detail, for network and CORS failures alike.
  if (error instanceof TypeError) {
    return `network error: ${error.message} (a server is down, or CORS refused the request)`;
  }
  return `unexpected: ${error}`;
}

// One action at a time; its failure is shown, never thrown away. document.body.dataset.state is
// "busy" while it runs and "ready" (or "failed") afterwards: what the browser test waits for.
async function run(action) {
  document.body.dataset.state = "busy";
  $("error").textContent = "";
  render();
  try {
    await action();
    document.body.dataset.state = "ready";
  } catch (error) {
    $("error").textContent = describe(error);
    document.body.dataset.state = "failed";
  }
  render();
}

async function start() {
  const config = await getJson("./config.json");
  const [metadata, dpop] = await Promise.all([discover(config.issuer), DPoP.load()]);
  $("jkt").textContent = dpop.jkt;
  app = new App(config, metadata, dpop);
  const params = new URLSearchParams(window.location.search);
  if (params.has("code") || params.has("error")) {
    await app.finishLogin(params);
  } else {
    setStatus(sessionStorage.getItem(ACCESS_TOKEN) === null ? "Not logged in." : "Logged in.");
  }
}

$("login").addEventListener("click", () => run(() => app.login()));
$("call").addEventListener("click", () => run(() => app.callApi()));
$("refresh").addEventListener("click", () => run(() => app.refresh()));
run(start);
