// DPoP (RFC 9449) in the browser: one non-extractable P-256 key, kept in IndexedDB, a fresh
// proof per request, and the one-retry answer to a server that asks for its nonce (§8, §9).

import { b64url, b64urlText, randomB64url, sha256b64url } from "./b64.js";

const DB_NAME = "proofbound-spa";
const STORE = "keys";
const KEY_ID = "dpop";
const ECDSA_P256 = { name: "ECDSA", namedCurve: "P-256" };
const ES256 = { name: "ECDSA", hash: "SHA-256" };
const encoder = new TextEncoder();

function request(idbRequest) {
  return new Promise((resolve, reject) => {
    idbRequest.onsuccess = () => resolve(idbRequest.result);
    idbRequest.onerror = () => reject(idbRequest.error);
  });
}

function openDb() {
  const opening = indexedDB.open(DB_NAME, 1);
  opening.onupgradeneeded = () => opening.result.createObjectStore(STORE);
  return request(opening);
}

// IndexedDB stores the CryptoKeyPair itself (structured clone), so the private key is usable
// after a reload while its bytes stay inside the browser: script on this page can sign with it
// while the page is open, but cannot copy it out. Tokens taken from sessionStorage are then
// worthless elsewhere, which is the point of binding them (RFC 9449 §1).
async function loadOrCreateKeyPair() {
  const db = await openDb();
  try {
    const store = () => db.transaction(STORE, "readwrite").objectStore(STORE);
    const found = await request(store().get(KEY_ID));
    if (found?.privateKey instanceof CryptoKey && found.privateKey.extractable === false) {
      return found;
    }
    const created = await crypto.subtle.generateKey(ECDSA_P256, false, ["sign", "verify"]);
    try {
      // add, not put: when two tabs race, the first key stored wins and both use it.
      await request(store().add(created, KEY_ID));
      return created;
    } catch (error) {
      if (error?.name !== "ConstraintError") throw error;
      return await request(store().get(KEY_ID));
    }
  } finally {
    db.close();
  }
}

// One RFC 9110 §11.2 auth-param, `token = ( token / quoted-string )`, and the comma after it.
const AUTH_PARAM = /\s*([\w!#$%&'*+.^`|~-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*(?:,|$)/y;

/** The `error` parameter of the DPoP challenge in a WWW-Authenticate header, or null. */
export function dpopChallengeError(header) {
  const scheme = /(?:^|,)\s*DPoP(?:\s+|$)/i.exec(header ?? "");
  if (scheme === null) return null;
  const param = new RegExp(AUTH_PARAM); // its own lastIndex
  param.lastIndex = scheme.index + scheme[0].length;
  for (let match = param.exec(header); match !== null; match = param.exec(header)) {
    if (match[1].toLowerCase() === "error") return match[2] ?? match[3];
  }
  return null;
}

// RFC 9449 §8 (authorization server: 400 with error use_dpop_nonce in the JSON body) and §9
// (resource server: 401 with a DPoP challenge whose error is use_dpop_nonce).
async function asksForNonce(response) {
  if (response.status === 401) {
    return dpopChallengeError(response.headers.get("WWW-Authenticate")) === "use_dpop_nonce";
  }
  if (response.status === 400) {
    try {
      return (await response.clone().json()).error === "use_dpop_nonce";
    } catch {
      return false;
    }
  }
  return false;
}

export class DPoP {
  /** The browser's DPoP key, created on first use and reused on every later load. */
  static async load() {
    const keyPair = await loadOrCreateKeyPair();
    // generateKey always makes the public half extractable; only kty, crv, x, y go in proofs.
    const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", keyPair.publicKey);
    // RFC 7638 §3.2: the required members only, in lexicographic order, no whitespace.
    const jkt = await sha256b64url(JSON.stringify({ crv, kty, x, y }));
    return new DPoP(keyPair, { kty, crv, x, y }, jkt);
  }

  constructor(keyPair, jwk, jkt) {
    this.keyPair = keyPair;
    this.jwk = jwk;
    this.jkt = jkt;
    this.nonces = new Map(); // origin -> the latest DPoP-Nonce that server sent
  }

  /** A proof for one request (RFC 9449 §4.2); `accessToken` adds `ath` (§4.3, §7). */
  async proof(method, url, accessToken) {
    const target = new URL(url);
    const nonce = this.nonces.get(target.origin);
    target.search = "";
    target.hash = ""; // htu: the URI without query and fragment
    const header = { typ: "dpop+jwt", alg: "ES256", jwk: this.jwk };
    const claims = {
      jti: randomB64url(16),
      htm: method,
      htu: target.href,
      iat: Math.floor(Date.now() / 1000),
    };
    if (nonce !== undefined) claims.nonce = nonce;
    if (accessToken !== undefined) claims.ath = await sha256b64url(accessToken);
    const input = `${b64urlText(JSON.stringify(header))}.${b64urlText(JSON.stringify(claims))}`;
    // WebCrypto's ECDSA signature is already r || s, 32 bytes each: the JWS form (RFC 7518 §3.4).
    const signature = await crypto.subtle.sign(
      ES256,
      this.keyPair.privateKey,
      encoder.encode(input),
    );
    return `${input}.${b64url(signature)}`;
  }

  /**
   * fetch() with a DPoP proof (and `Authorization: DPoP <token>` when a token is given). When
   * the server answers that it wants a nonce, its DPoP-Nonce is kept and the request is sent
   * once more with a fresh proof (a new jti); never more than once.
   */
  async fetch(url, init = {}, accessToken = undefined) {
    const method = init.method ?? "GET";
    const origin = new URL(url).origin;
    for (let attempt = 1; ; attempt += 1) {
      const headers = new Headers(init.headers);
      headers.set("DPoP", await this.proof(method, url, accessToken));
      if (accessToken !== undefined) headers.set("Authorization", `DPoP ${accessToken}`);
      const response = await fetch(url, { ...init, method, headers });
      const nonce = response.headers.get("DPoP-Nonce");
      if (nonce !== null) this.nonces.set(origin, nonce);
      if (attempt === 1 && nonce !== null && (await asksForNonce(response))) continue;
      return response;
    }
  }
}
