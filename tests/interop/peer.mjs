// Independent OAuth client for the interoperability test (tests/interop/test_panva_client.py).
//
// Drives a running proofbound authorization server with panva's openid-client v6 (on top of
// oauth4webapi) and verifies what it issues with jose. Nothing here shares code with proofbound.
//
// Usage: node peer.mjs CONFIG.json
//   CONFIG = {
//     "issuer": "http://127.0.0.1:PORT",            // AS that trusts 127.0.0.1 as a TLS proxy
//     "untrusted_issuer": "http://127.0.0.1:PORT2", // AS that does not
//     "registration_token": "...",                  // initial access token (RFC 7591)
//     "resource": "https://rs.example/api",         // expected access-token audience
//     "scope": "read write",
//     "client_cert_header": "x-ssl-client-cert",
//     "client_cert_pem": "-----BEGIN CERTIFICATE-----...",
//     "client_cert_header_value": "<nginx $ssl_client_escaped_cert of the PEM>"
//   }
//
// Prints exactly one JSON object of observed facts on stdout. It never contains an access token,
// a DPoP proof, a client assertion or a private key: only statuses, error codes, claim names and
// thumbprints. Diagnostics go to stderr.

import { X509Certificate, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

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
const ES256 = { name: 'ECDSA', namedCurve: 'P-256' };

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));

// --- helpers ---------------------------------------------------------------------------------

/** A customFetch that records what went over the wire (never the secrets themselves). */
function recorder(extraHeaders = {}) {
  const calls = [];
  const fetchImpl = async (url, options) => {
    const headers = { ...options.headers, ...extraHeaders };
    const call = {
      method: options.method,
      endpoint: endpointOf(url),
      dpop_proof: false,
      proof_nonce: null,
      proof_htm: null,
      proof_htu: null,
      authorization_scheme: null,
      cert_header_sent: false,
    };
    for (const [name, value] of Object.entries(headers)) {
      const lower = name.toLowerCase();
      if (lower === 'dpop') {
        const payload = decodeJwtPart(value, 1) ?? {};
        call.dpop_proof = true;
        call.proof_nonce = payload.nonce ?? null;
        call.proof_htm = payload.htm ?? null;
        call.proof_htu = payload.htu ?? null;
      } else if (lower === config.client_cert_header.toLowerCase()) {
        call.cert_header_sent = true;
      } else if (lower === 'authorization') {
        call.authorization_scheme = value.split(' ', 1)[0];
      }
    }
    const response = await fetch(url, { ...options, headers });
    await recordResponse(call, response);
    calls.push(call);
    return response;
  };
  return { calls, fetchImpl };
}

function requestOptions(fetchImpl, extra = {}) {
  return {
    algorithm: 'oauth2', // RFC 8414 well-known path, not OpenID Connect's
    execute: [client.allowInsecureRequests], // the test AS listens on plain http://127.0.0.1
    timeout: TIMEOUT_SECONDS,
    [client.customFetch]: fetchImpl,
    ...extra,
  };
}

async function verifyAccessToken(accessToken, issuer, jwksUri) {
  const jwks = jose.createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: TIMEOUT_SECONDS * 1000 });
  const { payload, protectedHeader } = await verifyAtJwt(accessToken, jwks, issuer, config.resource);
  return {
    verified: true,
    alg: protectedHeader.alg,
    typ: protectedHeader.typ,
    kid_present: typeof protectedHeader.kid === 'string',
    iss: payload.iss,
    aud: payload.aud,
    client_id: payload.client_id ?? null,
    sub: payload.sub ?? null,
    scope: payload.scope ?? null,
    claims: Object.keys(payload).sort(),
    lifetime: typeof payload.exp === 'number' && typeof payload.iat === 'number'
      ? payload.exp - payload.iat
      : null,
    cnf: payload.cnf ?? null,
  };
}

async function signingKey() {
  const { publicKey, privateKey } = await crypto.subtle.generateKey(ES256, true, ['sign', 'verify']);
  const jwk = await jose.exportJWK(publicKey);
  const kid = await jose.calculateJwkThumbprint(jwk, 'sha256');
  return { privateKey, publicJwk: { ...jwk, kid, alg: 'ES256', use: 'sig' }, kid };
}

// --- scenarios -------------------------------------------------------------------------------

/** (1)-(5): discovery, RFC 7591 registration, DPoP-bound client_credentials, offline check. */
async function dpopScenario(issuer) {
  const report = {};
  const { calls, fetchImpl } = recorder();
  const authKey = await signingKey();
  const metadata = {
    token_endpoint_auth_method: 'private_key_jwt',
    jwks: { keys: [authKey.publicJwk] },
    grant_types: ['client_credentials'],
    dpop_bound_access_tokens: true,
    scope: config.scope,
  };

  let cfg;
  try {
    cfg = await client.dynamicClientRegistration(
      new URL(issuer),
      metadata,
      client.PrivateKeyJwt({ key: authKey.privateKey, kid: authKey.kid }),
      requestOptions(fetchImpl, { initialAccessToken: config.registration_token }),
    );
  } catch (err) {
    report.registration = { ok: false, failure: describeError(err), calls };
    return report;
  }
  const as = cfg.serverMetadata();
  const registrationCalls = calls.filter((c) => c.endpoint === as.registration_endpoint);
  report.discovery = {
    requests: calls
      .filter((c) => c.endpoint.includes('/.well-known/'))
      .map((c) => ({ endpoint: c.endpoint, status: c.status })),
    issuer: as.issuer,
    token_endpoint: as.token_endpoint ?? null,
    jwks_uri: as.jwks_uri ?? null,
    registration_endpoint: as.registration_endpoint ?? null,
    introspection_endpoint: as.introspection_endpoint ?? null,
    revocation_endpoint: as.revocation_endpoint ?? null,
    token_endpoint_auth_methods_supported: as.token_endpoint_auth_methods_supported ?? null,
    dpop_signing_alg_values_supported: as.dpop_signing_alg_values_supported ?? null,
    tls_client_certificate_bound_access_tokens:
      as.tls_client_certificate_bound_access_tokens ?? null,
    grant_types_supported: as.grant_types_supported ?? null,
  };
  const registered = cfg.clientMetadata();
  report.registration = {
    ok: true,
    statuses: registrationCalls.map((c) => c.status),
    authorization_scheme: registrationCalls[0]?.authorization_scheme ?? null,
    client_id_issued: typeof registered.client_id === 'string' && registered.client_id.length > 0,
    client_secret_issued: registered.client_secret !== undefined,
    token_endpoint_auth_method: registered.token_endpoint_auth_method ?? null,
    dpop_bound_access_tokens: registered.dpop_bound_access_tokens ?? null,
  };

  // (3) DPoP-bound token; openid-client retries once on use_dpop_nonce by itself.
  const dpopKeys = await client.randomDPoPKeyPair('ES256');
  const dpopJkt = await jose.calculateJwkThumbprint(await jose.exportJWK(dpopKeys.publicKey));
  const dpop = client.getDPoPHandle(cfg, dpopKeys);
  const before = calls.length;
  let tokens;
  try {
    tokens = await client.clientCredentialsGrant(cfg, { scope: config.scope }, { DPoP: dpop });
  } catch (err) {
    report.dpop_token = { ok: false, failure: describeError(err) };
  }
  const tokenCalls = calls.slice(before).filter((c) => c.endpoint === as.token_endpoint);
  report.dpop_token = {
    ...report.dpop_token,
    token_requests: tokenCalls.length,
    attempts: tokenCalls.map((c) => ({
      status: c.status,
      error: c.error,
      dpop_proof: c.dpop_proof,
      proof_nonce_present: c.proof_nonce !== null,
      proof_htm: c.proof_htm,
      proof_htu: c.proof_htu,
      dpop_nonce_header_present: Boolean(c.dpop_nonce_header),
      token_type: c.token_type,
      expires_in: c.expires_in,
      scope: c.scope,
    })),
    // The retry carried exactly the nonce the AS handed out in the first response.
    retry_used_issued_nonce:
      tokenCalls.length === 2 &&
      Boolean(tokenCalls[0].dpop_nonce_header) &&
      tokenCalls[1].proof_nonce === tokenCalls[0].dpop_nonce_header,
  };
  if (tokens) {
    report.dpop_token.ok = true;
    report.dpop_token.token_type_parsed = tokens.token_type;
    try {
      const checked = await verifyAccessToken(tokens.access_token, as.issuer, as.jwks_uri);
      report.dpop_token.verification = {
        ...checked,
        client_id_matches: checked.client_id === registered.client_id,
        cnf_jkt_matches: checked.cnf?.jkt === dpopJkt,
        cnf_jkt_matches_handle: checked.cnf?.jkt === (await dpop.calculateThumbprint()),
      };
    } catch (err) {
      report.dpop_token.verification = { verified: false, failure: describeError(err) };
    }
  }

  // (5) The same DPoP-bound client without any proof.
  const beforePlain = calls.length;
  try {
    await client.clientCredentialsGrant(cfg, { scope: config.scope });
    report.without_dpop = { ok: true };
  } catch (err) {
    report.without_dpop = { ok: false, failure: describeError(err) };
  }
  report.without_dpop.requests = calls
    .slice(beforePlain)
    .filter((c) => c.endpoint === as.token_endpoint)
    .map((c) => ({ status: c.status, error: c.error, dpop_proof: c.dpop_proof }));
  return report;
}

/** Register a self_signed_tls_client_auth client at `issuer` and try the token endpoint. */
async function mtlsScenario(issuer, { verify }) {
  const report = {};
  const cert = new X509Certificate(config.client_cert_pem);
  const certThumbprint = createHash('sha256').update(cert.raw).digest('base64url');
  const certJwk = await jose.exportJWK(cert.publicKey);
  const metadata = {
    token_endpoint_auth_method: 'self_signed_tls_client_auth',
    jwks: { keys: [{ ...certJwk, x5c: [cert.raw.toString('base64')] }] },
    tls_client_certificate_bound_access_tokens: true,
    grant_types: ['client_credentials'],
  };
  const plain = recorder();
  const withCert = recorder({ [config.client_cert_header]: config.client_cert_header_value });
  report.cert_thumbprint = certThumbprint;

  let cfg;
  try {
    cfg = await client.dynamicClientRegistration(
      new URL(issuer),
      metadata,
      client.TlsClientAuth(),
      requestOptions(plain.fetchImpl, { initialAccessToken: config.registration_token }),
    );
  } catch (err) {
    report.registration = { ok: false, failure: describeError(err) };
    return report;
  }
  const as = cfg.serverMetadata();
  const registered = cfg.clientMetadata();
  report.registration = {
    ok: true,
    statuses: plain.calls
      .filter((c) => c.endpoint === as.registration_endpoint)
      .map((c) => c.status),
    client_id_issued: typeof registered.client_id === 'string' && registered.client_id.length > 0,
    token_endpoint_auth_method: registered.token_endpoint_auth_method ?? null,
    tls_client_certificate_bound_access_tokens:
      registered.tls_client_certificate_bound_access_tokens ?? null,
  };

  const attempt = async (recording) => {
    cfg[client.customFetch] = recording.fetchImpl;
    const before = recording.calls.length;
    const result = {};
    try {
      const tokens = await client.clientCredentialsGrant(cfg);
      result.ok = true;
      result.token_type_parsed = tokens.token_type;
      if (verify) {
        try {
          const checked = await verifyAccessToken(tokens.access_token, as.issuer, as.jwks_uri);
          result.verification = {
            ...checked,
            client_id_matches: checked.client_id === registered.client_id,
            cnf_x5t_s256_matches: checked.cnf?.['x5t#S256'] === certThumbprint,
          };
        } catch (err) {
          result.verification = { verified: false, failure: describeError(err) };
        }
      }
    } catch (err) {
      result.ok = false;
      result.failure = describeError(err);
    }
    result.requests = recording.calls
      .slice(before)
      .filter((c) => c.endpoint === as.token_endpoint)
      .map((c) => ({
        status: c.status,
        error: c.error,
        token_type: c.token_type,
        expires_in: c.expires_in,
        cert_header_sent: c.cert_header_sent,
      }));
    return result;
  };

  report.with_cert = await attempt(withCert);
  report.without_cert = await attempt(plain);
  return report;
}

// --- main ------------------------------------------------------------------------------------

async function main() {
  const out = {
    versions: {
      node: process.versions.node,
      'openid-client': JSON.parse(
        readFileSync(new URL('./node_modules/openid-client/package.json', import.meta.url)),
      ).version,
      jose: JSON.parse(readFileSync(new URL('./node_modules/jose/package.json', import.meta.url)))
        .version,
    },
  };
  out.dpop = await dpopScenario(config.issuer);
  out.mtls = await mtlsScenario(config.issuer, { verify: true });
  out.untrusted_proxy = await mtlsScenario(config.untrusted_issuer, { verify: false });
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((err) => {
  // A crash in the peer itself: say what kind, never dump request state.
  process.stderr.write(`peer: ${err?.name ?? 'error'}: ${err?.message ?? err}\n`);
  process.exit(1);
});
