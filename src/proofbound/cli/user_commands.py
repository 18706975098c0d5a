"""CLI command ``users add``: create a local user of the authorization server's login page.

``proofbound users add NAME [--data-dir DIR | --database-url URL] [--password-file FILE]``

Without ``--password-file`` the password is read twice with :func:`getpass.getpass` (the two must
match); when stdin is not a terminal and no file is given, the command stops with exit code 2
instead of waiting. The file holds the password, with one trailing newline ignored. The password
never reaches stdout, stderr or a log; stdout gets ``{"username": NAME, "created": true}``.
Exit codes: 0 created, 1 the user exists (or the database failed), 2 a usage or input error.
"""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import Annotated, Final

import typer

from proofbound.errors import ConfigurationError

__all__ = ["register"]

_ENV: Final = "PROOFBOUND_"


def _database(data_dir: Path, url: str | None) -> str:
    """``url``, else the SQLite file in ``data_dir`` (created 0700), as ``serve`` uses it."""
    if url:
        return url
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"cannot create the data directory: {exc.strerror}") from None
    return f"sqlite:///{data_dir.resolve() / 'proofbound.db'}"


def _has_tty() -> bool:
    return sys.stdin.isatty()


def _strip_newline(text: str) -> str:
    """``text`` without one trailing newline (``\\n`` or ``\\r\\n``)."""
    for ending in ("\r\n", "\n"):
        if text.endswith(ending):
            return text[: -len(ending)]
    return text


def _password_from_file(path: Path) -> str:
    from proofbound.cli.main import UsageError, read_limited

    try:
        text = read_limited(path).decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError("the password file is not UTF-8 text") from None
    return _strip_newline(text)


def _password_from_prompt() -> str:
    from proofbound.cli.main import UsageError

    if not _has_tty():
        raise UsageError("no terminal to ask for the password; use --password-file FILE")
    try:
        first = getpass.getpass("Password: ")
        second = getpass.getpass("Repeat password: ")
    except EOFError:
        raise UsageError("no password given") from None
    if first != second:
        raise UsageError("the passwords do not match")
    return first


def _users_add(
    name: Annotated[str, typer.Argument(help="The username (and subject identifier).")],
    data_dir: Annotated[
        Path, typer.Option(help="The server's data directory.", envvar=_ENV + "DATA_DIR")
    ] = Path(".proofbound"),
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url", help="PostgreSQL URL instead.", envvar=_ENV + "DATABASE_URL"
        ),
    ] = None,
    password_file: Annotated[
        Path | None,
        typer.Option(help="Read the password from FILE (else prompt twice).", metavar="FILE"),
    ] = None,
) -> None:
    """Add a user who can sign in at the AS; prints {"username": NAME, "created": true}."""
    import time

    from proofbound.cli.main import EXIT_FAILURE, UsageError, diagnosed
    from proofbound.server.users import LocalUsers, UserExists, validate_username
    from proofbound.storage.store import Store

    with diagnosed():
        try:
            validate_username(name)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if password_file is not None:
            password = _password_from_file(password_file)
        else:
            password = _password_from_prompt()
        if not password:
            raise UsageError("the password is empty")
        store = Store.open(_database(data_dir, database_url))
        try:
            LocalUsers(store.engine).add(name, password, now=int(time.time()))
        except UserExists:
            typer.echo("error: user exists", err=True)
            raise typer.Exit(EXIT_FAILURE) from None
        except ValueError:
            raise UsageError("the password is not valid Unicode text") from None
        finally:
            store.close()
    typer.echo(json.dumps({"username": name, "created": True}))


def register(app: typer.Typer) -> None:
    """Add the ``users`` commands to the CLI."""
    users = typer.Typer(help="Manage the users who sign in at the AS.", no_args_is_help=True)
    users.command("add")(_users_add)
    app.add_typer(users, name="users")
