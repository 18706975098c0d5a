"""Client JWKS fetched by jwks_uri: bounded, cached, and every failure fails closed."""

from __future__ import annotations

import json

import httpx
import pytest

from proofbound import generate_key
from proofbound.errors import StorageUnavailable
from proofbound.server.jwks_fetch import MAX_BYTES, JwksFetcher

URI = "https://client.example/jwks"
JWKS = {"keys": [generate_key("ES256").public_jwk()]}


def _fetcher(handler: httpx.MockTransport) -> JwksFetcher:
    return JwksFetcher(httpx.Client(transport=handler))


def test_a_document_is_fetched_once_and_cached() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json=JWKS)

    fetcher = _fetcher(httpx.MockTransport(handler))
    assert fetcher(URI) == JWKS
    assert fetcher(URI) == JWKS
    assert len(calls) == 1
    fetcher.close()


@pytest.mark.parametrize(
    "response",
    [
        pytest.param(httpx.Response(404), id="error-status"),
        pytest.param(httpx.Response(302, headers={"Location": "https://evil/"}), id="redirect"),
        pytest.param(httpx.Response(200, content=b"not json"), id="not-json"),
        pytest.param(httpx.Response(200, json=[1, 2]), id="not-an-object"),
        pytest.param(httpx.Response(200, json={"keys": "x"}), id="keys-not-a-list"),
        pytest.param(
            httpx.Response(200, content=json.dumps({"keys": ["x" * MAX_BYTES]}).encode()),
            id="too-large",
        ),
    ],
)
def test_unusable_documents_fail_closed_and_are_not_cached(response: httpx.Response) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return response

    fetcher = _fetcher(httpx.MockTransport(handler))
    for _ in range(2):
        with pytest.raises(StorageUnavailable):
            fetcher(URI)
    assert calls == 2  # a failure is not remembered as a document
    fetcher.close()


def test_an_unreachable_uri_fails_closed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    fetcher = _fetcher(httpx.MockTransport(handler))
    with pytest.raises(StorageUnavailable) as caught:
        fetcher(URI)
    assert "ConnectError" in caught.value.detail
    fetcher.close()
