"""Server-provided DPoP nonces (RFC 9449 §8 authorization server, §9 resource server).

:class:`RollingNonces` is stateless: a nonce is ``base64url(step || tag)`` where ``step`` is the
current time step and ``tag`` an HMAC-SHA-256 (truncated to 128 bits) over a purpose label, the
purpose (``"as"`` or ``"rs"``), the server's origin and the step. Every process that shares the
secret accepts the others' nonces; a nonce of the AS is never accepted by an RS (or by another
origin) even with the same secret (§9). Secrets rotate without a gap: the first secret issues,
every listed secret verifies. Validation is constant-time and fails opaquely (one ``False``).
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Final, Literal, Protocol

from proofbound._internal.b64 import b64url_decode, b64url_encode
from proofbound.errors import ConfigurationError

__all__ = ["MIN_SECRET_BYTES", "NonceSource", "RollingNonces"]

_LABEL: Final = b"proofbound/dpop-nonce/v1"
_TAG_BYTES: Final = 16
_STEP_BYTES: Final = 8
#: The shortest secret RollingNonces accepts (256 bits).
MIN_SECRET_BYTES: Final = 32


class NonceSource(Protocol):
    """Issues and checks DPoP nonces."""

    def issue(self, now: int) -> str:
        """Return a fresh nonce (``1*NQCHAR``, RFC 9449 §8.1)."""
        ...

    def is_valid(self, nonce: str, now: int) -> bool:
        """True if ``nonce`` was issued by this source recently; constant-time, opaque."""
        ...


def _field(value: bytes) -> bytes:
    return len(value).to_bytes(4, "big") + value


class RollingNonces:
    """Stateless HMAC nonces over time steps, accepted for a small window of steps.

    Args:
        secrets: one or more secrets of at least 32 bytes; the first issues nonces, all verify.
        purpose: ``"as"`` (RFC 9449 §8) or ``"rs"`` (§9).
        origin: the server's origin or issuer, bound into every nonce.
        step_seconds: length of a time step.
        window_steps: how many past steps are still accepted (one future step is always
            accepted, to absorb clock differences between processes).
    """

    __slots__ = ("_issued", "_prefix", "_secrets", "step_seconds", "window_steps")

    def __init__(
        self,
        secrets: Sequence[bytes],
        *,
        purpose: Literal["as", "rs"],
        origin: str,
        step_seconds: int = 60,
        window_steps: int = 2,
    ) -> None:
        if not secrets:
            raise ConfigurationError("at least one nonce secret is required")
        if any(len(secret) < MIN_SECRET_BYTES for secret in secrets):
            raise ConfigurationError(f"nonce secrets need at least {MIN_SECRET_BYTES} bytes")
        if purpose not in ("as", "rs"):
            raise ConfigurationError("purpose must be 'as' or 'rs'")
        if not origin:
            raise ConfigurationError("origin is required")
        if not 1 <= step_seconds <= 3600 or not 0 <= window_steps <= 10:
            raise ConfigurationError("step_seconds or window_steps out of range")
        self._secrets: tuple[bytes, ...] = tuple(secrets)
        self._prefix = _LABEL + _field(purpose.encode()) + _field(origin.encode("utf-8"))
        self.step_seconds: Final = step_seconds
        self.window_steps: Final = window_steps
        self._issued: tuple[int, str] | None = None  # (step, nonce) last issued

    def _tag(self, secret: bytes, step: int) -> bytes:
        message = self._prefix + step.to_bytes(_STEP_BYTES, "big")
        return hmac.digest(secret, message, "sha256")[:_TAG_BYTES]

    def issue(self, now: int) -> str:
        """Return the nonce for the current step, made with the first secret."""
        step = now // self.step_seconds
        cached = self._issued
        if cached is not None and cached[0] == step:  # one value per step: made once
            return cached[1]
        nonce = b64url_encode(step.to_bytes(_STEP_BYTES, "big") + self._tag(self._secrets[0], step))
        self._issued = (step, nonce)
        return nonce

    def is_valid(self, nonce: str, now: int) -> bool:
        """True if ``nonce`` is one of ours for an accepted step (any configured secret)."""
        if len(nonce) > 64:
            return False
        try:
            raw = b64url_decode(nonce)
        except ValueError:
            return False
        if len(raw) != _STEP_BYTES + _TAG_BYTES:
            return False
        step = int.from_bytes(raw[:_STEP_BYTES], "big")
        current = now // self.step_seconds
        in_window = current - self.window_steps <= step <= current + 1
        tag = raw[_STEP_BYTES:]
        matched = False
        for secret in self._secrets:  # every secret is tried: no early exit to time
            matched |= hmac.compare_digest(tag, self._tag(secret, step))
        return matched and in_window

    def __repr__(self) -> str:
        return f"RollingNonces(secrets=<{len(self._secrets)} redacted>)"
