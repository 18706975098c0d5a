"""Leak hygiene: find tokens that got into logs, dumps and files, and revoke the live ones
(``proofbound scan``).

See :mod:`proofbound.leaks.scan`; :mod:`proofbound.redact` keeps tokens from getting there.
"""

from proofbound.leaks.scan import (
    Location,
    Revocation,
    ScanError,
    Scanner,
    ScanReport,
    TokenFinding,
    TokenInfo,
    classify_token,
    iter_files,
    revoke_findings,
    revoke_live_bearer,
    scan_paths,
)

__all__ = [
    "Location",
    "Revocation",
    "ScanError",
    "ScanReport",
    "Scanner",
    "TokenFinding",
    "TokenInfo",
    "classify_token",
    "iter_files",
    "revoke_findings",
    "revoke_live_bearer",
    "scan_paths",
]
