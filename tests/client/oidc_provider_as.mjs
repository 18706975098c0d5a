// An independent authorization server for tests/client/test_end_to_end.py: panva's oidc-provider
// (v9, from tests/interop/node_modules) on 127.0.0.1 with the client_credentials grant and DPoP
// (RFC 9449) that demands its nonce (requireNonce) on every token request.
//
// Usage: node oidc_provider_as.mjs CONFIG.json
//   CONFIG = {
//     "scope": "read",
//     "clients": [ {client_id, token_endpoint_auth_method, jwks? , client_secret?}, ... ]
//   }
//
// stdout: exactly one JSON line {"issuer": "http://127.0.0.1:PORT"} once listening; then the AS
// serves until SIGTERM or its stdin closes. For every token request it writes one JSON line to
// stderr, {"token_request": {...}} (facts only: status, error, whether a proof and a nonce were
// present), so the test can count round trips. oidc-provider's own notices also go to stderr.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

console.info = console.error;
console.log = console.error;

const providerUrl = new URL('../interop/node_modules/oidc-provider/lib/index.js', import.meta.url);
const { default: Provider } = await import(providerUrl.href);

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));

const { privateKey } = await crypto.subtle.generateKey(
  { name: 'ECDSA', namedCurve: 'P-256' },
  true,
  ['sign', 'verify'],
);
const signingJwk = { ...(await crypto.subtle.exportKey('jwk', privateKey)), alg: 'ES256', use: 'sig' };
delete signingJwk.key_ops;
delete signingJwk.ext;

const server = createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: config.clients.map((client) => ({
    ...client,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    scope: config.scope,
    dpop_bound_access_tokens: true,
  })),
  jwks: { keys: [signingJwk] },
  clientDefaults: { id_token_signed_response_alg: 'ES256' },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  scopes: config.scope.split(' '),
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true },
  },
});
provider.on('server_error', (ctx, err) => process.stderr.write(`server_error: ${err.stack}\n`));

// One fact line per token request, after oidc-provider has answered it.
function proofNonce(header) {
  if (typeof header !== 'string') return false;
  try {
    const payload = JSON.parse(Buffer.from(header.split('.')[1], 'base64url').toString('utf8'));
    return typeof payload.nonce === 'string';
  } catch {
    return false;
  }
}
const app = provider.callback();
server.on('request', (req, res) => {
  if (req.method === 'POST' && req.url === '/token') {
    const dpop = req.headers.dpop;
    const chunks = [];
    const write = res.write.bind(res);
    const end = res.end.bind(res);
    res.write = (chunk, ...rest) => {
      if (chunk) chunks.push(Buffer.from(chunk));
      return write(chunk, ...rest);
    };
    res.end = (chunk, ...rest) => {
      if (chunk && typeof chunk !== 'function') chunks.push(Buffer.from(chunk));
      let error = null;
      let tokenType = null;
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        error = body.error ?? null;
        tokenType = body.token_type ?? null;
      } catch {
        // not JSON
      }
      const fact = {
        status: res.statusCode,
        error,
        token_type: tokenType,
        dpop_proof: typeof dpop === 'string',
        proof_nonce: proofNonce(dpop),
        dpop_nonce_header: res.getHeader('dpop-nonce') !== undefined,
      };
      process.stderr.write(`${JSON.stringify({ token_request: fact })}\n`);
      return end(chunk, ...rest);
    };
  }
  app(req, res);
});

process.stdout.write(`${JSON.stringify({ issuer })}\n`);

function stop() {
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();
