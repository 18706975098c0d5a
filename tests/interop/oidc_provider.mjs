// An independent authorization server for tests/interop/test_independent_as.py.
//
// Runs panva's oidc-provider (v9) on 127.0.0.1 with the client_credentials grant, DPoP (RFC 9449,
// with AS nonces), certificate-bound tokens (RFC 8705; the certificate comes from a header, as
// behind a TLS-terminating proxy, so no real TLS is needed), resource indicators (RFC 8707) whose
// resource servers get JWT access tokens (RFC 9068) or opaque ones, introspection (RFC 7662) and
// revocation (RFC 7009). Then it obtains tokens from itself with panva's oauth4webapi, an
// independent client: a DPoP-bound JWT, a certificate-bound JWT and a DPoP-bound opaque token
// for this resource, and a DPoP-bound JWT and opaque token for another resource.
//
// Usage: node oidc_provider.mjs CONFIG.json
//   CONFIG = {
//     "resource": "https://rs.example/api",         // JWT access tokens, aud = this
//     "opaque_resource": "https://rs.example/opaque", // opaque access tokens (introspection)
//     "other_resources": {"jwt": "https://other.example/jwt", "opaque": "..."}, // someone else's
//     "scope": "read write",
//     "cert_header": "x-ssl-client-cert",            // nginx $ssl_client_escaped_cert
//     "cert_header_value": "<percent-encoded PEM of the client certificate>",
//     "clients": {"dpop": {"client_id", "client_secret"}, "mtls": {...}, "rs": {...}}
//   }
//
// stdout: exactly one JSON line once everything is issued, then the AS keeps serving until it gets
// SIGTERM or its stdin closes. The line holds the issuer, the tokens and the DPoP private JWK:
// throwaway test material for the Python side, which must never print it. Everything else
// (oidc-provider's notices included) goes to stderr.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';

// oidc-provider prints its NOTICEs with console.info: keep stdout for the one JSON line.
console.info = console.error;
console.log = console.error;

const { default: Provider } = await import('oidc-provider');
const jose = await import('jose');
const oauth = await import('oauth4webapi');

const require = createRequire(import.meta.url);
const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const ES256 = { name: 'ECDSA', namedCurve: 'P-256' };
const TTL = 300;

function fail(message) {
  process.stderr.write(`oidc_provider.mjs: ${message}\n`);
  process.exit(1);
}

// --- the authorization server ----------------------------------------------------------------

const signing = await jose.generateKeyPair('ES256', { extractable: true });
const signingJwk = { ...(await jose.exportJWK(signing.privateKey)), alg: 'ES256', use: 'sig' };
signingJwk.kid = await jose.calculateJwkThumbprint(signingJwk);

const server = createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const resourceServers = {
  [config.resource]: { accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } },
  [config.opaque_resource]: { accessTokenFormat: 'opaque' },
  [config.other_resources.jwt]: { accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } },
  [config.other_resources.opaque]: { accessTokenFormat: 'opaque' },
};

const { dpop: dpopClient, mtls: mtlsClient, rs: rsClient } = config.clients;
const provider = new Provider(issuer, {
  clients: [
    {
      ...dpopClient,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: config.scope,
      dpop_bound_access_tokens: true,
    },
    {
      ...mtlsClient,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: config.scope,
      tls_client_certificate_bound_access_tokens: true,
    },
    {
      // the resource server itself, for introspection only
      ...rsClient,
      grant_types: [],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: [signingJwk] },
  // the only key is ES256, so every client's default signing alg must be too
  clientDefaults: { id_token_signed_response_alg: 'ES256' },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  scopes: config.scope.split(' '),
  ttl: { ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL ?? TTL },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true },
    mTLS: {
      enabled: true,
      certificateBoundAccessTokens: true,
      // The certificate as a TLS-terminating proxy forwards it (nginx $ssl_client_escaped_cert).
      getCertificate(ctx) {
        const value = ctx.get(config.cert_header);
        return value ? decodeURIComponent(value) : undefined;
      },
    },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => config.resource,
      useGrantedResource: () => true,
      getResourceServerInfo(ctx, indicator) {
        const info = resourceServers[indicator];
        if (!info) throw new Provider.errors.InvalidTarget();
        return { scope: config.scope, audience: indicator, accessTokenTTL: TTL, ...info };
      },
    },
  },
});
provider.on('server_error', (ctx, err) => process.stderr.write(`server_error: ${err.stack}\n`));
server.on('request', provider.callback());

// --- an independent client: oauth4webapi ------------------------------------------------------

const insecure = { [oauth.allowInsecureRequests]: true };
const as = await oauth.processDiscoveryResponse(
  new URL(issuer),
  await oauth.discoveryRequest(new URL(issuer), { algorithm: 'oidc', ...insecure }),
);

/** One client_credentials token; with a DPoP handle, retried once on use_dpop_nonce. */
async function token(clientConfig, resource, { DPoP, headers } = {}) {
  const client = { client_id: clientConfig.client_id };
  const auth = oauth.ClientSecretBasic(clientConfig.client_secret);
  const params = new URLSearchParams({ scope: config.scope, resource });
  let nonceRetries = 0;
  for (;;) {
    const response = await oauth.clientCredentialsGrantRequest(as, client, auth, params, {
      DPoP,
      headers,
      ...insecure,
    });
    try {
      const result = await oauth.processClientCredentialsResponse(as, client, response);
      return { result, nonceRetries };
    } catch (err) {
      if (DPoP && oauth.isDPoPNonceError(err) && nonceRetries === 0) {
        nonceRetries += 1;
        continue;
      }
      throw err;
    }
  }
}

let issued;
try {
  const keyPair = await crypto.subtle.generateKey(ES256, true, ['sign', 'verify']);
  const dpopJwk = await crypto.subtle.exportKey('jwk', keyPair.privateKey);
  const DPoP = oauth.DPoP({ client_id: dpopClient.client_id }, keyPair);
  const dpopJwt = await token(dpopClient, config.resource, { DPoP });
  const dpopOpaque = await token(dpopClient, config.opaque_resource, { DPoP });
  const otherJwt = await token(dpopClient, config.other_resources.jwt, { DPoP });
  const otherOpaque = await token(dpopClient, config.other_resources.opaque, { DPoP });
  const mtlsJwt = await token(mtlsClient, config.resource, {
    headers: { [config.cert_header]: config.cert_header_value },
  });
  // The AS's current DPoP nonce, from a token request whose proof has none (RFC 9449 §8).
  const asNonce = await (async () => {
    const proof = await new jose.SignJWT({
      htm: 'POST',
      htu: as.token_endpoint,
      iat: Math.floor(Date.now() / 1000),
      jti: randomBytes(16).toString('base64url'),
    })
      .setProtectedHeader({
        typ: 'dpop+jwt',
        alg: 'ES256',
        jwk: await jose.exportJWK(keyPair.publicKey),
      })
      .sign(keyPair.privateKey);
    const basic = Buffer.from(`${dpopClient.client_id}:${dpopClient.client_secret}`).toString(
      'base64',
    );
    const response = await fetch(as.token_endpoint, {
      method: 'POST',
      headers: {
        authorization: `Basic ${basic}`,
        'content-type': 'application/x-www-form-urlencoded',
        dpop: proof,
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource: config.resource }),
    });
    const body = await response.json();
    if (response.status !== 400 || body.error !== 'use_dpop_nonce') {
      throw new Error(`expected use_dpop_nonce, got ${response.status} ${body.error}`);
    }
    return response.headers.get('dpop-nonce');
  })();
  const describe = ({ result, nonceRetries }) => ({
    access_token: result.access_token,
    token_type: result.token_type,
    expires_in: result.expires_in,
    scope: result.scope ?? null,
    nonce_retries: nonceRetries,
  });
  issued = {
    issuer,
    versions: {
      node: process.versions.node,
      'oidc-provider': require('oidc-provider/package.json').version,
      oauth4webapi: require('oauth4webapi/package.json').version,
    },
    discovery: {
      token_endpoint: as.token_endpoint,
      jwks_uri: as.jwks_uri,
      introspection_endpoint: as.introspection_endpoint,
      revocation_endpoint: as.revocation_endpoint,
      dpop_signing_alg_values_supported: as.dpop_signing_alg_values_supported ?? null,
      tls_client_certificate_bound_access_tokens:
        as.tls_client_certificate_bound_access_tokens ?? null,
    },
    as_kid: signingJwk.kid,
    as_nonce: asNonce,
    dpop_private_jwk: dpopJwk,
    dpop_jwt: describe(dpopJwt),
    dpop_opaque: describe(dpopOpaque),
    mtls_jwt: describe(mtlsJwt),
    other_jwt: describe(otherJwt),
    other_opaque: describe(otherOpaque),
  };
} catch (err) {
  const detail = err?.error ? `${err.error}: ${err.error_description ?? ''}` : '';
  fail(`could not obtain the tokens: ${err?.name} ${err?.message} ${detail}`);
}

process.stdout.write(`${JSON.stringify(issued)}\n`);

function stop() {
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();
