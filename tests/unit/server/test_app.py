"""The authorization server end to end through its ASGI app, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from proofbound import (
    AccessTokenPolicy,
    AccessTokenVerifier,
    FrozenClock,
    generate_key,
    jwk_thumbprint,
    x5t_s256,
)
from proofbound.jwk.keys import PublicKey
from proofbound.server.app import AuthorizationServer, create_app
from proofbound.storage.store import Store

from .conftest import (
    ADMIN_TOKEN,
    ISSUER,
    NOW,
    REG_TOKEN,
    RESOURCE,
    TOKEN_URL,
    ASHarness,
    JwtClient,
    make_settings,
    nginx_header,
    self_signed,
    x5c_entry,
)

FORM = {"grant_type": "client_credentials"}


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


async def _verifier(h: ASHarness, audience: str = RESOURCE) -> AccessTokenVerifier:
    jwks = (await h.http.get(ISSUER + "/jwks")).json()
    return AccessTokenVerifier(AccessTokenPolicy(issuer=ISSUER, audiences=(audience,)), jwks)


# -- discovery ---------------------------------------------------------------------------------


async def test_rfc8414_metadata_lists_every_endpoint(harness: ASHarness) -> None:
    response = await harness.http.get(ISSUER + "/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    doc = response.json()
    assert doc["issuer"] == ISSUER
    for name in ("token", "jwks", "introspection", "revocation", "registration"):
        key = "jwks_uri" if name == "jwks" else f"{name}_endpoint"
        assert doc[key].startswith(ISSUER + "/")
        assert (await harness.http.options(doc[key])).status_code in (200, 405)
    assert doc["dpop_signing_alg_values_supported"] == ["ES256", "EdDSA", "PS256", "RS256"]
    assert doc["tls_client_certificate_bound_access_tokens"] is True
    assert "none" not in doc["token_endpoint_auth_signing_alg_values_supported"]
    assert doc["grant_types_supported"] == [
        "client_credentials",
        "authorization_code",
        "refresh_token",
    ]
    assert "tls_client_auth" not in doc["token_endpoint_auth_methods_supported"]  # no CA


async def test_rfc8414_s3_1_path_insertion_for_an_issuer_with_a_path(tmp_path: Any) -> None:
    issuer = "https://as.example/tenant/a"
    server = AuthorizationServer(
        make_settings(issuer=issuer), Store.open(f"sqlite:///{tmp_path / 'p.db'}")
    )
    transport = httpx.ASGITransport(app=create_app(server))
    async with httpx.AsyncClient(transport=transport) as http:
        doc = (
            await http.get("https://as.example/.well-known/oauth-authorization-server/tenant/a")
        ).json()
        assert doc["issuer"] == issuer
        assert doc["token_endpoint"] == issuer + "/token"
        assert (await http.get(doc["jwks_uri"])).status_code == 200
        wrong = await http.get("https://as.example/tenant/a/.well-known/oauth-authorization-server")
        assert wrong.status_code == 404
    server.close()


# -- DPoP-bound tokens ---------------------------------------------------------------------------


async def test_rfc9449_s5_dpop_token_after_one_nonce_round_trip(harness: ASHarness) -> None:
    client = await harness.jwt_client(dpop_bound_access_tokens=True, scope="read write")
    first = await harness.http.post(
        TOKEN_URL, data=client.form(resource=RESOURCE), headers={"DPoP": client.proof(None)}
    )
    assert first.status_code == 400
    assert first.json()["error"] == "use_dpop_nonce"
    assert first.headers["Cache-Control"] == "no-store"
    nonce = first.headers["DPoP-Nonce"]
    second = await harness.http.post(
        TOKEN_URL, data=client.form(resource=RESOURCE), headers={"DPoP": client.proof(nonce)}
    )
    assert second.status_code == 200, second.text
    assert second.headers["Cache-Control"] == "no-store"
    body = second.json()
    assert body["token_type"] == "DPoP"
    assert body["expires_in"] == 300
    assert body["scope"] == "read write"
    verified = (await _verifier(harness)).verify(body["access_token"], now=NOW)
    assert verified.binding is not None
    assert verified.binding.kind == "dpop"
    assert verified.binding.thumbprint == jwk_thumbprint(client.dpop.public_key.jwk)
    claims = _claims(body["access_token"])
    assert claims["aud"] == RESOURCE
    assert claims["client_id"] == claims["sub"] == client.client_id
    assert claims["exp"] - claims["iat"] == 300


@pytest.mark.parametrize("origin", [None, "https://app.example"])
async def test_token_endpoint_answers_the_same_on_both_paths(
    harness: ASHarness, origin: str | None
) -> None:
    """Requests without Origin take the direct path, the others Starlette's stack: the same
    checks and the same answers either way (success, replay refusal, error rendering)."""
    extra = {} if origin is None else {"Origin": origin}
    client = await harness.jwt_client(dpop_bound_access_tokens=True)
    nonce_answer = await harness.http.post(
        TOKEN_URL, data=client.form(), headers={"DPoP": client.proof(None), **extra}
    )
    assert nonce_answer.status_code == 400
    assert nonce_answer.json()["error"] == "use_dpop_nonce"
    nonce = nonce_answer.headers["DPoP-Nonce"]
    form, proof = client.form(), client.proof(nonce)
    ok = await harness.http.post(TOKEN_URL, data=form, headers={"DPoP": proof, **extra})
    assert ok.status_code == 200, ok.text
    assert ok.json()["token_type"] == "DPoP"
    assert ok.headers["Cache-Control"] == "no-store"
    assert ok.headers["Content-Type"] == "application/json"
    again = await harness.http.post(
        TOKEN_URL,
        data={**form, "client_assertion": client.assertion()},
        headers={"DPoP": proof, **extra},
    )
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_dpop_proof"
    wrong_method = await harness.http.get(TOKEN_URL, headers=extra)
    assert wrong_method.status_code == 405


async def _raw_token_call(
    harness: ASHarness, headers: list[tuple[bytes, bytes]], chunks: list[bytes]
) -> tuple[int, dict[str, str], bytes]:
    """POST /token straight into the ASGI app, the body in ``chunks`` (a trailing
    ``http.disconnect`` when ``chunks`` ends with an empty marker ``b"<gone>"``)."""
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
        if chunk != b"<gone>"
    ]
    if chunks and chunks[-1] == b"<gone>":
        messages[-1]["more_body"] = True
        messages.append({"type": "http.disconnect"})
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": "/token",
        "raw_path": b"/token",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"as.example"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("as.example", 443),
    }
    await create_app(harness.server)(scope, receive, send)
    start, *bodies = sent
    head = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], head, b"".join(m.get("body", b"") for m in bodies)


async def test_token_endpoint_paths_send_the_same_headers(harness: ASHarness) -> None:
    """The direct path renders its answers itself: the same header set as Starlette's
    (success and error), apart from the CORS headers of the routed one."""
    client = await harness.jwt_client(dpop_bound_access_tokens=True)
    await harness.dpop_token(client)  # learns the nonce
    answers = {}
    for origin in (None, "https://app.example"):
        extra = {} if origin is None else {"Origin": origin}
        ok = await harness.http.post(
            TOKEN_URL, data=client.form(), headers={"DPoP": client.proof(harness.nonce), **extra}
        )
        bad = await harness.http.post(TOKEN_URL, data=client.form(), headers=extra)
        answers[origin] = [
            (
                r.status_code,
                {
                    k: v
                    for k, v in r.headers.items()
                    if k != "dpop-nonce" and not k.startswith("access-control-") and k != "vary"
                },
            )
            for r in (ok, bad)
        ]
    assert answers[None] == answers["https://app.example"]
    (ok_status, ok_headers), (bad_status, _) = answers[None]
    assert ok_status == 200
    assert bad_status == 400
    assert ok_headers["cache-control"] == "no-store"
    assert ok_headers["pragma"] == "no-cache"
    assert ok_headers["content-type"] == "application/json"


async def test_token_endpoint_direct_path_reads_a_streamed_body(harness: ASHarness) -> None:
    client = await harness.jwt_client(dpop_bound_access_tokens=True)
    await harness.dpop_token(client)
    body = httpx.QueryParams(client.form()).__str__().encode()
    headers = [
        (b"content-type", b"application/x-www-form-urlencoded"),
        (b"dpop", client.proof(harness.nonce).encode()),
    ]
    status, head, answer = await _raw_token_call(
        harness, headers, [body[:10], body[10:100], body[100:]]
    )
    assert status == 200, answer
    assert json.loads(answer)["token_type"] == "DPoP"
    assert head["content-length"] == str(len(answer))


async def test_token_endpoint_direct_path_refuses_a_vanished_client(harness: ASHarness) -> None:
    """A disconnect mid-body is refused like a malformed request: nothing issued, no crash."""
    client = await harness.jwt_client(dpop_bound_access_tokens=True)
    await harness.dpop_token(client)
    body = httpx.QueryParams(client.form()).__str__().encode()
    headers = [(b"content-type", b"application/x-www-form-urlencoded")]
    status, _, answer = await _raw_token_call(harness, headers, [body[:50], b"<gone>"])
    assert status == 400
    assert json.loads(answer)["error"] == "invalid_request"


async def test_rfc9449_s5_2_dpop_bound_client_without_proof_is_refused(harness: ASHarness) -> None:
    client = await harness.jwt_client(dpop_bound_access_tokens=True)
    response = await harness.http.post(TOKEN_URL, data=client.form())
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_dpop_proof"


async def test_rfc9449_s8_stale_nonce_gets_a_fresh_one(harness: ASHarness) -> None:
    client = await harness.jwt_client(dpop_bound_access_tokens=True)
    await harness.dpop_token(client)
    old = harness.nonce
    harness.clock.advance(600)
    stale = await harness.http.post(
        TOKEN_URL,
        data={**client.form(), "client_assertion": client.assertion(now=NOW + 600)},
        headers={"DPoP": client.proof(old, now=NOW + 600)},
    )
    assert stale.status_code == 400
    assert stale.json()["error"] == "use_dpop_nonce"
    assert stale.headers["DPoP-Nonce"] != old


async def test_rfc9449_s11_1_replayed_proof_is_refused(harness: ASHarness) -> None:
    client = await harness.jwt_client(dpop_bound_access_tokens=True)
    assert (await harness.dpop_token(client)).status_code == 200
    proof = client.proof(harness.nonce)
    assert (
        await harness.http.post(TOKEN_URL, data=client.form(), headers={"DPoP": proof})
    ).status_code == 200
    again = await harness.http.post(TOKEN_URL, data=client.form(), headers={"DPoP": proof})
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_dpop_proof"


async def test_rfc7523_s3_assertion_is_single_use(harness: ASHarness) -> None:
    client = await harness.jwt_client()
    form = client.form()
    assert (await harness.http.post(TOKEN_URL, data=form)).status_code == 200
    again = await harness.http.post(TOKEN_URL, data=form)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_client"


async def test_proof_with_wrong_htu_is_refused_and_nothing_spent(harness: ASHarness) -> None:
    client = await harness.jwt_client(dpop_bound_access_tokens=True)
    await harness.dpop_token(client)
    form = client.form()
    bad = await harness.http.post(
        TOKEN_URL, data=form, headers={"DPoP": client.proof(harness.nonce, htu=ISSUER + "/x")}
    )
    assert bad.json()["error"] == "invalid_dpop_proof"
    # The assertion was not spent by the failed request: the same form now succeeds.
    good = await harness.http.post(
        TOKEN_URL, data=form, headers={"DPoP": client.proof(harness.nonce)}
    )
    assert good.status_code == 200


async def test_legacy_client_without_binding_gets_a_bearer_token(harness: ASHarness) -> None:
    client = await harness.jwt_client()
    response = await harness.http.post(TOKEN_URL, data=client.form())
    assert response.status_code == 200
    assert response.json()["token_type"] == "Bearer"
    assert "cnf" not in _claims(response.json()["access_token"])
    metrics = (await harness.http.get(ISSUER + "/metrics")).text
    assert 'proofbound_tokens_issued_total{binding="bearer"} 1.0' in metrics


async def test_rfc8707_resource_is_echoed_verbatim_and_others_refused(harness: ASHarness) -> None:
    client = await harness.jwt_client()
    default = await harness.http.post(TOKEN_URL, data=client.form())
    assert _claims(default.json()["access_token"])["aud"] == RESOURCE
    other = await harness.http.post(TOKEN_URL, data=client.form(resource="https://rs2.example"))
    assert _claims(other.json()["access_token"])["aud"] == "https://rs2.example"
    unknown = await harness.http.post(TOKEN_URL, data=client.form(resource="https://evil.example"))
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "invalid_target"


async def test_scope_is_limited_to_the_registration(harness: ASHarness) -> None:
    client = await harness.jwt_client(scope="read")
    ok = await harness.http.post(TOKEN_URL, data=client.form(scope="read"))
    assert ok.json()["scope"] == "read"
    wide = await harness.http.post(TOKEN_URL, data=client.form(scope="read admin"))
    assert wide.status_code == 400
    assert wide.json()["error"] == "invalid_scope"


# -- mTLS-bound tokens ---------------------------------------------------------------------------


async def _mtls_client(h: ASHarness) -> tuple[str, Any]:
    cert, key = self_signed()
    jwk = {**PublicKey(key.public_key()).jwk, "x5c": [x5c_entry(cert)]}
    response = await h.register(
        {
            "token_endpoint_auth_method": "self_signed_tls_client_auth",
            "jwks": {"keys": [jwk]},
            "tls_client_certificate_bound_access_tokens": True,
        }
    )
    assert response.status_code == 201, response.text
    return response.json()["client_id"], cert


async def test_rfc8705_s3_1_certificate_from_the_trusted_proxy_binds_the_token(
    harness: ASHarness,
) -> None:
    client_id, cert = await _mtls_client(harness)
    response = await harness.http.post(
        TOKEN_URL,
        data={**FORM, "client_id": client_id},
        headers={"x-ssl-client-cert": nginx_header(cert)},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    der = cert.public_bytes(Encoding.DER)
    assert _claims(body["access_token"])["cnf"] == {"x5t#S256": x5t_s256(der)}


async def test_rfc8705_s2_no_certificate_is_invalid_client(harness: ASHarness) -> None:
    client_id, _ = await _mtls_client(harness)
    response = await harness.http.post(TOKEN_URL, data={**FORM, "client_id": client_id})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client"


async def test_rfc8705_s6_5_certificate_header_from_untrusted_peer_is_ignored(
    harness: ASHarness,
) -> None:
    client_id, cert = await _mtls_client(harness)
    transport = httpx.ASGITransport(app=create_app(harness.server), client=("10.1.2.3", 4000))
    async with httpx.AsyncClient(transport=transport) as outsider:
        response = await outsider.post(
            TOKEN_URL,
            data={**FORM, "client_id": client_id},
            headers={"x-ssl-client-cert": nginx_header(cert)},
        )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client"


async def test_rfc8705_other_certificate_headers_are_never_read(harness: ASHarness) -> None:
    client_id, cert = await _mtls_client(harness)
    response = await harness.http.post(
        TOKEN_URL,
        data={**FORM, "client_id": client_id},
        headers={"client-cert": ":" + x5c_entry(cert) + ":", "x-forwarded-client-cert": "x"},
    )
    assert response.json()["error"] == "invalid_client"


async def test_rfc8705_another_certificate_is_invalid_client(harness: ASHarness) -> None:
    client_id, _ = await _mtls_client(harness)
    stranger, _ = self_signed("stranger")
    response = await harness.http.post(
        TOKEN_URL,
        data={**FORM, "client_id": client_id},
        headers={"x-ssl-client-cert": nginx_header(stranger)},
    )
    assert response.json()["error"] == "invalid_client"


async def test_certificate_bound_client_sending_a_proof_is_refused(harness: ASHarness) -> None:
    client_id, cert = await _mtls_client(harness)
    dpop = JwtClient(client_id, generate_key("ES256"))
    response = await harness.http.post(
        TOKEN_URL,
        data={**FORM, "client_id": client_id},
        headers={"x-ssl-client-cert": nginx_header(cert), "DPoP": dpop.proof(None)},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


# -- secrets (legacy) ----------------------------------------------------------------------------


async def test_client_secret_basic_and_its_rfc6749_s5_2_challenge(harness: ASHarness) -> None:
    registered = await harness.register({"token_endpoint_auth_method": "client_secret_basic"})
    assert registered.status_code == 201
    body = registered.json()
    secret = body["client_secret"]
    assert body["client_secret_expires_at"] == 0
    assert all(c.isalnum() or c in "-._~" for c in secret)
    ok = await harness.http.post(TOKEN_URL, data=FORM, auth=(body["client_id"], secret))
    assert ok.status_code == 200
    bad = await harness.http.post(TOKEN_URL, data=FORM, auth=(body["client_id"], secret + "x"))
    assert bad.status_code == 401
    assert bad.json()["error"] == "invalid_client"
    assert bad.headers["WWW-Authenticate"] == f'Basic realm="{ISSUER}"'
    stored = harness.server.store.get_client(body["client_id"])
    assert stored is not None
    assert stored.secret_hash == hashlib.sha256(secret.encode()).digest()
    assert secret not in json.dumps(dict(stored.metadata))


async def test_client_secret_post(harness: ASHarness) -> None:
    registered = (
        await harness.register({"token_endpoint_auth_method": "client_secret_post"})
    ).json()
    form = {
        **FORM,
        "client_id": registered["client_id"],
        "client_secret": registered["client_secret"],
    }
    assert (await harness.http.post(TOKEN_URL, data=form)).status_code == 200


# -- registration --------------------------------------------------------------------------------


async def test_rfc7591_registration_needs_the_initial_access_token(harness: ASHarness) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token-0123456789"},
        {"Authorization": "Basic eA=="},
    ):
        response = await harness.http.post(
            ISSUER + "/register",
            json={"token_endpoint_auth_method": "client_secret_basic"},
            headers=headers,
        )
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


async def test_rfc7591_s2_unknown_members_are_ignored_and_response_types_default_empty(
    harness: ASHarness,
) -> None:
    key = generate_key("ES256")
    response = await harness.register(
        {
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [key.public_jwk()]},
            "software_statement_x": "ignored",
            "client_name": "batch job",
        }
    )
    assert response.status_code == 201
    body = response.json()
    assert "software_statement_x" not in body
    assert body["response_types"] == []
    assert body["client_name"] == "batch job"
    assert "client_secret" not in body


async def test_rfc7591_s3_2_2_invalid_metadata(harness: ASHarness) -> None:
    response = await harness.register({"token_endpoint_auth_method": "tls_client_auth"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"
    malformed = await harness.http.post(
        ISSUER + "/register",
        content=b"[1]",
        headers={"Authorization": f"Bearer {REG_TOKEN}", "Content-Type": "application/json"},
    )
    assert malformed.status_code == 400
    assert malformed.json()["error"] == "invalid_request"


# -- introspection and revocation ----------------------------------------------------------------


async def _introspect(h: ASHarness, caller: JwtClient, token: str) -> dict[str, Any]:
    form = {
        "token": token,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": caller.assertion(aud=ISSUER),
    }
    response = await h.http.post(ISSUER + "/introspect", data=form)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    return response.json()


async def test_rfc7662_introspection_with_cnf_and_token_type(harness: ASHarness) -> None:
    client = await harness.jwt_client(dpop_bound_access_tokens=True, scope="read")
    token = (await harness.dpop_token(client)).json()["access_token"]
    body = await _introspect(harness, client, token)
    assert body["active"] is True
    assert body["token_type"] == "DPoP"  # RFC 9449 §6.2
    assert body["cnf"] == {"jkt": client.dpop.thumbprint}
    assert body["client_id"] == client.client_id
    assert body["scope"] == "read"
    assert body["aud"] == RESOURCE


async def test_rfc7662_foreign_and_garbage_tokens_are_inactive(harness: ASHarness) -> None:
    owner = await harness.jwt_client()
    other = await harness.jwt_client()
    token = (await harness.http.post(TOKEN_URL, data=owner.form())).json()["access_token"]
    assert await _introspect(harness, other, token) == {"active": False}
    assert await _introspect(harness, owner, "garbage") == {"active": False}
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert await _introspect(harness, owner, forged) == {"active": False}
    harness.clock.advance(301)
    assert await _introspect(harness, owner, token) == {"active": False}


async def test_rfc7662_s2_1_introspection_requires_client_authentication(
    harness: ASHarness,
) -> None:
    response = await harness.http.post(ISSUER + "/introspect", data={"token": "x"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client"


async def test_rfc7009_client_revokes_its_own_token_only(harness: ASHarness) -> None:
    owner = await harness.jwt_client()
    other = await harness.jwt_client()
    token = (await harness.http.post(TOKEN_URL, data=owner.form())).json()["access_token"]

    def revoke_form(caller: JwtClient, value: str) -> dict[str, str]:
        return {
            "token": value,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": caller.assertion(aud=ISSUER + "/revoke"),
        }

    foreign = await harness.http.post(ISSUER + "/revoke", data=revoke_form(other, token))
    assert foreign.status_code == 400
    assert foreign.json()["error"] == "unauthorized_client"
    assert (await _introspect(harness, owner, token))["active"] is True
    garbage = await harness.http.post(ISSUER + "/revoke", data=revoke_form(owner, "garbage"))
    assert garbage.status_code == 200  # RFC 7009 §2.2
    own = await harness.http.post(ISSUER + "/revoke", data=revoke_form(owner, token))
    assert own.status_code == 200
    assert await _introspect(harness, owner, token) == {"active": False}


@pytest.mark.parametrize("kind", ["token", "jkt", "client_id"])
async def test_admin_revocation_takes_effect_at_once_and_is_audited(
    harness: ASHarness, kind: str
) -> None:
    client = await harness.jwt_client(dpop_bound_access_tokens=True)
    token = (await harness.dpop_token(client)).json()["access_token"]
    value = {"token": token, "jkt": client.dpop.thumbprint, "client_id": client.client_id}[kind]
    response = await harness.admin({kind: value})
    assert response.status_code == 200
    assert response.json() == {"revoked": 1}
    assert await _introspect(harness, client, token) == {"active": False}
    audit = harness.server.store.audit_entries()
    assert [(a.action, a.target_kind, a.count) for a in audit] == [("revoke", kind, 1)]
    assert token not in json.dumps([a.target for a in audit])
    feed = (await harness.http.get(ISSUER + "/revocations")).json()
    assert len(feed["revocations"]) == 1
    assert token not in json.dumps(feed)
    # Tokens issued after a key-wide revocation are live again.
    if kind != "token":
        harness.clock.advance(1)
        fresh = (await harness.dpop_token(client)).json()["access_token"]
        assert (await _introspect(harness, client, fresh))["active"] is True


async def test_admin_revocation_by_certificate(harness: ASHarness) -> None:
    client_id, cert = await _mtls_client(harness)
    headers = {"x-ssl-client-cert": nginx_header(cert)}
    assert (
        await harness.http.post(TOKEN_URL, data={**FORM, "client_id": client_id}, headers=headers)
    ).status_code == 200
    response = await harness.admin({"x5t#S256": x5t_s256(cert.public_bytes(Encoding.DER))})
    assert response.json() == {"revoked": 1}


async def test_admin_api_refuses_wrong_token_and_bad_bodies(harness: ASHarness) -> None:
    wrong = await harness.http.post(
        ISSUER + "/admin/revoke", json={"jkt": "x"}, headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401
    assert (await harness.admin({})).json()["error"] == "invalid_request"
    assert (await harness.admin({"jkt": "a", "client_id": "b"})).json()[
        "error"
    ] == "invalid_request"
    unknown = await harness.admin({"token": "eyJhbGciOiJFUzI1NiJ9.e30.AAAA"})
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "invalid_request"
    assert ADMIN_TOKEN not in unknown.text


# -- health, logs, secrets -----------------------------------------------------------------------


async def test_healthz(harness: ASHarness) -> None:
    response = await harness.http.get(ISSUER + "/healthz")
    assert response.json() == {"status": "ok"}


async def test_no_token_assertion_or_secret_in_any_log_line(
    harness: ASHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = await harness.jwt_client(dpop_bound_access_tokens=True)
    form = client.form()
    proof = client.proof(None)
    await harness.http.post(TOKEN_URL, data=form, headers={"DPoP": proof})
    response = await harness.dpop_token(client)
    token = response.json()["access_token"]
    await harness.admin({"token": token})
    await harness.http.post(TOKEN_URL, data=form, headers={"DPoP": proof})
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "token issued" in text
    for secret in (token, form["client_assertion"], proof, ADMIN_TOKEN, REG_TOKEN):
        assert secret not in text
        for part in secret.split("."):
            if len(part) > 16:
                assert part not in text


async def test_storage_failure_is_an_opaque_server_error(tmp_path: Any) -> None:
    server = AuthorizationServer(
        make_settings(), Store.open(f"sqlite:///{tmp_path / 'gone.db'}"), clock=FrozenClock(NOW)
    )
    transport = httpx.ASGITransport(app=create_app(server), client=("127.0.0.1", 1))
    server.store.close()
    (tmp_path / "gone.db").unlink()
    (tmp_path / "gone.db").mkdir()  # the database file is now a directory: every query fails
    async with httpx.AsyncClient(transport=transport) as http:
        response = await http.post(
            TOKEN_URL,
            data={**FORM, "client_id": "x", "client_secret": "y"},
        )
        health = await http.get(ISSUER + "/healthz")
    assert response.status_code == 500
    assert response.json() == {
        "error": "server_error",
        "error_description": "Internal server error",
    }
    assert health.status_code == 503


def test_token_request_and_form_reprs_hold_no_credential() -> None:
    from proofbound.server.forms import parse_form
    from proofbound.server.token_endpoint import TokenRequest

    body = (
        b"grant_type=client_credentials&client_assertion=eyJhbGciOiJFUzI1NiJ9.e30.c2ln"
        b"&client_secret=s3cr3t-value"
    )
    form = parse_form(body, "application/x-www-form-urlencoded", max_bytes=4096)
    request = TokenRequest(
        form=form, authorization="Basic c2VjcmV0OnZhbHVl", dpop=["eyJ0eXAi.proof.sig"]
    )
    assert "client_assertion" in repr(form)  # the names stay, for diagnostics
    for text in (repr(form), str(form), repr(request)):
        for secret in ("eyJhbGciOiJFUzI1NiJ9", "s3cr3t-value", "c2VjcmV0OnZhbHVl", "proof.sig"):
            assert secret not in text


async def test_rfc7591_jwks_uri_client_authenticates_with_the_fetched_keys(tmp_path: Any) -> None:
    key = generate_key("ES256")
    served: dict[str, Any] = {"keys": [key.public_jwk()]}
    fetched: list[str] = []

    def fetch(uri: str) -> dict[str, Any]:
        fetched.append(uri)
        return served

    server = AuthorizationServer(
        make_settings(), Store.open(f"sqlite:///{tmp_path / 'u.db'}"),
        clock=FrozenClock(NOW), fetch_jwks=fetch,
    )  # fmt: skip
    transport = httpx.ASGITransport(app=create_app(server), client=("127.0.0.1", 1))
    async with httpx.AsyncClient(transport=transport) as http:
        harness = ASHarness(server, http, server.clock)  # type: ignore[arg-type]
        registered = await harness.register(
            {"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://c.example/k"}
        )
        assert registered.status_code == 201, registered.text
        client = JwtClient(registered.json()["client_id"], key, clock=FrozenClock(NOW))
        ok = await http.post(TOKEN_URL, data=client.form())
        assert ok.status_code == 200
        assert fetched == ["https://c.example/k"]
        served["keys"] = [generate_key("ES256").public_jwk()]  # the client rotated elsewhere
        refused = await http.post(TOKEN_URL, data=client.form())
        assert refused.status_code == 400
        assert refused.json()["error"] == "invalid_client"
    server.close()
