// Helpers shared by the Node peers (peer.mjs, code_flow.mjs): JWT part decoding, endpoint
// names, error descriptions, and the facts recorded of a response (never its secrets).

import * as jose from 'jose';
import * as client from 'openid-client';

export function decodeJwtPart(jwt, index) {
  try {
    return JSON.parse(Buffer.from(jwt.split('.')[index], 'base64url').toString('utf8'));
  } catch {
    return null;
  }
}

export function endpointOf(url) {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

/** What a failure was: openid-client's error kinds with their OAuth error, else name and text. */
export function describeError(err) {
  if (err instanceof client.ResponseBodyError) {
    return { kind: 'ResponseBodyError', status: err.status, error: err.error ?? null };
  }
  if (err instanceof client.WWWAuthenticateChallengeError) {
    const challenge = err.cause?.find((c) => c.parameters?.error) ?? err.cause?.[0];
    return {
      kind: 'WWWAuthenticateChallengeError',
      status: err.status,
      error: challenge?.parameters?.error ?? null,
      scheme: challenge?.scheme ?? null,
    };
  }
  return {
    kind: err?.name ?? typeof err,
    status: null,
    error: null,
    code: err?.code ?? null,
    message: String(err?.message ?? err),
  };
}

/** Status, nonce and the non-secret members of a JSON answer, added to `call`. */
export async function recordResponse(call, response) {
  call.status = response.status;
  call.dpop_nonce_header = response.headers.get('dpop-nonce');
  call.www_authenticate_present = response.headers.has('www-authenticate');
  let body = null;
  try {
    body = await response.clone().json();
  } catch {
    body = null;
  }
  call.error = body && typeof body.error === 'string' ? body.error : null;
  call.token_type = body && typeof body.token_type === 'string' ? body.token_type : null;
  call.expires_in = body && body.expires_in !== undefined ? body.expires_in : null;
  call.scope = body && body.scope !== undefined ? body.scope : null;
  call.client_id_issued = Boolean(body && typeof body.client_id === 'string');
}

/** RFC 9068 verification with `jose`: typ at+jwt, the issuer, the audience, ES256 only. */
export function verifyAtJwt(accessToken, jwks, issuer, audience) {
  return jose.jwtVerify(accessToken, jwks, {
    typ: 'at+jwt',
    issuer,
    audience,
    algorithms: ['ES256'],
  });
}
