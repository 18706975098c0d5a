"""``proofbound users add``: password from a file or two prompts, never echoed; exit 2 for usage
errors, 1 for an existing user; on SQLite (``--data-dir``) and PostgreSQL (``--database-url``)."""

from __future__ import annotations

import json
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from proofbound.cli import main as cli
from proofbound.cli import user_commands
from proofbound.server import users
from proofbound.server.users import LocalUsers, ScryptCost
from proofbound.storage.store import Store

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def fast_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users, "SCRYPT_COST", ScryptCost(n=2**4, r=8, p=1))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database: a SQLite file, or a new PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'as.db'}"
        return
    base: str = request.getfixturevalue("postgres_url")
    import sqlalchemy

    schema = "pb_users_" + secrets.token_hex(6)
    engine = sqlalchemy.create_engine(base)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def run(args: list[str], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli.app, args, env=env, catch_exceptions=False)


def password_file(tmp_path: Path, content: bytes | str = PASSWORD + "\n") -> Path:
    path = tmp_path / "password.txt"
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", newline="")
    else:
        path.write_bytes(content)
    return path


def authenticate(url: str, name: str, password: str) -> str | None:
    store = Store.open(url)
    try:
        return LocalUsers(store.engine).authenticate(name, password)
    finally:
        store.close()


def exists(url: str, name: str) -> bool:
    store = Store.open(url)
    try:
        return LocalUsers(store.engine).exists(name)
    finally:
        store.close()


def assert_one_error_line(result: Result, code: int, *, contains: str = "") -> None:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert contains in lines[0]
    assert "Traceback" not in result.stderr


def assert_not_echoed(result: Result, *secrets_: str) -> None:
    for secret in secrets_:
        assert secret not in result.stdout
        assert secret not in result.stderr


@pytest.fixture
def no_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(prompt: str = "") -> str:
        pytest.fail("getpass must not be called")

    monkeypatch.setattr(user_commands.getpass, "getpass", refuse)


@pytest.fixture
def tty(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A terminal; the test fills the list with what the user types at each prompt."""
    answers: list[str] = []
    monkeypatch.setattr(user_commands, "_has_tty", lambda: True)

    def fake_getpass(prompt: str = "") -> str:
        if not answers:
            raise EOFError
        return answers.pop(0)

    monkeypatch.setattr(user_commands.getpass, "getpass", fake_getpass)
    return answers


# --- success ------------------------------------------------------------------------------------


def test_add_with_a_password_file(database_url: str, tmp_path: Path, no_prompt: None) -> None:
    file = password_file(tmp_path)
    result = run(["users", "add", "alice", "--database-url", database_url, "--password-file",
                  str(file)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"username": "alice", "created": True}
    assert result.stdout == '{"username": "alice", "created": true}\n'
    assert result.stderr == ""
    assert authenticate(database_url, "alice", PASSWORD) == "alice"
    assert authenticate(database_url, "alice", PASSWORD + "\n") is None
    assert_not_echoed(result, PASSWORD)


def test_add_in_the_data_dir(tmp_path: Path, no_prompt: None) -> None:
    data_dir = tmp_path / "state"
    file = password_file(tmp_path)
    result = run(["users", "add", "bob", "--data-dir", str(data_dir), "--password-file", str(file)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    database = data_dir / "proofbound.db"
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    assert authenticate(f"sqlite:///{database}", "bob", PASSWORD) == "bob"


def test_database_url_from_the_environment(
    database_url: str, tmp_path: Path, no_prompt: None
) -> None:
    file = password_file(tmp_path)
    env = {"PROOFBOUND_DATABASE_URL": database_url}
    result = run(["users", "add", "carol", "--password-file", str(file)], env)
    assert result.exit_code == 0, result.output
    assert exists(database_url, "carol")


@pytest.mark.parametrize(
    ("content", "password"),
    [
        (PASSWORD, PASSWORD),
        (PASSWORD + "\n", PASSWORD),
        (PASSWORD + "\r\n", PASSWORD),
        (PASSWORD + "\n\n", PASSWORD + "\n"),
        (" " + PASSWORD + " \n", " " + PASSWORD + " "),
        ("p\u00e4ss w\u00f6rd\n", "p\u00e4ss w\u00f6rd"),
    ],
    ids=["no newline", "newline", "crlf", "two newlines", "spaces kept", "non-ASCII"],
)
def test_one_trailing_newline_is_stripped(
    tmp_path: Path, no_prompt: None, content: str, password: str
) -> None:
    url = f"sqlite:///{tmp_path / 'as.db'}"
    file = password_file(tmp_path, content)
    result = run(["users", "add", "dave", "--database-url", url, "--password-file", str(file)])
    assert result.exit_code == 0, result.output
    assert authenticate(url, "dave", password) == "dave"
    assert_not_echoed(result, password)


def test_prompts_twice_on_a_terminal(database_url: str, tty: list[str]) -> None:
    tty.extend([PASSWORD, PASSWORD])
    result = run(["users", "add", "erin", "--database-url", database_url])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"username": "erin", "created": True}
    assert tty == []  # both prompts were answered
    assert authenticate(database_url, "erin", PASSWORD) == "erin"
    assert_not_echoed(result, PASSWORD)


# --- refusals -----------------------------------------------------------------------------------


def test_existing_user_is_exit_1(database_url: str, tmp_path: Path, no_prompt: None) -> None:
    first = password_file(tmp_path)
    assert run(["users", "add", "alice", "--database-url", database_url, "--password-file",
                str(first)]).exit_code == 0  # fmt: skip
    second = tmp_path / "other.txt"
    second.write_text("another password\n")
    result = run(["users", "add", "alice", "--database-url", database_url, "--password-file",
                  str(second)])  # fmt: skip
    assert_one_error_line(result, 1)
    assert result.stderr == "error: user exists\n"
    assert authenticate(database_url, "alice", PASSWORD) == "alice"
    assert authenticate(database_url, "alice", "another password") is None
    assert_not_echoed(result, "another password")


def test_no_terminal_and_no_file_is_exit_2(tmp_path: Path, no_prompt: None) -> None:
    data_dir = tmp_path / "d"
    result = run(["users", "add", "alice", "--data-dir", str(data_dir)])
    assert_one_error_line(result, 2, contains="--password-file")
    assert not data_dir.exists()  # refused before the database was touched


def test_mismatching_prompts_are_exit_2(database_url: str, tty: list[str]) -> None:
    tty.extend([PASSWORD, PASSWORD + "!"])
    result = run(["users", "add", "alice", "--database-url", database_url])
    assert_one_error_line(result, 2, contains="do not match")
    assert_not_echoed(result, PASSWORD)
    assert not exists(database_url, "alice")


def test_end_of_input_at_a_prompt_is_exit_2(tmp_path: Path, tty: list[str]) -> None:
    tty.append(PASSWORD)  # the second prompt gets EOF
    result = run(["users", "add", "alice", "--data-dir", str(tmp_path / "d")])
    assert_one_error_line(result, 2, contains="no password")
    assert_not_echoed(result, PASSWORD)


@pytest.mark.parametrize("content", ["", "\n", "\r\n"], ids=["empty", "newline", "crlf"])
def test_an_empty_password_is_exit_2(tmp_path: Path, no_prompt: None, content: str) -> None:
    file = password_file(tmp_path, content)
    data_dir = tmp_path / "d"
    result = run(["users", "add", "alice", "--data-dir", str(data_dir), "--password-file",
                  str(file)])  # fmt: skip
    assert_one_error_line(result, 2, contains="empty")
    assert not data_dir.exists()


def test_empty_prompt_answers_are_exit_2(tmp_path: Path, tty: list[str]) -> None:
    tty.extend(["", ""])
    result = run(["users", "add", "alice", "--data-dir", str(tmp_path / "d")])
    assert_one_error_line(result, 2, contains="empty")


def test_an_unreadable_password_file_is_exit_2(tmp_path: Path, no_prompt: None) -> None:
    result = run(["users", "add", "alice", "--data-dir", str(tmp_path / "d"), "--password-file",
                  str(tmp_path / "missing.txt")])  # fmt: skip
    assert_one_error_line(result, 2, contains="cannot read")


def test_a_non_utf8_password_file_is_exit_2(tmp_path: Path, no_prompt: None) -> None:
    file = password_file(tmp_path, b"secret\xff\xfepassword\n")
    result = run(["users", "add", "alice", "--data-dir", str(tmp_path / "d"), "--password-file",
                  str(file)])  # fmt: skip
    assert_one_error_line(result, 2, contains="not UTF-8")
    assert_not_echoed(result, "secret")


def test_a_huge_password_file_is_exit_2(tmp_path: Path, no_prompt: None) -> None:
    file = password_file(tmp_path, "x" * (1024 * 1024))
    result = run(["users", "add", "alice", "--data-dir", str(tmp_path / "d"), "--password-file",
                  str(file)])  # fmt: skip
    assert_one_error_line(result, 2, contains="too large")


BAD_NAMES = {
    "65 characters": "x" * 65,
    "space": "alice smith",
    "slash": "a/b",
    "non-ASCII": "j\u00fcrgen",
    "markup": "<b>",
    "empty": "",
}


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_bad_usernames_are_exit_2(tmp_path: Path, no_prompt: None, name: str) -> None:
    file = password_file(tmp_path)
    data_dir = tmp_path / "d"
    result = run(["users", "add", name, "--data-dir", str(data_dir), "--password-file", str(file)])
    assert_one_error_line(result, 2, contains="1 to 64 characters")
    assert not data_dir.exists()
    assert_not_echoed(result, PASSWORD)


def test_a_bad_username_is_refused_before_prompting(tmp_path: Path, no_prompt: None) -> None:
    # no_prompt fails the test if getpass is called; not a terminal either: the name comes first.
    result = run(["users", "add", "bad name", "--data-dir", str(tmp_path / "d")])
    assert_one_error_line(result, 2, contains="1 to 64 characters")


def test_an_unreachable_database_is_exit_1_without_the_url_password(
    tmp_path: Path, no_prompt: None
) -> None:
    file = password_file(tmp_path)
    url = "postgresql+psycopg://pb:db-secret-pw@127.0.0.1:1/none?connect_timeout=1"
    result = run(["users", "add", "alice", "--database-url", url, "--password-file", str(file)])
    assert_one_error_line(result, 1, contains="storage_unavailable")
    assert_not_echoed(result, "db-secret-pw", PASSWORD)


def test_users_help_lists_add() -> None:
    result = run(["users", "--help"])
    assert result.exit_code == 0
    assert "add" in result.stdout
    detail: Any = run(["users", "add", "--help"])
    assert "--password-file" in detail.stdout
    assert "--database-url" in detail.stdout
