"""Revocations reach resource servers: the feed document and, with Redis, the same entries."""

from __future__ import annotations

import json
import secrets
from typing import Any

import httpx
import pytest

from proofbound import FrozenClock
from proofbound.server.app import AuthorizationServer, create_app
from proofbound.server.revocation import REDIS_CHANNEL, REDIS_PREFIX, RedisPublisher
from proofbound.storage.store import Store

from .conftest import ISSUER, NOW, ASHarness, make_settings


@pytest.mark.redis
async def test_revocations_are_written_to_redis_until_they_may_be_forgotten(
    redis_url: str, tmp_path: Any
) -> None:
    import redis

    probe = redis.Redis.from_url(redis_url)
    pubsub = probe.pubsub()
    pubsub.subscribe(REDIS_CHANNEL)
    pubsub.get_message(timeout=1)  # the subscription confirmation
    settings = make_settings(redis_url=redis_url)
    server = AuthorizationServer(settings, Store.open(f"sqlite:///{tmp_path / 'r.db'}"))
    transport = httpx.ASGITransport(app=create_app(server), client=("127.0.0.1", 1))
    jkt = secrets.token_urlsafe(32)[:43]
    try:
        async with httpx.AsyncClient(transport=transport) as http:
            harness = ASHarness(server, http, FrozenClock(NOW))
            response = await harness.admin({"jkt": jkt})
            assert response.json() == {"revoked": 0}
        key = f"{REDIS_PREFIX}jkt:{jkt}"
        assert probe.exists(key)
        ttl_ms = probe.pttl(key)
        assert 0 < ttl_ms <= settings.access_token_ttl * 1000 + 2000
        message = pubsub.get_message(timeout=2)
        assert message is not None
        entry = json.loads(message["data"])
        assert entry["kind"] == "jkt"
        assert entry["value"] == jkt
    finally:
        probe.delete(f"{REDIS_PREFIX}jkt:{jkt}")
        pubsub.close()
        probe.close()
        server.close()


async def test_feed_lists_entries_and_a_redis_outage_keeps_the_database_entry(
    tmp_path: Any,
) -> None:
    # A Redis that cannot be reached: the revocation still takes effect and is in the feed.
    settings = make_settings()
    publisher = RedisPublisher("redis://127.0.0.1:1/0")
    server = AuthorizationServer(
        settings,
        Store.open(f"sqlite:///{tmp_path / 'f.db'}"),
        clock=FrozenClock(NOW),
        publisher=publisher,
    )
    transport = httpx.ASGITransport(app=create_app(server), client=("127.0.0.1", 1))
    async with httpx.AsyncClient(transport=transport) as http:
        harness = ASHarness(server, http, FrozenClock(NOW))
        assert (await harness.admin({"client_id": "batch"})).status_code == 200
        feed = (await http.get(ISSUER + "/revocations")).json()
    server.close()
    assert feed["revocations"] == [
        {
            "kind": "client_id",
            "value": "batch",
            "revoked_at": NOW,
            "forget_after": NOW + settings.access_token_ttl,
        }
    ]
