"""``proofbound.leaks.scan``: realistic corpora (nginx, application logs, HAR, gzip), exact
locations, classification from unverified claims, false positives, streaming edge cases, and
that no report form ever contains a token."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import io
import json
import os
from pathlib import Path

import httpx
import pytest
from tests.unit.leaks._corpus import (
    ISSUER,
    NOW,
    Placed,
    Tokens,
    Writer,
    access_token,
    app_log,
    fingerprint_hex,
    har_file,
    nginx_line,
    nginx_log,
)

from proofbound.jwk.keys import SigningKey, generate_key
from proofbound.leaks import (
    Scanner,
    TokenFinding,
    classify_token,
    iter_files,
    revoke_findings,
    scan_paths,
)
from proofbound.leaks import scan as scan_module


@pytest.fixture(scope="module")
def as_key() -> SigningKey:
    return generate_key("ES256")


@pytest.fixture(scope="module")
def dpop_key() -> SigningKey:
    return generate_key("ES256")


@pytest.fixture
def tokens(as_key: SigningKey, dpop_key: SigningKey) -> Tokens:
    return Tokens.make(as_key, dpop_key)


def by_hex(findings: list[TokenFinding]) -> dict[str, TokenFinding]:
    return {finding.fingerprint.split("#")[1]: finding for finding in findings}


def locations(finding: TokenFinding) -> set[tuple[str, int]]:
    return {(loc.path, loc.line) for loc in finding.locations}


def assert_no_token(text: str, tokens: list[str]) -> None:
    for token in tokens:
        assert token not in text
        for segment in token.split("."):
            if len(segment) >= 16:
                assert segment not in text


def test_a_directory_of_leaks_is_found_exactly(tmp_path: Path, tokens: Tokens) -> None:
    placed: Placed = {}
    (tmp_path / "nginx").mkdir()
    nginx_log(tmp_path / "nginx" / "access.log", tokens, placed)
    app_log(tmp_path / "app.log", tokens, placed)
    har_file(tmp_path / "session.har", tokens, placed)
    rotated: Placed = {}
    gz = Writer(tmp_path / "app.log.1.gz", rotated)
    gz.noise(50, seed=9)
    gz.line(f"DEBUG retry Authorization: Bearer {tokens.live_bearer}", tokens.live_bearer)
    gz.write_gzip()
    for token, where in rotated.items():
        placed.setdefault(token, []).extend(where)

    report = scan_paths([tmp_path], now=NOW)

    found = by_hex(report.tokens)
    assert set(found) == {fingerprint_hex(token) for token in tokens.all}
    for token, where in placed.items():
        finding = found[fingerprint_hex(token)]
        assert locations(finding) == set(where), token[:10]
        assert finding.occurrences == len(where)
    assert report.files == 4
    assert report.errors == []

    def info(token: str) -> tuple[object, ...]:
        f = found[fingerprint_hex(token)]
        return (f.format, f.kind, f.binding, f.status, f.issuer, f.client_id)

    assert info(tokens.live_bearer) == ("jws", "access_token", "bearer", "live", ISSUER, "svc-live")
    assert info(tokens.expired_bearer) == (
        "jws",
        "access_token",
        "bearer",
        "expired",
        ISSUER,
        "svc-old",
    )
    assert info(tokens.live_dpop) == ("jws", "access_token", "dpop", "live", ISSUER, "svc-dpop")
    assert info(tokens.live_mtls) == ("jws", "access_token", "mtls", "live", ISSUER, "svc-mtls")
    assert info(tokens.proof)[:3] == ("jws", "dpop_proof", "dpop")
    assert info(tokens.opaque) == ("opaque", "access_token", "unknown", "unknown", None, None)
    assert info(tokens.refresh) == ("opaque", "refresh_token", "unknown", "unknown", None, None)
    live = {finding.fingerprint for finding in report.live_bearer}
    assert live == {
        "at#" + fingerprint_hex(tokens.live_bearer),
        "at#" + fingerprint_hex(tokens.other_issuer),
    }
    assert {f.fingerprint for f in report.live_bound} == {
        "at#" + fingerprint_hex(tokens.live_dpop),
        "at#" + fingerprint_hex(tokens.live_mtls),
    }
    assert found[fingerprint_hex(tokens.proof)].fingerprint.startswith("dpop#")
    assert found[fingerprint_hex(tokens.refresh)].fingerprint.startswith("rt#")


def test_fingerprints_match_redaction_and_the_audit_log(tokens: Tokens) -> None:
    from proofbound.redact import redact_text
    from proofbound.server.revocation import token_hash_prefix

    scanner = Scanner(now=NOW)
    scanner.scan_bytes(f"Authorization: Bearer {tokens.live_bearer}\n".encode(), "x")
    (finding,) = scanner.report().tokens
    assert redact_text(f"Authorization: Bearer {tokens.live_bearer}") == (
        f"Authorization: Bearer {finding.fingerprint}"
    )
    assert token_hash_prefix(tokens.live_bearer).startswith(finding.fingerprint)


FALSE_POSITIVES = [
    # base64 blobs, standard and url-safe, some of JSON
    base64.b64encode(os.urandom(300)).decode(),
    "data:image/png;base64," + base64.b64encode(b"\x89PNG" + bytes(range(256)) * 2).decode(),
    base64.b64encode(b'{"alg":"none","typ":"JWT"}').decode(),  # eyJ..., but no dots
    # UUIDs, hashes, version strings, dotted names
    "request_id=550e8400-e29b-41d4-a716-446655440000 trace=4bf92f3577b34da6a3ce929d0e0e4736",
    "version 1.2.3 build 10.0.19045.3693 python 3.11.7 libssl 3.0.13",
    "host api.v1.eu-west-1.example.com resolved 10.0.0.1 a.b.c x.y.z",
    # eyJ segments that are not a JWT
    "eyJzzzzzzzzzzzzzzzzz.abcdefgh.ijklmnop",  # header is not JSON
    "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24gYXQgYWxs.c2lnbmF0dXJl",  # payload is not JSON
    "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJ4In0.sig",  # header without alg
    "sha=9f86d081884c7d659a2feaa0c55ad015aeyJhbGciOiJub25lIn0.eyJ.x",  # eyJ inside a word
    # words after schemes and token parameters
    'WWW-Authenticate: Bearer realm="api", error="invalid_token", scope="orders"',
    "using Bearer authentication and DPoP proofs; DPoP nonce required",
    "Authorization: Bearer YOUR_ACCESS_TOKEN_HERE and token=xxxxxxxxxxxxxxxxxxxxxxxx",
    'csrf_token=Zm9vYmFyYmF6cXV4MTIzNDU2 "token_type": "Bearer" next_page_token=abcDEF123456789xyz',
    "Authorization: Bearer at#3f9a1c2b (already redacted) access_token=at#0011aabb",
]


@pytest.mark.parametrize("text", FALSE_POSITIVES)
def test_no_false_positives(text: str) -> None:
    scanner = Scanner(now=NOW)
    scanner.scan_bytes((text + "\n").encode(), "fp.log")
    assert scanner.report().tokens == []


def test_now_decides_live_or_expired(as_key: SigningKey) -> None:
    token = access_token(as_key, now=NOW, ttl=600)
    data = f"Authorization: Bearer {token}\n".encode()
    for now, status in ((NOW, "live"), (NOW + 599, "live"), (NOW + 600, "expired")):
        scanner = Scanner(now=now)
        scanner.scan_bytes(data, "x")
        (finding,) = scanner.report().tokens
        assert finding.status == status
        assert finding.expires_at == NOW + 600
        assert finding.is_live_bearer is (status == "live")


@pytest.mark.parametrize("chunk", [97, 4096])
def test_small_chunks_give_the_same_lines(
    tmp_path: Path, tokens: Tokens, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    placed: Placed = {}
    path = app_log(tmp_path / "app.log", tokens, placed)
    expected = scan_paths([path], now=NOW)
    monkeypatch.setattr(scan_module, "CHUNK_SIZE", chunk)
    chunked = scan_paths([path], now=NOW)
    assert [(t.fingerprint, t.locations) for t in chunked.tokens] == [
        (t.fingerprint, t.locations) for t in expected.tokens
    ]
    assert chunked.bytes == expected.bytes == path.stat().st_size


def test_a_line_longer_than_a_chunk(
    tmp_path: Path, as_key: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Minified JSON: one line, tokens every ~3000 bytes, many across chunk boundaries.
    monkeypatch.setattr(scan_module, "CHUNK_SIZE", 1000)
    monkeypatch.setattr(scan_module, "_OVERLAP", 2000)
    made = [access_token(as_key, client_id=f"c{i}") for i in range(30)]
    entries = [{"pad": "x" * (2500 + 37 * i), "access_token": t} for i, t in enumerate(made)]
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(entries) + "\n\n" + f"Bearer {made[0]}\r\n")
    report = scan_paths([path], now=NOW)
    found = by_hex(report.tokens)
    assert set(found) == {fingerprint_hex(t) for t in made}
    for token in made[1:]:
        assert locations(found[fingerprint_hex(token)]) == {(str(path), 1)}
    assert locations(found[fingerprint_hex(made[0])]) == {(str(path), 1), (str(path), 3)}


def test_streams_stdin_style_and_gzip(tokens: Tokens) -> None:
    text = f"one\ntwo Authorization: Bearer {tokens.live_bearer}\n"
    scanner = Scanner(now=NOW)
    scanner.scan_stream(io.BytesIO(text.encode()), "-")
    scanner.scan_stream(io.BytesIO(gzip.compress(text.encode() * 3)), "piped.gz")
    (finding,) = scanner.report().tokens
    assert [(loc.path, loc.line) for loc in finding.locations] == [
        ("-", 2),
        ("piped.gz", 2),
        ("piped.gz", 4),
        ("piped.gz", 6),
    ]


def test_unreadable_inputs_are_reported_not_raised(tmp_path: Path, tokens: Tokens) -> None:
    broken = tmp_path / "broken.gz"
    good = gzip.compress(f"Bearer {tokens.live_bearer}\n".encode() * 1000)
    broken.write_bytes(good[: len(good) // 2])  # truncated
    (tmp_path / "sub").mkdir()
    report = scan_paths([broken, tmp_path / "missing.log", tmp_path / "sub"], now=NOW)
    assert [error.path for error in report.errors] == [str(broken), str(tmp_path / "missing.log")]
    assert all(tokens.live_bearer not in error.message for error in report.errors)
    # what could be read of the truncated file was scanned
    assert [t.fingerprint for t in report.tokens] == ["at#" + fingerprint_hex(tokens.live_bearer)]


def test_directories_walk_sorted_regular_files_only(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "a.log").write_text("x")
    (tmp_path / "b" / "c.log").write_text("x")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "d.log").write_text("x")
    (tmp_path / "b" / "link").symlink_to(tmp_path / "outside", target_is_directory=True)
    os.mkfifo(tmp_path / "b" / "fifo")  # reading it would block forever
    files = list(iter_files([tmp_path / "a.log", tmp_path / "b", "-"]))
    assert files == [str(tmp_path / "a.log"), str(tmp_path / "b" / "c.log"), "-"]


def test_duplicates_are_counted_and_locations_capped(tokens: Tokens) -> None:
    scanner = Scanner(now=NOW, max_locations=3)
    scanner.scan_bytes(f"token={tokens.opaque}\n".encode() * 10, "x")
    (finding,) = scanner.report().tokens
    assert finding.occurrences == 10
    assert [loc.line for loc in finding.locations] == [1, 2, 3]


def test_progress_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan_module, "CHUNK_SIZE", 1000)
    path = tmp_path / "big.log"
    path.write_text(nginx_line("/x?page=1") + "\n" * 50 + nginx_line("/y") * 30 + "\n")
    seen: list[int] = []
    scan_paths([path], now=NOW, on_progress=seen.append)
    assert seen == sorted(seen)
    assert seen[-1] == path.stat().st_size
    assert len(seen) > 3


def test_no_text_form_of_a_report_holds_a_token(tmp_path: Path, tokens: Tokens) -> None:
    placed: Placed = {}
    app_log(tmp_path / "app.log", tokens, placed)
    nginx_log(tmp_path / "nginx.log", tokens, placed)
    report = scan_paths([tmp_path], now=NOW)
    texts = [repr(report), str(report), repr(dataclasses.asdict(report))]
    texts += [repr(finding) for finding in report.tokens]
    for text in texts:
        assert_no_token(text, tokens.all)
    # kept for revocation, for live JWTs only
    live = next(
        f for f in report.tokens if f.fingerprint.endswith(fingerprint_hex(tokens.live_bearer))
    )
    assert live.reveal() == tokens.live_bearer
    expired = next(
        f for f in report.tokens if f.fingerprint.endswith(fingerprint_hex(tokens.expired_bearer))
    )
    with pytest.raises(LookupError):
        expired.reveal()


def test_hostile_claims_are_sanitized(as_key: SigningKey, tokens: Tokens) -> None:
    from proofbound import issue_access_token

    token = issue_access_token(
        as_key,
        issuer="https://evil.example/\x1b[2J\x1b[31mALL CLEAR",
        subject="s",
        audience="a",
        client_id=f"x Bearer {tokens.opaque}",
        now=NOW,
        ttl=60,
        jti="j",
    )
    scanner = Scanner(now=NOW)
    scanner.scan_bytes(f"Bearer {token}\n".encode(), "x")
    (finding,) = scanner.report().tokens
    assert finding.issuer is not None
    assert "\x1b" not in finding.issuer
    assert finding.client_id is not None
    assert tokens.opaque not in finding.client_id


# --- classify_token ---------------------------------------------------------------------------


def _jws(header: dict[str, object], claims: object) -> str:
    def part(value: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}.{'s' * 43}"


@pytest.mark.parametrize(
    ("header", "claims", "context", "expected"),
    [
        ({"alg": "RS256", "typ": "at+jwt"}, {"exp": NOW + 5}, None, ("access_token", "bearer")),
        ({"alg": "RS256", "typ": "application/AT+JWT"}, {}, None, ("access_token", "bearer")),
        ({"alg": "RS256"}, {"scp": "x", "cnf": {"jkt": "k"}}, None, ("access_token", "dpop")),
        ({"alg": "RS256"}, {"cid": "x", "cnf": {"x5t#S256": "t"}}, None, ("access_token", "mtls")),
        ({"alg": "RS256"}, {"scope": "x", "cnf": {"jwk": {}}}, None, ("access_token", "other")),
        ({"alg": "RS256"}, {"nonce": "n", "aud": "c"}, None, ("id_token", "bearer")),
        ({"alg": "RS256"}, {"sub": "x"}, "id_token", ("id_token", "bearer")),
        ({"alg": "HS256"}, {"typ": "Refresh"}, None, ("refresh_token", "bearer")),
        (
            {"alg": "ES256"},
            {"iss": "c1", "sub": "c1", "aud": "https://as/token", "jti": "j"},
            None,
            ("client_assertion", "bearer"),
        ),
        ({"alg": "ES256", "typ": "dpop+jwt"}, {"iat": NOW}, None, ("dpop_proof", "dpop")),
        (
            {"alg": "ES256"},
            {"htm": "GET", "htu": "https://x", "iat": NOW},
            None,
            ("dpop_proof", "dpop"),
        ),
        ({"alg": "ES256"}, {"sub": "x"}, None, ("jwt", "bearer")),
        ({"alg": "ES256"}, {"sub": "x"}, "bearer", ("access_token", "bearer")),
    ],
)
def test_classify_jwts(
    header: dict[str, object],
    claims: dict[str, object],
    context: str | None,
    expected: tuple[str, str],
) -> None:
    info = classify_token(_jws(header, claims), now=NOW, context=context)
    assert info is not None
    assert (info.kind, info.binding) == expected
    assert info.format == "jws"


def test_classify_status() -> None:
    at = {"alg": "ES256", "typ": "at+jwt"}
    assert classify_token(_jws(at, {"exp": NOW + 1}), now=NOW).status == "live"  # type: ignore[union-attr]
    assert classify_token(_jws(at, {"exp": NOW}), now=NOW).status == "expired"  # type: ignore[union-attr]
    assert classify_token(_jws(at, {}), now=NOW).status == "live"  # type: ignore[union-attr] # no exp
    assert classify_token(_jws(at, {"exp": "soon"}), now=NOW).status == "live"  # type: ignore[union-attr]
    assert classify_token(_jws(at, {"exp": 1e400}), now=NOW).expires_at is None  # type: ignore[union-attr]
    proof = {"alg": "ES256", "typ": "dpop+jwt"}
    assert classify_token(_jws(proof, {"iat": NOW - 299}), now=NOW).status == "live"  # type: ignore[union-attr]
    assert classify_token(_jws(proof, {"iat": NOW - 300}), now=NOW).status == "expired"  # type: ignore[union-attr]


def test_classify_jwe_opaque_and_garbage() -> None:
    header = base64.urlsafe_b64encode(b'{"alg":"RSA-OAEP","enc":"A256GCM"}').rstrip(b"=").decode()
    jwe = f"{header}.{'k' * 40}.{'i' * 16}.{'c' * 60}.{'t' * 22}"
    info = classify_token(jwe, now=NOW)
    assert info is not None
    assert (info.format, info.kind, info.status) == ("jwe", "jwt", "unknown")
    assert classify_token(jwe, now=NOW, context="access_token").kind == "access_token"  # type: ignore[union-attr]
    assert classify_token("Zm9vYmFyYmF6cXV4MTIzNDU2", now=NOW) is None  # no context
    assert classify_token("abcdefghijklmnopqrstuvwx", now=NOW, context="bearer") is None
    opaque = classify_token("Zm9vYmFyYmF6cXV4MTIzNDU2", now=NOW, context="dpop")
    assert opaque is not None
    assert (opaque.format, opaque.binding, opaque.status) == ("opaque", "dpop", "unknown")
    deep = "[" * 100_000 + "]" * 100_000
    assert (
        classify_token(
            _jws({"alg": "x"}, 0).split(".")[0]
            + "."
            + base64.urlsafe_b64encode(deep.encode()).decode().rstrip("=")
            + ".s",
            now=NOW,
        )
        is None
    )


# --- revoke_findings against a fake issuer ------------------------------------------------------


def test_revoke_findings_outcomes_and_what_is_sent(as_key: SigningKey) -> None:
    live = [access_token(as_key, client_id=f"c{i}") for i in range(4)]
    other = access_token(as_key, issuer="https://other.example")
    scanner = Scanner(now=NOW)
    scanner.scan_bytes("".join(f"Bearer {t}\n" for t in [*live, other]).encode(), "x")
    sent: list[dict[str, object]] = []
    answers = iter(
        [
            httpx.Response(200, json={"revoked": 1}),
            httpx.Response(200, json={"revoked": 0}),
            httpx.Response(400, json={"error": "invalid_request", "error_description": live[2]}),
            httpx.Response(500, text=f"oops {live[3]}"),
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url == ISSUER + "/admin/revoke"
        assert request.headers["authorization"] == "Bearer admin-secret"
        sent.append(json.loads(request.content))
        return next(answers)

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        results = revoke_findings(
            scanner.report().tokens, issuer=ISSUER + "/", admin_token="admin-secret", client=client
        )
    assert sent == [{"token": t} for t in live]  # the other issuer's token is not sent
    outcomes = [results["at#" + fingerprint_hex(t)] for t in live]
    assert [(r.outcome, r.status, r.error) for r in outcomes] == [
        ("revoked", 200, None),
        ("already_inactive", 200, None),
        ("unknown_to_issuer", 400, "invalid_request"),
        ("refused", 500, None),
    ]
    assert "at#" + fingerprint_hex(other) not in results
    assert_no_token(repr(results), live)


@pytest.mark.parametrize("failure", ["401", "connect"])
def test_revoke_findings_stops_when_refused_or_unreachable(
    as_key: SigningKey, failure: str
) -> None:
    live = [access_token(as_key, client_id=f"c{i}") for i in range(3)]
    scanner = Scanner(now=NOW)
    scanner.scan_bytes("".join(f"Bearer {t}\n" for t in live).encode(), "x")
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if failure == "connect":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(401, json={"error": "invalid_token"})

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        results = revoke_findings(
            scanner.report().tokens, issuer=ISSUER, admin_token="a", client=client
        )
    assert calls == 1
    outcomes = [results["at#" + fingerprint_hex(t)].outcome for t in live]
    first = "failed" if failure == "connect" else "refused"
    assert outcomes == [first, "not_attempted", "not_attempted"]
