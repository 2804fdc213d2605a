"""Write keys of the tracking API on the source page: created, shown once, revoked."""

from __future__ import annotations

import re

from django.urls import reverse

from c360.sources import logic
from c360.sources.models import SourceKind, WriteKey
from c360.warehouse import Warehouse
from factories import make_source

from .conftest import World, client_for


def _create(world: World, name: str = "web shop") -> tuple[str, WriteKey]:
    response = client_for(world.admin).post(
        reverse("write-key-create", args=[world.public.pk]), {"name": name}
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    secret = re.search(r'value="(c360wk_[^"]+)"', response.content.decode())
    assert secret is not None
    return secret.group(1), WriteKey.objects.get(source=world.public, name=name)


def test_a_write_key_is_shown_once_and_stored_hashed(world: World) -> None:
    secret, key = _create(world)
    assert logic.source_for_write_key(secret) == world.public.pk
    assert secret not in (key.key_hash, key.prefix)
    page = client_for(world.admin).get(reverse("source-detail", args=[world.public.pk]))
    html = page.content.decode()
    assert "Tracking API" in html
    assert f"c360wk_{key.prefix}_…" in html
    assert secret not in html  # never shown again


def test_a_revoked_write_key_is_refused_and_marked(world: World) -> None:
    secret, key = _create(world)
    response = client_for(world.admin).post(
        reverse("write-key-revoke", args=[world.public.pk, key.pk])
    )
    assert response.status_code == 302
    assert logic.source_for_write_key(secret) is None
    key.refresh_from_db()
    assert key.revoked_at is not None and key.revoked_by == world.admin
    html = client_for(world.admin).get(reverse("source-detail", args=[world.public.pk]))
    assert "revoked" in html.content.decode()


def test_a_source_may_hold_several_write_keys(world: World) -> None:
    first, _ = _create(world, "web")
    second, _ = _create(world, "app")
    assert first != second
    assert logic.source_for_write_key(first) == logic.source_for_write_key(second)


def test_only_managers_see_and_change_write_keys(world: World) -> None:
    # The importer may import into the public source but does not manage it.
    importer = client_for(world.importer)
    page = importer.get(reverse("source-detail", args=[world.public.pk])).content.decode()
    assert "Tracking API" not in page
    created = importer.post(reverse("write-key-create", args=[world.public.pk]), {"name": "x"})
    assert created.status_code == 403
    _, key = _create(world)
    revoked = importer.post(reverse("write-key-revoke", args=[world.public.pk, key.pk]))
    assert revoked.status_code == 403
    key.refresh_from_db()
    assert key.is_active
    # Someone who may not see the source does not learn that it exists.
    hidden = client_for(world.viewer).post(
        reverse("write-key-create", args=[world.private.pk]), {"name": "x"}
    )
    assert hidden.status_code == 404
    anonymous = client_for(None).post(
        reverse("write-key-create", args=[world.public.pk]), {"name": "x"}
    )
    assert anonymous.status_code == 302  # to the log-in page
    assert not WriteKey.objects.filter(name="x").exists()


def test_sources_of_other_kinds_take_no_write_keys(world: World) -> None:
    crm = make_source(owner=world.admin, name="CRM", kind=SourceKind.CUSTOMERS)
    admin = client_for(world.admin)
    assert "Tracking API" not in admin.get(reverse("source-detail", args=[crm.pk])).content.decode()
    response = admin.post(reverse("write-key-create", args=[crm.pk]), {"name": "x"}, follow=True)
    assert "the tracking API writes events" in response.content.decode()
    assert not WriteKey.objects.filter(source=crm).exists()


def test_a_write_key_needs_a_name(world: World) -> None:
    response = client_for(world.admin).post(
        reverse("write-key-create", args=[world.public.pk]), {"name": "  "}, follow=True
    )
    assert "say what the write key is for" in response.content.decode()
    assert not WriteKey.objects.exists()


def test_the_source_page_shows_events_per_minute_and_the_last_event(
    world: World, warehouse: Warehouse
) -> None:
    from datetime import UTC, datetime, timedelta

    import pyarrow as pa

    from c360.warehouse.schema import EVENTS

    admin = client_for(world.admin)
    empty = admin.get(reverse("source-detail", args=[world.public.pk])).content.decode()
    assert re.search(r"data-events-per-minute>0<", empty)
    assert "none yet" in empty
    now = datetime.now(UTC)
    rows = [
        {"event_id": f"e{i}", "source_id": world.public.pk, "batch_id": 1, "row_number": i,
         "ingested_at": at, "event": "visit", "timestamp": at}
        for i, at in enumerate([now - timedelta(minutes=5), now, now, now - timedelta(seconds=30)])
    ]  # fmt: skip
    with warehouse.writer() as writer:
        writer.append("events", pa.Table.from_pylist(rows, schema=EVENTS.to_pyarrow()))
    page = admin.get(reverse("source-detail", args=[world.public.pk])).content.decode()
    assert re.search(r"data-events-per-minute>3<", page)
    assert now.strftime("%Y-%m-%d %H:%M:%S") in page  # the last event's time
    assert 'id="arrivals"' in page and 'hx-trigger="every 10s"' in page
    # The private source's events are not counted for the public one.
    viewer = client_for(world.viewer).get(reverse("source-detail", args=[world.public.pk]))
    assert re.search(r"data-events-per-minute>3<", viewer.content.decode())
