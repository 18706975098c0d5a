// base64url without padding (RFC 7515 §2), the encoding of every JOSE and PKCE value here.

const encoder = new TextEncoder();

/** base64url of bytes (a Uint8Array or an ArrayBuffer). */
export function b64url(bytes) {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let binary = "";
  for (const byte of view) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** base64url of a string's UTF-8 bytes. */
export function b64urlText(text) {
  return b64url(encoder.encode(text));
}

/** base64url(SHA-256(UTF-8 of text)): PKCE S256 challenges, DPoP ath, RFC 7638 thumbprints. */
export async function sha256b64url(text) {
  return b64url(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

/** A fresh random value of n bytes, base64url-encoded. */
export function randomB64url(n = 32) {
  return b64url(crypto.getRandomValues(new Uint8Array(n)));
}
