"""The real Segment client library (segment-analytics-python), pointed at a running
`c360 serve`, sends every kind of call; the events are found in the person's profile."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .live import Server, seed

pytestmark = pytest.mark.slow


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Server, dict[str, Any]]]:
    data_dir = tmp_path / "data"
    seeded = seed(data_dir)
    server = Server(data_dir=data_dir, log=tmp_path / "server.log")
    server.start()
    try:
        yield server, seeded
    finally:
        server.stop()


def _timeline(server: Server, token: str, id_type: str, value: str) -> list[str]:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        found = client.get("/api/profiles/lookup", params={"id_type": id_type, "value": value})
        if found.status_code == 404:
            return []
        assert found.status_code == 200, found.text
        person_id = found.json()["person_id"]
        page = client.get(f"/api/profiles/{person_id}/timeline")
        assert page.status_code == 200, page.text
        return sorted(entry["activity"] for entry in page.json()["entries"])


def test_a_segment_client_sends_events_that_reach_the_profile(
    live: tuple[Server, dict[str, Any]],
) -> None:
    from segment.analytics.client import Client

    server, seeded = live
    errors: list[Any] = []
    client = Client(
        seeded["write_key"],
        host=server.url,
        on_error=lambda error, batch: errors.append(error),
        max_retries=2,
    )
    # A visitor browses anonymously, then signs in: the library batches the calls.
    client.page(anonymous_id="anon-42", name="Home", properties={"url": "https://shop.nl/"})
    client.track(
        anonymous_id="anon-42",
        event="Product Viewed",
        properties={"sku": "P1"},
        context={"userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0 Safari"},
    )
    client.identify(user_id="user-42", anonymous_id="anon-42", traits={"email": "kim@example.nl"})
    client.track(user_id="user-42", event="Order Completed", properties={"revenue": 42.5})
    client.screen(user_id="user-42", name="Basket")
    client.group(user_id="user-42", group_id="household-1", traits={"size": 3})
    client.alias(previous_id="device-anon-9", user_id="user-42")
    client.flush()
    client.join()
    assert errors == []

    # One call at a time too (sync mode), with a message id sent twice: stored once.
    sync = Client(seeded["write_key"], host=server.url, sync_mode=True, on_error=errors.append)
    for _ in range(2):
        sync.track(user_id="user-42", event="Newsletter Opened", message_id="fixed-id-1")
    assert errors == []

    expected = [
        "Basket",
        "Home",
        "Newsletter Opened",
        "Order Completed",
        "Product Viewed",
        "alias",
        "group",
        "identify",
    ]
    deadline = time.monotonic() + 30
    while (found := _timeline(server, seeded["token"], "user_id", "user-42")) != expected:
        assert time.monotonic() < deadline, f"the profile shows {found}, not {expected}"
        time.sleep(0.3)
    # The alias's previous id and the identify's e-mail lead to the same person.
    assert _timeline(server, seeded["token"], "anonymous_id", "device-anon-9") == expected
    assert _timeline(server, seeded["token"], "email", "kim@example.nl") == expected


def test_the_client_hears_a_wrong_write_key(live: tuple[Server, dict[str, Any]]) -> None:
    from segment.analytics.client import Client
    from segment.analytics.request import APIError

    server, _ = live
    client = Client("c360wk_not_a_key", host=server.url, sync_mode=True)
    with pytest.raises(APIError) as refused:
        client.track(user_id="u1", event="x")
    assert refused.value.status == 401
    assert "The write key is not known or has been revoked" in refused.value.message
