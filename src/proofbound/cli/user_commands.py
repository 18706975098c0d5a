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
from typing import Annotated

import typer

from proofbound.cli.server_commands import DatabaseUrlOpt, DataDirOpt, database_for

__all__ = ["register"]


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
    data_dir: DataDirOpt = Path(".proofbound"),
    database_url: DatabaseUrlOpt = None,
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
        store = Store.open(database_for(data_dir, database_url))
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
