"""The client SDK: DPoP keys, per-origin nonces, httpx auth and token sources.

``DPoPAuth`` signs a fresh proof for every request and retries once on a nonce challenge;
``TokenSource`` gets, caches and refreshes sender-constrained tokens from an AS;
``DPoPClient``-style wiring is two lines::

    source = TokenSource(issuer, client_id, key=DPoPKey.load("client.jwk"))
    http = httpx.Client(auth=DPoPAuth(source.dpop_key, source.token, nonces=source.nonces))
"""

from proofbound.client.httpx_auth import DPoPAuth
from proofbound.client.keys import DPoPKey, FileKeyStore, KeyStore
from proofbound.client.nonces import NonceCache
from proofbound.client.token_source import ClientError, TokenResponse, TokenSource

__all__ = [
    "ClientError",
    "DPoPAuth",
    "DPoPKey",
    "FileKeyStore",
    "KeyStore",
    "NonceCache",
    "TokenResponse",
    "TokenSource",
]
