"""The client's DPoP key: generated once, kept in a file only its owner can read, reused across
token refreshes (the tokens stay bound to one thumbprint until the key is rotated on purpose).

The private key never appears in a repr, a log line or an error message.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path
from typing import Final, Protocol

from proofbound.errors import InvalidKey
from proofbound.jwk.keys import SigningKey, generate_key, load_private_key
from proofbound.types import Thumbprint

__all__ = ["DPoPKey", "FileKeyStore", "KeyStore"]

_MAX_KEY_FILE: Final = 64 * 1024


class DPoPKey:
    """A client's private signing key for DPoP proofs (and, often, for its assertions)."""

    __slots__ = ("signing_key",)

    def __init__(self, signing_key: SigningKey) -> None:
        self.signing_key: Final = signing_key

    @classmethod
    def generate(cls, alg: str = "ES256") -> DPoPKey:
        """A fresh key (ES256 by default: small proofs, fast everywhere)."""
        return cls(generate_key(alg))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DPoPKey:
        """Read a private JWK or PEM file.

        Raises:
            InvalidKey: unreadable, too large, or not a private key.
        """
        try:
            with open(path, "rb") as handle:
                data = handle.read(_MAX_KEY_FILE + 1)
        except OSError as exc:
            raise InvalidKey(f"cannot read the key file: {exc.strerror}") from None
        if len(data) > _MAX_KEY_FILE:
            raise InvalidKey("the key file is too large")
        return cls(load_private_key(data))

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        """Write the private JWK to ``path`` with mode 0600 (atomically; never over an existing
        file unless ``overwrite``)."""
        target = Path(path)
        data = json.dumps(self.signing_key.private_jwk(), indent=2).encode() + b"\n"
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            if overwrite:
                os.replace(tmp, target)
            else:
                os.link(tmp, target)  # fails if the target exists
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    @property
    def thumbprint(self) -> Thumbprint:
        """RFC 7638 thumbprint of the public key (the ``jkt`` tokens are bound to)."""
        return self.signing_key.thumbprint

    @property
    def alg(self) -> str:
        """The JWS algorithm of the key."""
        return self.signing_key.alg

    def __repr__(self) -> str:
        return f"DPoPKey(alg={self.alg!r}, jkt={self.thumbprint[:8]!r}…)"


class KeyStore(Protocol):
    """Where a client keeps its key."""

    def load_or_create(self) -> DPoPKey:
        """The stored key, created on first use."""


class FileKeyStore:
    """A key in one file (JWK, mode 0600), created on first use and reused afterwards.

    Args:
        path: the key file.
        alg: the algorithm of a key created here.
    """

    def __init__(self, path: str | os.PathLike[str], *, alg: str = "ES256") -> None:
        self.path: Final = Path(path)
        self.alg: Final = alg

    def load_or_create(self) -> DPoPKey:
        """Load the key, or create and save it if the file does not exist yet."""
        if self.path.exists():
            return DPoPKey.load(self.path)
        key = DPoPKey.generate(self.alg)
        try:
            key.save(self.path)
        except FileExistsError:  # another process created it first: use theirs
            return DPoPKey.load(self.path)
        return key

    def __repr__(self) -> str:
        return f"FileKeyStore(path={str(self.path)!r})"
