// PKCE (RFC 7636) with S256 only, and the random state of the authorization request.

import { randomB64url, sha256b64url } from "./b64.js";

/** A new verifier (32 random bytes: 43 characters, RFC 7636 §4.1) and its S256 challenge. */
export async function newPkce() {
  const verifier = randomB64url(32);
  return { verifier, challenge: await sha256b64url(verifier), method: "S256" };
}

/** A new state: unguessable, so a forged authorization response is refused (RFC 6749 §10.12). */
export function newState() {
  return randomB64url(16);
}
