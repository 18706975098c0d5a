// An independent resource server for tests/client/test_independent_rs.py: node:http on 127.0.0.1
// whose access token and DPoP proof validation is done by panva's oauth4webapi
// (validateJwtAccessToken with requireDPoP, from tests/interop/node_modules), plus the RS nonce of
// RFC 9449 §9, which oauth4webapi leaves to the caller (it checks neither nonces nor jti replay).
//
// Usage: node oauth4webapi_rs.mjs --port PORT --issuer ISSUER --audience AUDIENCE
//                                 [--nonce-lifetime SECONDS]
//   The AS metadata is discovered from ISSUER (RFC 8414, oauth4webapi's discoveryRequest and
//   processDiscoveryResponse); the RS's public origin is AUDIENCE's origin (the htu it expects).
//   The current nonce is random and replaced every SECONDS (default 300) and on
//   POST /_test/rotate-nonce (a test-only endpoint: this server never leaves loopback).
//
// Routes: GET /resource (protected: 200 {"sub", "client_id", "cnf"}), GET /healthz,
//   POST /_test/rotate-nonce (204). Every answer carries the current DPoP-Nonce.
//   No Authorization: 401 WWW-Authenticate: DPoP algs="ES256" (no error, RFC 6750 §3.1).
//   oauth4webapi refuses: 401 error="invalid_dpop_proof" when the failure is the proof's (the
//   error names the DPoP proof, its claims or header, or its signing input), else
//   error="invalid_token". Valid but without the current nonce: 401 error="use_dpop_nonce".
//
// stdout: one JSON line {"url": "http://127.0.0.1:PORT"} once the metadata is loaded and the
// server listens. stderr: one JSON line per request, {"request": {method, path, status, error,
// reason, proof_nonce}}: facts only, never a token, a proof or a nonce (reason is the message of
// oauth4webapi's error, a fixed text such as "DPoP Proof htu mismatch"). Stops on SIGTERM or
// stdin end.

import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

const oauthUrl = new URL('../interop/node_modules/oauth4webapi/build/index.js', import.meta.url);
const oauth = await import(oauthUrl.href);

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    issuer: { type: 'string' },
    audience: { type: 'string' },
    'nonce-lifetime': { type: 'string', default: '300' },
  },
});
for (const name of ['port', 'issuer', 'audience']) {
  if (!args[name]) {
    process.stderr.write(`--${name} is required\n`);
    process.exit(2);
  }
}
const port = Number(args.port);
const audience = args.audience;
const publicOrigin = new URL(audience).origin;
const nonceLifetime = Number(args['nonce-lifetime']) * 1000;
const ALGS = ['ES256'];

// -- the AS metadata, discovered and validated by oauth4webapi ---------------------------------

const issuer = new URL(args.issuer);
const as = await oauth.processDiscoveryResponse(
  issuer,
  await oauth.discoveryRequest(issuer, {
    algorithm: 'oauth2',
    [oauth.allowInsecureRequests]: true, // http://127.0.0.1 only
    signal: AbortSignal.timeout(10_000),
  }),
);

// -- the RS nonce (RFC 9449 §9) -----------------------------------------------------------------

let nonce;
let rotated;
function rotateNonce() {
  nonce = randomBytes(16).toString('base64url');
  rotated = Date.now();
}
rotateNonce();
function currentNonce() {
  if (Date.now() - rotated >= nonceLifetime) rotateNonce();
  return nonce;
}

// -- helpers ------------------------------------------------------------------------------------

function decodePart(part) {
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

function quote(value) {
  return `"${String(value).replace(/["\\]/g, '\\$&')}"`;
}

// Whether an oauth4webapi error is about the DPoP proof rather than the access token. The proof
// is validated after the token, with the same generic JWT helpers; the error's message or cause
// tells them apart: a "DPoP Proof ..." message, a cause holding the proof's header or claims, or
// (for a signature failure) the proof's signing input.
function isProofError(err, proof) {
  if (typeof err?.message === 'string' && /DPoP Proof|no DPoP HTTP Header/.test(err.message)) {
    return true;
  }
  if (typeof proof !== 'string') return false;
  const [header, payload] = proof.split('.');
  const cause = err?.cause;
  if (cause === null || typeof cause !== 'object') return false;
  const claims = decodePart(payload);
  if (cause.claims && claims && typeof claims.jti === 'string' && cause.claims.jti === claims.jti) {
    return true;
  }
  if (cause.header && cause.header.typ !== undefined && /dpop\+jwt/i.test(String(cause.header.typ))) {
    return true;
  }
  if (cause.header && cause.header.jwk !== undefined) return true;
  if (cause.data instanceof Uint8Array) {
    return Buffer.from(cause.data).toString('latin1') === `${header}.${payload}`;
  }
  return false;
}

function requestOf(req) {
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i].toLowerCase();
    if (['host', 'connection', 'keep-alive', 'transfer-encoding'].includes(name)) continue;
    headers.append(name, req.rawHeaders[i + 1]);
  }
  // the public URL the client addressed (query kept: oauth4webapi strips it for htu)
  return new Request(new URL(req.url, publicOrigin), { method: req.method, headers });
}

// -- the server ---------------------------------------------------------------------------------

async function protectedResource(req) {
  const request = requestOf(req);
  const proof = request.headers.get('dpop') ?? undefined;
  if (request.headers.get('authorization') === null) {
    return { status: 401, challenge: `DPoP algs="${ALGS.join(' ')}"` };
  }
  let claims;
  try {
    claims = await oauth.validateJwtAccessToken(as, request, audience, {
      requireDPoP: true,
      signingAlgorithms: ALGS,
      [oauth.allowInsecureRequests]: true, // the JWKS at http://127.0.0.1
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    const error = isProofError(err, proof) ? 'invalid_dpop_proof' : 'invalid_token';
    const description = error === 'invalid_dpop_proof' ? 'the DPoP proof is invalid' : 'the access token is invalid';
    return {
      status: 401,
      error,
      reason: String(err?.message ?? err?.name ?? 'error'),
      challenge: `DPoP error="${error}", error_description=${quote(description)}, algs="${ALGS.join(' ')}"`,
    };
  }
  // oauth4webapi validated the proof; now the nonce it does not check (RFC 9449 §9)
  const proofClaims = decodePart(proof.split('.')[1]);
  const hasNonce = typeof proofClaims?.nonce === 'string';
  if (!hasNonce || proofClaims.nonce !== currentNonce()) {
    const description = hasNonce ? 'the DPoP nonce is stale' : 'a DPoP nonce is required';
    return {
      status: 401,
      error: 'use_dpop_nonce',
      proofNonce: hasNonce,
      challenge: `DPoP error="use_dpop_nonce", error_description=${quote(description)}, algs="${ALGS.join(' ')}"`,
    };
  }
  return {
    status: 200,
    proofNonce: true,
    body: { sub: claims.sub, client_id: claims.client_id, cnf: claims.cnf },
  };
}

async function handle(req) {
  const path = new URL(req.url, publicOrigin).pathname;
  if (path === '/healthz' && req.method === 'GET') return { status: 200, body: { ok: true } };
  if (path === '/_test/rotate-nonce' && req.method === 'POST') {
    rotateNonce();
    return { status: 204 };
  }
  if (path === '/resource') {
    if (req.method !== 'GET') return { status: 405, body: { error: 'method_not_allowed' } };
    return protectedResource(req);
  }
  return { status: 404, body: { error: 'not_found' } };
}

const server = createServer((req, res) => {
  req.resume();
  req.on('end', async () => {
    let result;
    try {
      result = await handle(req);
    } catch (err) {
      process.stderr.write(`internal error: ${err?.name}: ${err?.message}\n`);
      result = { status: 500, body: { error: 'server_error' } };
    }
    const headers = { 'DPoP-Nonce': currentNonce(), 'Cache-Control': 'no-store' };
    if (result.challenge) headers['WWW-Authenticate'] = result.challenge;
    let body = '';
    if (result.body !== undefined) {
      body = JSON.stringify(result.body);
      headers['Content-Type'] = 'application/json';
    }
    res.writeHead(result.status, headers);
    res.end(body);
    const fact = {
      method: req.method,
      path: new URL(req.url, publicOrigin).pathname,
      status: result.status,
      error: result.error ?? null,
      reason: result.reason ?? null,
      proof_nonce: result.proofNonce ?? null,
    };
    process.stderr.write(`${JSON.stringify({ request: fact })}\n`);
  });
});

await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', resolve);
});
process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}` })}\n`);

function stop() {
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();
