"""proofbound: sender-constrained OAuth access tokens (DPoP, RFC 9449; mTLS, RFC 8705).

The stable surface is re-exported here; subpackages (``proofbound.dpop``, ``proofbound.jwk``,
``proofbound.replay``, ...) may be imported directly. ``proofbound._internal`` has no stability
guarantee.
"""

from proofbound.__about__ import __version__
from proofbound.access_token import (
    AccessTokenPolicy,
    AccessTokenVerifier,
    VerifiedAccessToken,
    issue_access_token,
)
from proofbound.binding import Binding, binding_from_cnf, check_binding
from proofbound.clock import Clock, FrozenClock, SystemClock
from proofbound.dpop import (
    DPoPVerifier,
    NonceSource,
    ProofPolicy,
    RollingNonces,
    VerifiedProof,
    access_token_hash,
    create_proof,
    normalize_htu,
    verify_proof,
)
from proofbound.errors import (
    ConfigurationError,
    InvalidDPoPProof,
    InvalidKey,
    InvalidToken,
    OAuthError,
    ProofboundError,
    Reason,
    StorageUnavailable,
    UseDPoPNonce,
)
from proofbound.jwk import (
    PublicKey,
    SigningKey,
    generate_key,
    jwk_thumbprint,
    load_private_key,
    load_public_key,
    x5t_s256,
)
from proofbound.mtls import ClientCertificate, load_certificate
from proofbound.replay import (
    AsyncReplayCache,
    MemoryReplayCache,
    ReplayCache,
    record_proof,
    record_proof_async,
    replay_key,
)

__all__ = [
    "AccessTokenPolicy",
    "AccessTokenVerifier",
    "AsyncReplayCache",
    "Binding",
    "ClientCertificate",
    "Clock",
    "ConfigurationError",
    "DPoPVerifier",
    "FrozenClock",
    "InvalidDPoPProof",
    "InvalidKey",
    "InvalidToken",
    "MemoryReplayCache",
    "NonceSource",
    "OAuthError",
    "ProofPolicy",
    "ProofboundError",
    "PublicKey",
    "Reason",
    "ReplayCache",
    "RollingNonces",
    "SigningKey",
    "StorageUnavailable",
    "SystemClock",
    "UseDPoPNonce",
    "VerifiedAccessToken",
    "VerifiedProof",
    "__version__",
    "access_token_hash",
    "binding_from_cnf",
    "check_binding",
    "create_proof",
    "generate_key",
    "issue_access_token",
    "jwk_thumbprint",
    "load_certificate",
    "load_private_key",
    "load_public_key",
    "normalize_htu",
    "record_proof",
    "record_proof_async",
    "replay_key",
    "verify_proof",
    "x5t_s256",
]
