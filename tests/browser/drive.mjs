// Drives examples/spa in headless Chromium (the system's /usr/bin/chromium, never a download)
// for tests/browser/test_spa.py, and prints one JSON line of what it saw on stdout.
//
//   node drive.mjs CONFIG.json
//
// CONFIG: {"mode": "selftest" | "flow", "spa_url", "artifacts", "timeout_ms",
//          "executable"?, "username"?, "password"?}
//
// selftest: the SPA's DPoP module in the page, without an AS: secure context, the key in
//   IndexedDB (non-extractable, the same after a reload), one proof for Python to verify, the
//   WWW-Authenticate parser.
// flow: log in through the AS's login and consent pages, call the API, refresh, reload, call
//   again, save a screenshot; the tokens are read from sessionStorage and printed for the test
//   to replay. Only stdout carries them (the test parses it and never shows it); diagnostics
//   on stderr are redacted.

import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const PLAYWRIGHT_VERSION = require("playwright-core/package.json").version;
const LAUNCH_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
];

// Authorization codes, tokens and proofs must not reach a log (DESIGN.md, "No secrets in text").
function redact(text) {
  return String(text)
    .replace(/eyJ[\w-]*\.[\w-]*\.[\w-]*/g, "<jws>")
    .replace(/([?&](?:code|state|request_uri)=)[^&\s"']+/g, "$1<redacted>");
}

const diagnostics = [];
function note(line) {
  diagnostics.push(redact(line).slice(0, 500));
}

async function settle(page, what) {
  await page.waitForFunction(() => ["ready", "failed"].includes(document.body?.dataset.state));
  const state = await page.evaluate(() => document.body.dataset.state);
  if (state === "failed") {
    throw new Error(`${what}: the SPA shows an error: ${await page.textContent("#error")}`);
  }
}

async function tokens(page) {
  return page.evaluate(() => ({
    access_token: sessionStorage.getItem("pb.access_token"),
    refresh_token: sessionStorage.getItem("pb.refresh_token"),
  }));
}

// What IndexedDB holds: the CryptoKeyPair object, private half non-extractable.
async function storedKey(page) {
  return page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const opening = indexedDB.open("proofbound-spa");
        opening.onerror = () => reject(opening.error);
        opening.onsuccess = () => {
          const db = opening.result;
          const get = db.transaction("keys").objectStore("keys").get("dpop");
          get.onerror = () => reject(get.error);
          get.onsuccess = () => {
            const pair = get.result;
            db.close();
            resolve({
              private_is_crypto_key: pair?.privateKey instanceof CryptoKey,
              private_extractable: pair?.privateKey?.extractable ?? null,
              private_usages: pair?.privateKey?.usages ?? null,
              algorithm: pair?.privateKey?.algorithm ?? null,
            });
          };
        };
      }),
  );
}

async function callApi(page, what) {
  await page.click("#call");
  await settle(page, what);
  return JSON.parse(await page.textContent("#result"));
}

async function flow(page, config) {
  const spaOrigin = new URL(config.spa_url).origin;
  await page.goto(config.spa_url);
  await settle(page, "start");
  const jkt = await page.textContent("#jkt");
  const before = await tokens(page);

  await page.click("#login");
  // The AS's own pages (top-level navigations): login, then consent. Unless PAR failed.
  await page.locator("#username").or(page.locator('body[data-state="failed"]')).waitFor();
  if (new URL(page.url()).origin === spaOrigin) await settle(page, "pushed authorization request");
  const loginOrigin = new URL(page.url()).origin;
  await page.fill("#username", config.username);
  await page.fill("#password", config.password);
  await Promise.all([page.waitForSelector("#approve"), page.click("#login")]);
  await page.click("#approve");
  await page.waitForURL((url) => url.origin === spaOrigin);
  await settle(page, "code exchange");
  const loggedIn = await tokens(page);
  const returned = new URL(page.url());
  const statusAfterLogin = await page.textContent("#status");

  const firstResult = await callApi(page, "first API call");

  await page.click("#refresh");
  await settle(page, "refresh");
  const refreshed = await tokens(page);

  // A reload keeps sessionStorage and must find the same key in IndexedDB.
  await page.reload();
  await settle(page, "reload");
  const jktAfterReload = await page.textContent("#jkt");

  const result = await callApi(page, "API call after refresh and reload");
  const screenshot = join(config.artifacts, "spa.png");
  await page.screenshot({ path: screenshot, fullPage: true });

  return {
    mode: "flow",
    jkt,
    jkt_after_reload: jktAfterReload,
    key: await storedKey(page),
    tokens_before_login: before.access_token !== null || before.refresh_token !== null,
    login_origin: loginOrigin,
    returned_url_query: returned.search,
    status_after_login: statusAfterLogin,
    first_result: firstResult,
    access_token_rotated: refreshed.access_token !== loggedIn.access_token,
    refresh_token_rotated: refreshed.refresh_token !== loggedIn.refresh_token,
    result,
    status: await page.textContent("#status"),
    error: await page.textContent("#error"),
    screenshot,
    access_token: refreshed.access_token,
    refresh_token: refreshed.refresh_token,
  };
}

async function selftest(page, config) {
  await page.goto(config.spa_url);
  const probe = (accessToken) =>
    page.evaluate(async (token) => {
      const { DPoP, dpopChallengeError } = await import(new URL("./dpop.js", location.href).href);
      const dpop = await DPoP.load();
      const url = new URL("/resource?query=1#fragment", location.href).href;
      dpop.nonces.set(location.origin, "nonce-1");
      return {
        secure_context: window.isSecureContext,
        origin: location.origin,
        jkt: dpop.jkt,
        jwk: dpop.jwk,
        url,
        proof: await dpop.proof("GET", url, token),
        challenges: [
          'DPoP error="use_dpop_nonce", error_description="Resource server requires nonce"',
          'Bearer realm="x", DPoP algs="ES256", error="use_dpop_nonce"',
          'DPoP algs="ES256 EdDSA", error=invalid_token',
          'Bearer error="invalid_token"',
          "DPoP",
          "",
        ].map((header) => dpopChallengeError(header)),
      };
    }, accessToken);
  const first = await probe(config.access_token);
  await page.reload();
  const again = await probe(config.access_token);
  return {
    mode: "selftest",
    ...first,
    jkt_after_reload: again.jkt,
    key: await storedKey(page),
  };
}

async function main() {
  const config = JSON.parse(await readFile(process.argv[2], "utf8"));
  const browser = await chromium.launch({
    executablePath: config.executable ?? "/usr/bin/chromium",
    headless: true,
    args: LAUNCH_ARGS,
    timeout: config.timeout_ms,
  });
  try {
    const context = await browser.newContext({ viewport: { width: 900, height: 700 } });
    context.setDefaultTimeout(config.timeout_ms);
    const page = await context.newPage();
    page.on("console", (message) => {
      if (message.type() === "error" || message.type() === "warning") {
        note(`console ${message.type()}: ${message.text()}`);
      }
    });
    page.on("pageerror", (error) => note(`page error: ${error.message}`));
    page.on("requestfailed", (request) => note(`failed: ${request.method()} ${request.url()}`));
    try {
      const run = config.mode === "flow" ? flow : selftest;
      const report = await run(page, config);
      report.versions = { "playwright-core": PLAYWRIGHT_VERSION, chromium: browser.version() };
      process.stdout.write(`${JSON.stringify(report)}\n`);
    } catch (error) {
      note(`at ${page.url()}`);
      if (config.artifacts) {
        const path = join(config.artifacts, "failure.png");
        await page.screenshot({ path, fullPage: true }).catch(() => {});
      }
      throw error;
    }
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  process.stderr.write(`${redact(error?.stack ?? error)}\n${diagnostics.join("\n")}\n`);
  process.exit(1);
});
