"""The profile's timeline reloads itself: events streamed in show without a reload."""

from __future__ import annotations

import re

from django.test import Client
from django.urls import reverse

from c360.profiles import logic

from .conftest import Shop


def _poller(html: str) -> str:
    found = re.search(r'<div class="timeline-live" hx-get="([^"]+)" hx-trigger="every 3s"', html)
    assert found is not None, "the timeline does not reload itself"
    return found.group(1).replace("&amp;", "&")


def test_the_newest_timeline_page_polls_and_shows_new_events(shop: Shop) -> None:
    client = Client()
    client.force_login(shop.admin)
    person_id = logic.lookup(shop.admin, id_type="customer_id", value="C1")
    page = client.get(reverse("profile-detail", args=[person_id])).content.decode()
    assert "updated just now" in page
    poll = _poller(page)
    assert poll.startswith(reverse("profile-timeline", args=[person_id]))
    before = client.get(poll).content.decode()
    assert "Live chat started" not in before
    # An event of the person lands (as the tracking API's writer places it).
    from datetime import UTC, datetime

    import pyarrow as pa

    from c360.identity.logic import identifiers_of, place_known_records
    from c360.warehouse.schema import EVENTS

    row = {
        "event_id": "live-1",
        "source_id": shop.sources["web"].pk,
        "batch_id": 999,
        "row_number": 1,
        "ingested_at": datetime.now(UTC),
        "type": "track",
        "event": "live_chat_started",
        "customer_id": "C1",
        "timestamp": datetime.now(UTC),
    }
    events = pa.Table.from_pylist([row], schema=EVENTS.to_pyarrow())
    with shop.warehouse.writer() as writer:
        writer.append("events", events)
        identifiers = identifiers_of(table="events", rows=events)
        placed = place_known_records(writer, events=events, identifiers=identifiers)
    assert placed == 1
    after = client.get(poll).content.decode()
    assert "Live chat started" in after
    assert "updated just now" in after
    assert _poller(after) == poll  # and it keeps polling


def test_older_pages_do_not_poll(shop: Shop) -> None:
    client = Client()
    client.force_login(shop.admin)
    person_id = logic.lookup(shop.admin, id_type="customer_id", value="C1")
    older = client.get(reverse("profile-timeline", args=[person_id]) + "?page=2")
    assert 'hx-trigger="every 3s"' not in older.content.decode()
