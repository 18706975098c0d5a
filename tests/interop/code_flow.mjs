// Independent public client for the authorization-code interop test
// (tests/interop/test_panva_code_flow.py).
//
// Drives a running proofbound authorization server with panva's openid-client v6 (on top of
// oauth4webapi) as a browser-less public client (token_endpoint_auth_method "none") with DPoP
// (RFC 9449): RFC 8414 discovery, a pushed authorization request (RFC 9126) carrying PKCE
// (RFC 7636), state, an RFC 8707 resource and a DPoP proof, then -- once the test has taken the
// user through login and consent -- the code grant (RFC 9207 `iss` checked by openid-client),
// a refresh with rotation, and two refreshes that must fail: the rotated token under another
// DPoP key, and the first (already rotated) token under the right key. Nothing here shares code
// with proofbound.
//
// Usage: node code_flow.mjs CONFIG.json
//   CONFIG = {
//     "issuer": "http://127.0.0.1:PORT",
//     "client_id": "...",                             // registered by the test (RFC 7591)
//     "redirect_uri": "http://127.0.0.1:PORT2/callback",
//     "resource": "https://rs.example/api",           // RFC 8707, the access-token audience
//     "scope": "read write"
//   }
//
// Protocol on stdio: prints one JSON line {"authorization_url": ...}; reads the callback URL
// (the redirect with code, state and iss) as one line on stdin; prints one JSON line of
// observed facts and exits 0. The facts never contain an access or refresh token, a code, a
// DPoP proof or a key: only statuses, error codes, claim values and thumbprints. Diagnostics
// (stderr) say what failed, never with request or token contents.

import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

import * as jose from 'jose';
import * as client from 'openid-client';

import {
  decodeJwtPart,
  describeError,
  endpointOf,
  recordResponse,
  verifyAtJwt,
} from './peer_common.mjs';

const TIMEOUT_SECONDS = 10;
const CALLBACK_TIMEOUT_MS = 60_000;

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));

// --- helpers ---------------------------------------------------------------------------------

/** A customFetch that records what went over the wire (never the secrets themselves). */
function recorder() {
  const calls = [];
  const fetchImpl = async (url, options) => {
    const call = {
      method: options.method,
      endpoint: endpointOf(url),
      dpop_proof: false,
      proof_typ: null,
      proof_htm: null,
      proof_htu: null,
      proof_nonce: null,
      proof_ath_present: false,
      proof_jkt: null,
      authorization_scheme: null,
      form_keys: [],
    };
    for (const [name, value] of Object.entries(options.headers ?? {})) {
      const lower = name.toLowerCase();
      if (lower === 'dpop') {
        const header = decodeJwtPart(value, 0) ?? {};
        const payload = decodeJwtPart(value, 1) ?? {};
        call.dpop_proof = true;
        call.proof_typ = header.typ ?? null;
        call.proof_htm = payload.htm ?? null;
        call.proof_htu = payload.htu ?? null;
        call.proof_nonce = payload.nonce ?? null;
        call.proof_ath_present = payload.ath !== undefined;
        call.proof_jkt = header.jwk ? await jose.calculateJwkThumbprint(header.jwk) : null;
      } else if (lower === 'authorization') {
        call.authorization_scheme = value.split(' ', 1)[0];
      }
    }
    if (options.body instanceof URLSearchParams) {
      call.form_keys = [...new Set(options.body.keys())].sort();
    } else if (typeof options.body === 'string') {
      call.form_keys = [...new Set(new URLSearchParams(options.body).keys())].sort();
    }
    const response = await fetch(url, options);
    await recordResponse(call, response);
    calls.push(call);
    return response;
  };
  return { calls, fetchImpl };
}

/** The calls to `endpoint` from index `from` on, without nonces or thumbprints of other keys. */
function requestsTo(calls, from, endpoint, jkt) {
  return calls
    .slice(from)
    .filter((c) => c.endpoint === endpoint)
    .map((c) => ({
      status: c.status,
      error: c.error,
      token_type: c.token_type,
      dpop_proof: c.dpop_proof,
      proof_typ: c.proof_typ,
      proof_htm: c.proof_htm,
      proof_htu: c.proof_htu,
      proof_nonce_present: c.proof_nonce !== null,
      proof_ath_present: c.proof_ath_present,
      proof_by_client_key: c.proof_jkt === jkt,
      dpop_nonce_header_present: Boolean(c.dpop_nonce_header),
      authorization_scheme: c.authorization_scheme,
      form_keys: c.form_keys,
    }));
}

async function verifyAccessToken(accessToken, jwks, issuer) {
  try {
    const { payload, protectedHeader } = await verifyAtJwt(accessToken, jwks, issuer, config.resource);
    return {
      verified: true,
      typ: protectedHeader.typ,
      iss: payload.iss,
      aud: payload.aud,
      sub: payload.sub ?? null,
      client_id: payload.client_id ?? null,
      scope: payload.scope ?? null,
      cnf: payload.cnf ?? null,
    };
  } catch (err) {
    return { verified: false, failure: describeError(err) };
  }
}

function readOneLine(timeoutMs) {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: process.stdin });
    const timer = setTimeout(() => {
      rl.close();
      reject(new Error(`no callback URL on stdin within ${timeoutMs} ms`));
    }, timeoutMs);
    rl.once('line', (line) => {
      clearTimeout(timer);
      resolve(line.trim()); // before close(): its 'close' event would reject first
      rl.close();
    });
    rl.once('close', () => {
      clearTimeout(timer);
      reject(new Error('stdin closed before a callback URL arrived'));
    });
  });
}

/** A refresh that is expected to fail: the error, or ok=true if it (wrongly) succeeded. */
async function failingRefresh(cfg, refreshToken, dpop) {
  try {
    await client.refreshTokenGrant(cfg, refreshToken, undefined, { DPoP: dpop });
    return { ok: true };
  } catch (err) {
    return { ok: false, failure: describeError(err) };
  }
}

// --- main ------------------------------------------------------------------------------------

async function main() {
  const versions = {
    node: process.versions.node,
    'openid-client': JSON.parse(
      readFileSync(new URL('./node_modules/openid-client/package.json', import.meta.url)),
    ).version,
    jose: JSON.parse(readFileSync(new URL('./node_modules/jose/package.json', import.meta.url)))
      .version,
  };
  const { calls, fetchImpl } = recorder();
  const cfg = await client.discovery(
    new URL(config.issuer),
    config.client_id,
    { token_endpoint_auth_method: 'none', redirect_uris: [config.redirect_uri] },
    client.None(),
    {
      algorithm: 'oauth2', // RFC 8414 well-known path, not OpenID Connect's
      execute: [client.allowInsecureRequests], // the test AS listens on plain http://127.0.0.1
      timeout: TIMEOUT_SECONDS,
      [client.customFetch]: fetchImpl,
    },
  );
  const as = cfg.serverMetadata();
  const jwks = jose.createRemoteJWKSet(new URL(as.jwks_uri), {
    timeoutDuration: TIMEOUT_SECONDS * 1000,
  });

  const keys = await client.randomDPoPKeyPair('ES256');
  const jkt = await jose.calculateJwkThumbprint(await jose.exportJWK(keys.publicKey));
  const dpop = client.getDPoPHandle(cfg, keys);

  // (1) PAR with PKCE, state, resource and a DPoP proof (RFC 9449 §10.1: binds the code).
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const parFrom = calls.length;
  const authorizationUrl = await client.buildAuthorizationUrlWithPAR(
    cfg,
    {
      redirect_uri: config.redirect_uri,
      scope: config.scope,
      state,
      resource: config.resource,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    },
    { DPoP: dpop },
  );
  const par = requestsTo(calls, parFrom, as.pushed_authorization_request_endpoint, jkt);
  process.stdout.write(`${JSON.stringify({ authorization_url: authorizationUrl.href })}\n`);

  // (2) The test logs in, consents and hands back where the AS redirected the browser.
  const callback = new URL(await readOneLine(CALLBACK_TIMEOUT_MS));

  // (3) The code grant: state, iss (RFC 9207) and PKCE checked; the proof by the same key.
  const codeFrom = calls.length;
  const tokens = await client.authorizationCodeGrant(
    cfg,
    callback,
    { pkceCodeVerifier: verifier, expectedState: state },
    undefined,
    { DPoP: dpop },
  );
  const code = {
    requests: requestsTo(calls, codeFrom, as.token_endpoint, jkt),
    token_type_parsed: tokens.token_type,
    refresh_token_issued: typeof tokens.refresh_token === 'string',
    scope: tokens.scope ?? null,
    access_token: await verifyAccessToken(tokens.access_token, jwks, as.issuer),
  };

  // (4) Refresh with the same key: a new access token and a rotated refresh token.
  const refreshFrom = calls.length;
  const refreshed = await client.refreshTokenGrant(cfg, tokens.refresh_token, undefined, {
    DPoP: dpop,
  });
  const refresh = {
    requests: requestsTo(calls, refreshFrom, as.token_endpoint, jkt),
    token_type_parsed: refreshed.token_type,
    new_refresh_token:
      typeof refreshed.refresh_token === 'string' &&
      refreshed.refresh_token !== tokens.refresh_token,
    new_access_token: refreshed.access_token !== tokens.access_token,
    access_token: await verifyAccessToken(refreshed.access_token, jwks, as.issuer),
  };

  // (5) The rotated refresh token under another DPoP key (RFC 9449 §5: bound to the first).
  const otherKeys = await client.randomDPoPKeyPair('ES256');
  const otherJkt = await jose.calculateJwkThumbprint(await jose.exportJWK(otherKeys.publicKey));
  const wrongKeyFrom = calls.length;
  const wrongKey = await failingRefresh(
    cfg,
    refreshed.refresh_token,
    client.getDPoPHandle(cfg, otherKeys),
  );
  wrongKey.requests = requestsTo(calls, wrongKeyFrom, as.token_endpoint, otherJkt);
  wrongKey.other_key_differs = otherJkt !== jkt;

  // (6) The first, already rotated, refresh token with the right key: a replay.
  const reuseFrom = calls.length;
  const reuse = await failingRefresh(cfg, tokens.refresh_token, dpop);
  reuse.requests = requestsTo(calls, reuseFrom, as.token_endpoint, jkt);

  // (7) After the reuse, the family is gone: the current refresh token fails too.
  const afterFrom = calls.length;
  const afterReuse = await failingRefresh(cfg, refreshed.refresh_token, dpop);
  afterReuse.requests = requestsTo(calls, afterFrom, as.token_endpoint, jkt);

  const facts = {
    versions,
    discovery: {
      issuer: as.issuer,
      authorization_endpoint: as.authorization_endpoint ?? null,
      pushed_authorization_request_endpoint: as.pushed_authorization_request_endpoint ?? null,
      token_endpoint: as.token_endpoint ?? null,
      authorization_response_iss_parameter_supported:
        as.authorization_response_iss_parameter_supported ?? null,
      code_challenge_methods_supported: as.code_challenge_methods_supported ?? null,
    },
    dpop_jkt: jkt,
    par,
    authorization_url_keys: [...new Set(authorizationUrl.searchParams.keys())].sort(),
    callback_keys: [...new Set(callback.searchParams.keys())].sort(),
    code,
    refresh,
    wrong_key_refresh: wrongKey,
    reused_refresh: reuse,
    after_reuse_refresh: afterReuse,
    nonce_round_trips: calls.filter((c) => c.status === 400 && c.error === 'use_dpop_nonce')
      .length,
    requests: calls.length,
  };
  process.stdout.write(`${JSON.stringify(facts)}\n`);
}

main().catch((err) => {
  // A failure in the flow itself: say what kind (openid-client's error code and message, an
  // OAuth error code), never dump request state.
  const d = describeError(err);
  const code = d.code ? ` [${d.code}]` : '';
  const detail = d.error ? ` error=${d.error} status=${d.status}` : '';
  const message = err?.message ?? err;
  process.stderr.write(`code_flow: ${err?.name ?? 'error'}${code}: ${message}${detail}\n`);
  process.exit(1);
});
