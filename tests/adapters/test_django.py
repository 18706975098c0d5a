"""The Django middleware and view decorator through Django's test clients.

The settings are configured here, minimally; this module is also the ROOT_URLCONF.
"""

from __future__ import annotations

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        ALLOWED_HOSTS=["testserver"],
        DATABASES={},
        INSTALLED_APPS=[],
        MIDDLEWARE=[],
        ROOT_URLCONF=__name__,
        USE_TZ=True,
    )
    django.setup()

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import AsyncClient, Client, override_settings
from django.urls import path

from proofbound.adapters.django import guard_from_settings, require
from proofbound.resource.guard import Guard

from ._support import EXPOSE, NO_CREDENTIALS, NOW, PROOF_MISSING, World

MIDDLEWARE = "proofbound.adapters.django.GuardMiddleware"


@require(require="dpop", scopes=["read"])
def orders(request: HttpRequest) -> HttpResponse:
    return JsonResponse(request.principal.public())


@require(require="dpop", scopes="write")
def create(request: HttpRequest) -> HttpResponse:
    return HttpResponse("created")


@require(require="dpop")
async def async_orders(request: HttpRequest) -> HttpResponse:
    return HttpResponse(request.principal.subject)


def plain(request: HttpRequest) -> HttpResponse:
    principal = getattr(request, "principal", None)
    return HttpResponse(principal.subject if principal else "anonymous")


urlpatterns = [
    path("orders", orders),
    path("orders/new", create),
    path("async", async_orders),
    path("plain", plain),
    path("healthz", plain),
]


def test_decorator_sets_request_principal(world: World) -> None:
    with override_settings(PROOFBOUND_GUARD=world.guard, PROOFBOUND_PROXY=world.proxy):
        response = Client().get("/orders", headers=world.dpop("/orders"))
    assert response.status_code == 200
    assert response.json()["cnf"] == {"jkt": world.dpop_key.thumbprint}


def test_decorator_rejection_is_the_guard_response(world: World) -> None:
    token = world.token()
    with override_settings(PROOFBOUND_GUARD=world.guard, PROOFBOUND_PROXY=world.proxy):
        response = Client().get("/orders", headers={"Authorization": f"DPoP {token}"})
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == PROOF_MISSING
    assert response["Access-Control-Expose-Headers"] == EXPOSE
    assert response.content == b""


def test_decorator_sets_the_rotated_nonce(nonce_world: World) -> None:
    w = nonce_world
    assert w.nonces is not None
    with override_settings(PROOFBOUND_GUARD=w.guard, PROOFBOUND_PROXY=w.proxy):
        response = Client().get("/orders", headers=w.dpop("/orders", nonce=w.stale_nonce()))
    assert response.status_code == 200
    assert response["DPoP-Nonce"] == w.nonces.issue(NOW)
    assert response["Cache-Control"] == "no-store"


async def test_async_view_through_the_asgi_request(world: World) -> None:
    with override_settings(PROOFBOUND_GUARD=world.guard, PROOFBOUND_PROXY=world.proxy):
        response = await AsyncClient().get("/async", headers=world.dpop("/async"))
        rejected = await AsyncClient().get("/async")
    assert response.status_code == 200
    assert response.content == b"svc"
    assert rejected.status_code == 401
    assert rejected["WWW-Authenticate"] == 'DPoP algs="ES256 EdDSA PS256 RS256"'


def test_middleware_protects_every_path_but_the_exempt_ones(world: World) -> None:
    with override_settings(
        MIDDLEWARE=[MIDDLEWARE],
        PROOFBOUND_GUARD=world.guard,
        PROOFBOUND_PROXY=world.proxy,
        PROOFBOUND_EXEMPT=["/healthz"],
    ):
        http = Client()
        anonymous = http.get("/plain")
        exempt = http.get("/healthz")
        admitted = http.get("/plain", headers=world.dpop("/plain"))
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"] == NO_CREDENTIALS
    assert exempt.content == b"anonymous"
    assert admitted.status_code == 200
    assert admitted.content == b"svc"


async def test_async_middleware(nonce_world: World) -> None:
    w = nonce_world
    assert w.nonces is not None
    with override_settings(
        MIDDLEWARE=[MIDDLEWARE], PROOFBOUND_GUARD=w.guard, PROOFBOUND_PROXY=w.proxy
    ):
        headers = w.dpop("/plain", nonce=w.stale_nonce())
        response = await AsyncClient().get("/plain", headers=headers)
    assert response.status_code == 200
    assert response["DPoP-Nonce"] == w.nonces.issue(NOW)


def test_decorator_behind_the_middleware_does_not_spend_the_proof_twice(world: World) -> None:
    with override_settings(
        MIDDLEWARE=[MIDDLEWARE], PROOFBOUND_GUARD=world.guard, PROOFBOUND_PROXY=world.proxy
    ):
        http = Client()
        admitted = http.get("/orders", headers=world.dpop("/orders"))
        narrowed = http.post("/orders/new", headers=world.dpop("/orders/new", method="POST"))
    assert admitted.status_code == 200
    assert narrowed.status_code == 403
    assert 'scope="write"' in narrowed["WWW-Authenticate"]


_factory_calls: list[Guard] = []


def make_guard() -> Guard:
    guard = World().guard
    _factory_calls.append(guard)
    return guard


def test_guard_setting_as_a_dotted_path_to_a_factory_is_resolved_once() -> None:
    with override_settings(PROOFBOUND_GUARD=f"{__name__}.make_guard"):
        first = guard_from_settings()
        assert guard_from_settings() is first
    assert _factory_calls == [first]


@pytest.mark.parametrize("value", [None, "os.getcwd", "os.sep", 42])
def test_guard_setting_must_lead_to_a_guard(value: object) -> None:
    with override_settings(PROOFBOUND_GUARD=value), pytest.raises(ImproperlyConfigured):
        guard_from_settings()
