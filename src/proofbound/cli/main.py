"""The ``proofbound`` command line: key generation and RFC 7638 thumbprints.

Contract (STYLE §2.4):

* stdout carries only machine-readable results (JSON, or a bare thumbprint);
  diagnostics and logs go to stderr.
* A failure prints exactly one ``error: ...`` line on stderr, never a traceback and never any of
  the input, which may hold a private key.
* Exit codes: ``0`` success, ``2`` usage or input error (bad option, unreadable file, not a
  usable key, refusing to overwrite), ``1`` anything else (a bug or a backend failure).

Commands::

    proofbound --version
    proofbound keys generate --alg ES256|EdDSA|PS256|RS256 --out FILE [--force]
    proofbound keys thumbprint [FILE|-]
    proofbound demo
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Final

import typer
from cryptography.exceptions import UnsupportedAlgorithm

from proofbound.__about__ import __version__
from proofbound._internal.strict_json import StrictJSONError, loads_object
from proofbound.errors import ConfigurationError, InvalidKey, ProofboundError
from proofbound.jwk import PublicKey, generate_key, load_public_key

__all__ = [
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "MAX_KEY_INPUT",
    "KeyAlg",
    "UsageError",
    "app",
    "diagnosed",
    "exit_code_for",
    "main",
    "read_limited",
]

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2  # also what Typer/Click use for bad options

#: Largest key input read; an 8192-bit RSA private JWK or PEM is well under 16 KiB.
MAX_KEY_INPUT: Final = 64 * 1024

_PRIVATE_FILE_MODE: Final = 0o600

_logger = logging.getLogger(__name__)


class KeyAlg(enum.StrEnum):
    """Algorithms ``keys generate`` offers (the DPoP-relevant subset of the registry)."""

    ES256 = "ES256"
    EdDSA = "EdDSA"
    PS256 = "PS256"
    RS256 = "RS256"


class UsageError(Exception):
    """A user or input mistake; its message is fixed text and never contains the input."""


def read_limited(path: Path) -> bytes:
    """Read a small input file (a key, a certificate, a token), refusing large ones.

    Raises:
        UsageError: unreadable, or larger than :data:`MAX_KEY_INPUT`.
    """
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_KEY_INPUT + 1)
    except OSError as exc:
        raise UsageError(f"cannot read {_show_path(path)}: {_strerror(exc)}") from None
    if len(data) > MAX_KEY_INPUT:
        raise UsageError(f"{_show_path(path)} is too large")
    return data


app = typer.Typer(
    name="proofbound",
    help="Sender-constrained OAuth tokens (DPoP, RFC 9449; mTLS, RFC 8705).",
    no_args_is_help=True,
    add_completion=False,
    # Tracebacks (and their locals) could show key material: failures are reported by diagnosed.
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
)
_keys_app = typer.Typer(
    help="Generate signing keys and compute JWK thumbprints (RFC 7638).",
    no_args_is_help=True,
)
app.add_typer(_keys_app, name="keys")


def exit_code_for(exc: ProofboundError) -> int:
    """Exit code for a library error: bad keys or settings are input errors (2), others 1."""
    if isinstance(exc, InvalidKey | ConfigurationError):
        return EXIT_USAGE
    return EXIT_FAILURE


def _error(message: str) -> None:
    # One line, whatever the message holds: scripts read stderr line by line.
    line = " ".join(message.split())
    typer.echo(f"error: {line}", err=True)


def _show_path(path: str | os.PathLike[str]) -> str:
    # repr() escapes control characters, so a hostile file name cannot rewrite the terminal.
    return repr(os.fspath(path))


@contextlib.contextmanager
def diagnosed() -> Iterator[None]:
    """Turn every failure into one stderr line and an exit code (STYLE §2.4)."""
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except UsageError as exc:
        _error(str(exc))
        raise typer.Exit(EXIT_USAGE) from None
    except ProofboundError as exc:
        # detail is fixed operator text by contract (errors.py): it never holds key material.
        _error(exc.diagnostics())
        raise typer.Exit(exit_code_for(exc)) from None
    except Exception as exc:
        # Third-party messages may quote their input, so only the type is shown.
        _logger.debug("unexpected error", exc_info=True)
        _error(f"internal error ({type(exc).__name__}); this is a bug, please report it")
        raise typer.Exit(EXIT_FAILURE) from None


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"proofbound {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Sender-constrained OAuth tokens (DPoP, RFC 9449; mTLS, RFC 8705)."""


# --- keys generate ------------------------------------------------------------------------------


def _strerror(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _create_exclusive(path: Path, data: bytes) -> None:
    # O_EXCL: never overwrite, never follow a planted symlink; 0600 from the first byte.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, _PRIVATE_FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), _PRIVATE_FILE_MODE)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        # A partial key file is worse than none.
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise


def _write_private_file(path: Path, data: bytes, *, force: bool) -> None:
    """Write ``data`` to ``path`` with mode 0600, atomically.

    The bytes go to a 0600 temporary file in the same directory, which then takes the final name
    in one step: ``os.link`` (fails if the name exists, so no overwrite race) or, with ``force``,
    ``os.replace``. Readers see either no file or the whole key, and never a world-readable one.
    Where hard links are not supported, the file is created with ``O_EXCL`` and mode 0600.

    Raises:
        UsageError: the file exists and ``force`` is false, or it cannot be written.
    """
    directory = path.parent
    try:
        # mkstemp opens with O_EXCL and mode 0600 (before the umask).
        fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise UsageError(f"cannot write {_show_path(path)}: {_strerror(exc)}") from None
    try:
        with os.fdopen(fd, "wb") as tmp:
            os.fchmod(tmp.fileno(), _PRIVATE_FILE_MODE)  # exact, whatever the umask
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        if force:
            os.replace(tmp_name, path)
        else:
            try:
                os.link(tmp_name, path)
            except FileExistsError:
                raise
            except OSError:
                _create_exclusive(path, data)  # a filesystem without hard links
    except FileExistsError:
        raise UsageError(
            f"{_show_path(path)} already exists; use --force to overwrite it"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot write {_show_path(path)}: {_strerror(exc)}") from None
    finally:
        # After os.replace the name is gone; after os.link (or a failure) it must be removed.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)


@_keys_app.command("generate")
def _generate(
    alg: Annotated[
        KeyAlg,
        typer.Option("--alg", help="JWS algorithm the key is for.", case_sensitive=True),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="File to create with the private JWK (mode 0600).",
            metavar="FILE",
        ),
    ],
    force: Annotated[bool, typer.Option("--force", help="Overwrite FILE if it exists.")] = False,
) -> None:
    """Generate a signing key: the private JWK goes to FILE, the public JWK to stdout.

    FILE gets one private JWK with kid (its RFC 7638 thumbprint), alg and use "sig".
    stdout gets only {"jwk": <public JWK>, "thumbprint": "..."}.
    """
    with diagnosed():
        if os.fspath(out) == "-":
            raise UsageError("--out must name a file: a private key is never written to stdout")
        # Fail before the (slow, for RSA) key generation; _write_private_file rechecks atomically.
        if not force and os.path.lexists(out):
            raise UsageError(f"{_show_path(out)} already exists; use --force to overwrite it")
        key = generate_key(alg.value)
        private = json.dumps(key.private_jwk(), indent=2) + "\n"
        _write_private_file(out, private.encode("ascii"), force=force)
        result = json.dumps({"jwk": key.public_jwk(), "thumbprint": key.thumbprint})
    typer.echo(result)


# --- keys thumbprint ----------------------------------------------------------------------------


def _read_key_input(source: str) -> bytes:
    if source == "-":
        data = typer.get_binary_stream("stdin").read(MAX_KEY_INPUT + 1)
    else:
        try:
            with open(source, "rb") as file:
                data = file.read(MAX_KEY_INPUT + 1)
        except OSError as exc:
            raise UsageError(f"cannot read {_show_path(source)}: {_strerror(exc)}") from None
    if len(data) > MAX_KEY_INPUT:
        raise UsageError(f"input is larger than {MAX_KEY_INPUT} bytes; not a key")
    if not data.strip():
        raise UsageError("empty input: expected a JWK (JSON object) or a PEM key")
    return data


def _parse_public_key(data: bytes) -> PublicKey:
    """Read the public key of a JWK (public or private) or a PEM (public or private key).

    Raises:
        InvalidKey: a JWK or PEM that is not a usable key (reason ``key_invalid``).
        UsageError: input that is neither a JSON object nor a PEM, or a JWK Set.
    """
    stripped = data.lstrip()
    if not stripped.startswith(b"{") and b"-----BEGIN" in stripped:
        try:
            text = data.decode("ascii")  # PEM is ASCII (RFC 7468 §3)
        except UnicodeDecodeError:
            raise UsageError("not a PEM key: the input is not ASCII") from None
        try:
            return load_public_key(text)
        except UnsupportedAlgorithm:
            # cryptography refuses some curves (secp112r1, SM2) with this, not ValueError.
            raise InvalidKey("unsupported key type or curve in PEM") from None
    try:
        # Strict: duplicate members would make the thumbprint ambiguous (RFC 7638 §3.1).
        jwk = loads_object(data, max_bytes=MAX_KEY_INPUT)
    except StrictJSONError as exc:
        # The messages of StrictJSONError are fixed words ("not JSON", "duplicate member name").
        raise UsageError(f"not a JWK (JSON object) or PEM key: {exc}") from None
    if "kty" not in jwk and "keys" in jwk:
        raise UsageError('this is a JWK Set; give one JWK (an element of "keys")')
    return load_public_key(jwk)


@_keys_app.command("thumbprint")
def _thumbprint(
    source: Annotated[
        str,
        typer.Argument(
            help="JWK (public or private) or PEM key file; '-' reads stdin.",
            metavar="[FILE|-]",
            show_default=False,
        ),
    ] = "-",
) -> None:
    """Print the RFC 7638 SHA-256 thumbprint of a key (a private key gives its public one's)."""
    with diagnosed():
        result = _parse_public_key(_read_key_input(source)).thumbprint
    typer.echo(result)


# --- demo ---------------------------------------------------------------------------------------


@app.command("demo")
def _demo(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the outcome as one JSON object on stdout.")
    ] = False,
) -> None:
    """The replay-attack demo: stolen bearer tokens work, stolen bound tokens do not."""
    from proofbound.cli import demo

    with diagnosed():
        code = demo.main(as_json=as_json)
    raise typer.Exit(code)


def _register_server_commands() -> None:
    from proofbound.cli.client_commands import register as register_client
    from proofbound.cli.example_api import register as register_example_api
    from proofbound.cli.scan_command import register as register_scan
    from proofbound.cli.server_commands import register
    from proofbound.cli.user_commands import register as register_users

    register(app, _keys_app)
    register_example_api(app)
    register_client(app)
    register_scan(app)
    register_users(app)


_register_server_commands()


def main() -> None:
    """Console-script entry point: run the CLI with logging on stderr."""
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from proofbound import redact

    redact.install()
    app(prog_name="proofbound")


if __name__ == "__main__":
    main()
