"""``proofbound scan``: find leaked tokens in files, report them, and revoke the live ones.

::

    proofbound scan PATH... [--format text|json|sarif] [--now EPOCH]
                    [--revoke --issuer URL (--admin-token T | --admin-token-file F)
                     [--revoke-bound]]

PATHs are files (plain or gzip), directories (scanned recursively) or ``-`` (stdin). Findings
name tokens by fingerprint (``at#3f9a1c2b``) and ``file:line``; no output ever contains a token.
JWT claims are read **without verifying** signatures (see :mod:`proofbound.leaks.scan`).

``--revoke`` sends every live bearer token whose ``iss`` is ``--issuer`` (and, with
``--revoke-bound``, every live DPoP- or certificate-bound one) to ``POST {issuer}/admin/revoke``
as ``{"token": ...}`` with ``Authorization: Bearer <admin token>``. Tokens of other issuers are
never sent anywhere.

Output: the report on stdout (with ``json`` and ``sarif`` it is the only thing there); a
progress bar on stderr when stderr is a terminal and the input is large. Exit codes: ``1`` a live
bearer token was found and not revoked; ``0`` none was (or all were revoked, or were already
inactive at their issuer); ``2`` usage errors, and inputs that could not be read (when no live
bearer token was found in the rest).
"""

from __future__ import annotations

import enum
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import quote

import typer

from proofbound.__about__ import __version__
from proofbound.leaks.scan import (
    Revocation,
    Scanner,
    ScanReport,
    TokenFinding,
    iter_files,
    revoke_findings,
)

__all__ = ["register"]

_ENV: Final = "PROOFBOUND_"
#: Inputs at least this large get a progress bar (on a terminal).
PROGRESS_THRESHOLD: Final = 64 << 20
#: Locations listed per token in the text report.
_TEXT_LOCATIONS: Final = 5


class Format(enum.StrEnum):
    """Report formats."""

    text = "text"
    json = "json"
    sarif = "sarif"


def _revoke(
    report: ScanReport, issuer: str, admin_token: str, *, bound: bool
) -> dict[str, Revocation]:
    wanted = [
        token for token in report.tokens if token.is_live_bearer or (bound and token.is_live_bound)
    ]
    results = revoke_findings(wanted, issuer=issuer, admin_token=admin_token)
    stop = next(
        (r for r in results.values() if r.outcome == "failed" or r.status in (401, 403)), None
    )
    if stop is not None:
        why = f"HTTP {stop.status} {stop.error or ''}".strip() if stop.status else stop.error
        typer.echo(f"error: revocation at {issuer!r} stopped: {why or 'error'}", err=True)
    return results


# --- reports ------------------------------------------------------------------------------------


def _category(token: TokenFinding, revocation: Revocation | None) -> str:
    if token.kind == "dpop_proof":
        return "dpop-proof"
    if revocation is not None and revocation.inactive:
        return "revoked-token"
    if token.is_live_bearer:
        return "live-bearer-token"
    if token.is_live_bound:
        return "live-bound-token"
    if token.status == "expired":
        return "expired-token"
    return "unknown-status-token"


_ORDER: Final = {
    "live-bearer-token": 0,
    "live-bound-token": 1,
    "unknown-status-token": 2,
    "revoked-token": 3,
    "expired-token": 4,
    "dpop-proof": 5,
}
_RULES: Final = {
    "live-bearer-token": (
        "error",
        "A live bearer token: anyone who reads this file can use it until it expires.",
    ),
    "live-bound-token": (
        "warning",
        "A live sender-constrained token (DPoP or mTLS): useless without its key, still a leak.",
    ),
    "unknown-status-token": (
        "warning",
        "A token whose expiry cannot be read (opaque or encrypted): ask its issuer.",
    ),
    "revoked-token": ("note", "A token revoked at its issuer by this scan, or already inactive."),
    "expired-token": ("note", "An expired token (by its unverified exp claim)."),
    "dpop-proof": ("note", "A DPoP proof: single-use and bound to its key, low risk."),
}


@dataclass(frozen=True, slots=True)
class _Summary:
    tokens: int
    occurrences: int
    live_bearer: int
    live_bound: int
    expired: int
    unknown: int
    revoked: int
    live_bearer_unrevoked: int


def _summary(report: ScanReport, revocations: dict[str, Revocation]) -> _Summary:
    def dead(token: TokenFinding) -> bool:
        result = revocations.get(token.fingerprint)
        return result is not None and result.inactive

    live_bearer = report.live_bearer
    return _Summary(
        tokens=len(report.tokens),
        occurrences=sum(token.occurrences for token in report.tokens),
        live_bearer=len(live_bearer),
        live_bound=len(report.live_bound),
        expired=sum(token.status == "expired" for token in report.tokens),
        unknown=sum(token.status == "unknown" for token in report.tokens),
        revoked=sum(result.outcome == "revoked" for result in revocations.values()),
        live_bearer_unrevoked=sum(not dead(token) for token in live_bearer),
    )


def _printable(text: str) -> str:
    """``text`` with control characters escaped (a hostile file name cannot drive the
    terminal)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def _when(epoch: int | None, now: int) -> str:
    if epoch is None:
        return "no exp"
    try:
        stamp = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        stamp = str(epoch)
    delta = epoch - now
    if delta > 0:
        return f"exp {stamp} (in {_duration(delta)})"
    return f"exp {stamp} ({_duration(-delta)} ago)"


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _size(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 100_000 else f"{count} bytes"


def render_text(report: ScanReport, revocations: dict[str, Revocation]) -> str:
    """The human report: one block per distinct token, worst first."""
    summary = _summary(report, revocations)
    lines = [
        f"proofbound scan: {report.files} file{'s' * (report.files != 1)}, "
        f"{_size(report.bytes)}: {summary.tokens} distinct token{'s' * (summary.tokens != 1)} "
        f"in {summary.occurrences} place{'s' * (summary.occurrences != 1)}"
        + (" (JWT claims read without verifying signatures)" if report.tokens else "")
    ]
    ranked = sorted(
        report.tokens,
        key=lambda token: _ORDER[_category(token, revocations.get(token.fingerprint))],
    )
    for token in ranked:
        revocation = revocations.get(token.fingerprint)
        category = _category(token, revocation)
        label = {
            "live-bearer-token": "LIVE BEARER",
            "live-bound-token": f"live {token.binding}",
            "unknown-status-token": "unknown",
            "revoked-token": "revoked",
            "expired-token": "expired",
            "dpop-proof": "dpop proof",
        }[category]
        kind = token.kind if token.is_jwt else f"{token.format} {token.kind}"
        parts = [f"{label:<12}", token.fingerprint, kind]
        if token.binding not in ("bearer", "unknown") and category not in (
            "live-bound-token",
            "dpop-proof",
        ):
            parts.append(token.binding)
        if token.issuer:
            parts.append(f"iss={_printable(token.issuer)}")
        if token.client_id:
            parts.append(f"client_id={_printable(token.client_id)}")
        if token.is_jwt:
            parts.append(_when(token.expires_at, report.now))
        if revocation is not None:
            parts.append(f"[{_revocation_text(revocation)}]")
        lines.append("  ".join(parts))
        for location in token.locations[:_TEXT_LOCATIONS]:
            lines.append(f"    {_printable(location.path)}:{location.line}")
        more = token.occurrences - min(len(token.locations), _TEXT_LOCATIONS)
        if more > 0:
            lines.append(f"    ... and {more} more")
    for error in report.errors:
        lines.append(f"not scanned: {_printable(error.path)}: {_printable(error.message)}")
    lines.append(
        f"summary: {summary.live_bearer} live bearer"
        + (
            f" ({summary.live_bearer - summary.live_bearer_unrevoked} revoked or inactive, "
            f"{summary.live_bearer_unrevoked} left)"
            if revocations
            else ""
        )
        + f", {summary.live_bound} live bound, {summary.expired} expired, "
        f"{summary.unknown} unknown status"
    )
    return "\n".join(lines)


def _revocation_text(revocation: Revocation) -> str:
    if revocation.outcome in ("refused", "unknown_to_issuer", "failed"):
        detail = " ".join(
            str(part) for part in (revocation.status, revocation.error) if part is not None
        )
        return f"{revocation.outcome.replace('_', ' ')}{': ' + detail if detail else ''}"
    return revocation.outcome.replace("_", " ")


def _token_json(token: TokenFinding, revocation: Revocation | None) -> dict[str, Any]:
    return {
        "fingerprint": token.fingerprint,
        "format": token.format,
        "kind": token.kind,
        "binding": token.binding,
        "status": token.status,
        "expires_at": token.expires_at,
        "issuer": token.issuer,
        "client_id": token.client_id,
        "category": _category(token, revocation),
        "occurrences": token.occurrences,
        "locations": [{"path": loc.path, "line": loc.line} for loc in token.locations],
        "revocation": None
        if revocation is None
        else {
            "outcome": revocation.outcome,
            "status": revocation.status,
            "error": revocation.error,
        },
    }


def render_json(report: ScanReport, revocations: dict[str, Revocation]) -> str:
    """The report as one JSON document."""
    summary = _summary(report, revocations)
    document = {
        "tool": "proofbound scan",
        "version": __version__,
        "claims_verified": False,
        "now": report.now,
        "files": report.files,
        "bytes": report.bytes,
        "summary": {name: getattr(summary, name) for name in summary.__slots__},
        "tokens": [
            _token_json(token, revocations.get(token.fingerprint)) for token in report.tokens
        ],
        "errors": [{"path": error.path, "message": error.message} for error in report.errors],
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


def _uri(path: str) -> str:
    if os.path.isabs(path):
        return Path(path).as_uri()
    return quote(path.replace(os.sep, "/"))


def render_sarif(report: ScanReport, revocations: dict[str, Revocation]) -> str:
    """The report as SARIF 2.1.0: one result per occurrence, fingerprinted by token."""
    rules = [
        {
            "id": rule,
            "name": "".join(word.title() for word in rule.split("-")),
            "shortDescription": {"text": text},
            "defaultConfiguration": {"level": level},
        }
        for rule, (level, text) in _RULES.items()
    ]
    results = []
    for token in report.tokens:
        revocation = revocations.get(token.fingerprint)
        category = _category(token, revocation)
        level, _text = _RULES[category]
        what = (
            f"{token.kind.replace('_', ' ')} {token.fingerprint} ({token.binding}, {token.status}"
        )
        if token.issuer:
            what += f", iss {token.issuer}"
        what += "; claims not verified)"
        if revocation is not None:
            what += f"; revocation: {_revocation_text(revocation)}"
        for location in token.locations:
            results.append(
                {
                    "ruleId": category,
                    "level": level,
                    "message": {"text": what},
                    "locations": [
                        {
                            "physicalLocation": {
                                "artifactLocation": {"uri": _uri(location.path)},
                                "region": {"startLine": location.line},
                            }
                        }
                    ],
                    "partialFingerprints": {"tokenFingerprint/v1": token.fingerprint},
                }
            )
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "proofbound-scan",
                        "version": __version__,
                        "rules": rules,
                    }
                },
                "results": results,
                "invocations": [
                    {
                        "executionSuccessful": not report.errors,
                        "toolExecutionNotifications": [
                            {
                                "level": "error",
                                "message": {"text": f"not scanned: {error.message}"},
                                "locations": [
                                    {
                                        "physicalLocation": {
                                            "artifactLocation": {"uri": _uri(error.path)}
                                        }
                                    }
                                ],
                            }
                            for error in report.errors
                        ],
                    }
                ],
            }
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


_RENDERERS: Final[dict[Format, Callable[[ScanReport, dict[str, Revocation]], str]]] = {
    Format.text: render_text,
    Format.json: render_json,
    Format.sarif: render_sarif,
}


# --- the command --------------------------------------------------------------------------------


def _total_size(files: Sequence[str]) -> int:
    total = 0
    for path in files:
        try:
            total += os.stat(path).st_size if path != "-" else 0
        except OSError:
            continue
    return total


@contextmanager
def _progress(total: int) -> Iterator[Callable[[int], None] | None]:
    """A progress callback drawing a bar on stderr, if it is a terminal and ``total`` large."""
    if total < PROGRESS_THRESHOLD or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("scanning"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("scan", total=total)
        yield lambda done: bar.update(task, completed=done)


def _admin_secret(token: str | None, file: Path | None) -> str:
    from proofbound.cli.main import UsageError, read_limited

    if token is not None and file is not None:
        raise UsageError("give --admin-token or --admin-token-file, not both")
    if file is not None:
        token = read_limited(file).decode("utf-8", "replace").strip()
    if not token:
        raise UsageError("--revoke needs --admin-token or --admin-token-file")
    return token


def _from_command_line(ctx: typer.Context, name: str) -> bool:
    # By name: Typer may bring its own copy of Click's ParameterSource enum.
    source = ctx.get_parameter_source(name)
    return getattr(source, "name", None) == "COMMANDLINE"


def _scan(
    ctx: typer.Context,
    paths: Annotated[
        list[str],
        typer.Argument(
            help="Files, directories (recursive) or '-' for stdin.",
            metavar="PATH...",
            show_default=False,
        ),
    ],
    output_format: Annotated[
        Format, typer.Option("--format", help="Report format.", case_sensitive=False)
    ] = Format.text,
    now: Annotated[
        int | None,
        typer.Option(help="Judge expiry at this Unix time instead of now.", show_default=False),
    ] = None,
    revoke: Annotated[
        bool, typer.Option("--revoke", help="Revoke the live bearer tokens at --issuer.")
    ] = False,
    issuer: Annotated[
        str | None,
        typer.Option(
            help="The AS whose tokens --revoke revokes (its issuer URL).", show_default=False
        ),
    ] = None,
    admin_token: Annotated[
        str | None,
        typer.Option(
            help="Admin token of the AS (prefer --admin-token-file).",
            envvar=_ENV + "ADMIN_TOKEN",
            show_default=False,
        ),
    ] = None,
    admin_token_file: Annotated[
        Path | None,
        typer.Option(help="Read the admin token from a file.", show_default=False),
    ] = None,
    revoke_bound: Annotated[
        bool,
        typer.Option("--revoke-bound", help="With --revoke: also revoke live bound tokens."),
    ] = False,
) -> None:
    """Find leaked tokens in files and directories (logs, HAR, JSON, text, .gz).

    Reports each distinct token by fingerprint and file:line, never the token.

    Exit code 1: a live bearer token was found and not revoked; 0: none; 2: usage errors.
    """
    from proofbound.cli.main import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError, diagnosed

    with diagnosed():
        if not revoke:
            for name in ("issuer", "admin_token", "admin_token_file", "revoke_bound"):
                if _from_command_line(ctx, name):
                    option = "--" + name.replace("_", "-")
                    raise UsageError(f"{option} needs --revoke")
        secret = ""
        if revoke:
            if not issuer:
                raise UsageError("--revoke needs --issuer")
            if not issuer.startswith(("https://", "http://")):
                raise UsageError("--issuer must be an http(s) URL")
            secret = _admin_secret(admin_token, admin_token_file)
        for path in paths:
            if path != "-" and not os.path.lexists(path):
                raise UsageError(f"{_show(path)} does not exist")
        if paths.count("-") > 1:
            raise UsageError("'-' (stdin) can be given once")
        moment = int(time.time()) if now is None else now
        files = list(iter_files(paths))
        with _progress(_total_size(files)) as on_progress:
            scanner = Scanner(now=moment, on_progress=on_progress)
            for path in files:
                scanner.scan_path(path)
        report = scanner.report()
        revocations: dict[str, Revocation] = {}
        if revoke and issuer:
            revocations = _revoke(report, issuer, secret, bound=revoke_bound)
        output = _RENDERERS[output_format](report, revocations)
    typer.echo(output)
    summary = _summary(report, revocations)
    if summary.live_bearer_unrevoked:
        raise typer.Exit(EXIT_FAILURE)
    raise typer.Exit(EXIT_USAGE if report.errors else EXIT_OK)


def _show(path: str) -> str:
    return repr(path)


def register(app: typer.Typer) -> None:
    """Add ``scan`` to the CLI."""
    app.command("scan")(_scan)
