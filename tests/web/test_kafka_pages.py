"""The Kafka panel of the source page: consumer state, lag per partition, last error and dead
letters for those who may see them; the connection's settings for admins only."""

from __future__ import annotations

from datetime import UTC, datetime

from django.urls import reverse

from c360.sources.models import KafkaConnection, KafkaDeadLetter, SourceKind
from factories import make_source

from .conftest import World, client_for


def _connect(world: World) -> KafkaConnection:
    connection = KafkaConnection.objects.create(
        source=world.public,
        bootstrap_servers="kafka1:9092",
        topics=["web-events"],
        group_id="c360-web",
        sasl_password="never-shown",  # noqa: S106
        created_by=world.admin,
        state="running",
        state_at=datetime(2026, 5, 1, 12, 0, tzinfo=UTC),
        consumer_host="node-1:4242",
        partitions=[
            {"topic": "web-events", "partition": 0, "committed": 120, "end": 125, "lag": 5},
            {"topic": "web-events", "partition": 1, "committed": 98, "end": 98, "lag": 0},
        ],
        messages_stored=218,
        messages_dead=1,
        last_error="1 message(s) sent to the dead letters; the first: web-events[1] offset 7",
    )
    KafkaDeadLetter.objects.create(
        source=world.public,
        topic="web-events",
        partition=1,
        offset=7,
        value='{"userId": "alice@example.com"}',
        reason="event: required for a track message",
    )
    return connection


def test_the_source_page_loads_the_kafka_panel_of_an_events_source(world: World) -> None:
    html = client_for(world.viewer).get(reverse("source-detail", args=[world.public.pk]))
    assert reverse("kafka-panel", args=[world.public.pk]) in html.content.decode()
    orders = make_source(owner=world.admin, kind=SourceKind.ORDERS, visibility="public")
    html = client_for(world.admin).get(reverse("source-detail", args=[orders.pk]))
    assert reverse("kafka-panel", args=[orders.pk]) not in html.content.decode()


def test_admins_see_state_lag_last_error_and_dead_letters(world: World) -> None:
    _connect(world)
    html = client_for(world.admin).get(reverse("kafka-panel", args=[world.public.pk]))
    assert html.status_code == 200
    text = html.content.decode()
    assert 'data-kafka-state="running"' in text
    assert "node-1:4242" in text
    assert "<strong data-kafka-lag>5</strong>" in text
    assert "web-events[1] offset 7" in text  # the last error
    assert "event: required for a track message" in text
    assert "alice@example.com" in text
    assert reverse("kafka-save", args=[world.public.pk]) in text
    assert "never-shown" not in text


def test_a_viewer_sees_the_state_but_not_the_dead_letters_nor_the_settings(world: World) -> None:
    _connect(world)
    text = client_for(world.viewer).get(reverse("kafka-panel", args=[world.public.pk]))
    body = text.content.decode()
    assert 'data-kafka-state="running"' in body and "<strong data-kafka-lag>5</strong>" in body
    assert "alice@example.com" not in body  # raw messages need the import right
    assert reverse("kafka-save", args=[world.public.pk]) not in body
    # The importer holds the import right: the dead letters are theirs to see.
    state = client_for(world.importer).get(reverse("kafka-state", args=[world.public.pk]))
    assert "alice@example.com" in state.content.decode()


def test_no_panel_for_a_source_without_connection_unless_admin(world: World) -> None:
    viewer = client_for(world.viewer).get(reverse("kafka-panel", args=[world.public.pk]))
    assert viewer.status_code == 200 and viewer.content == b""
    admin = client_for(world.admin).get(reverse("kafka-panel", args=[world.public.pk]))
    assert "Connect this source to Kafka topics" in admin.content.decode()


def test_others_are_refused(world: World) -> None:
    _connect(world)
    for name in ("kafka-panel", "kafka-state"):
        url = reverse(name, args=[world.private.pk])
        assert client_for(world.viewer).get(url).status_code == 404
        anonymous = client_for(None).get(reverse(name, args=[world.public.pk]))
        assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    for name in ("kafka-save", "kafka-delete"):
        url = reverse(name, args=[world.public.pk])
        assert client_for(world.importer).post(url, {"topics": "x"}).status_code == 403
        assert (
            client_for(world.owner)
            .post(reverse(name, args=[world.private.pk]), {"topics": "x"})
            .status_code
            == 403
        )  # the owner of a source is not an admin
    assert KafkaConnection.objects.get(source=world.public).topics == ["web-events"]


def test_an_admin_saves_checked_settings_and_a_bad_one_is_named(world: World) -> None:
    admin = client_for(world.admin)
    url = reverse("kafka-save", args=[world.public.pk])
    bad = admin.post(
        url,
        {"bootstrap_servers": "kafka1", "topics": "web", "group_id": "g", "enabled": "on"},
        follow=True,
    )
    assert "bootstrap_servers: &#x27;kafka1&#x27; has no port" in bad.content.decode()
    assert not KafkaConnection.objects.filter(source=world.public).exists()
    good = admin.post(
        url,
        {
            "bootstrap_servers": "kafka1:9092",
            "topics": "web, app",
            "group_id": "c360-web",
            "message_format": "journey",
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-256",
            "sasl_username": "c360",
            "sasl_password": "pw",
            "session_timeout_ms": "10000",
        },
    )
    assert good.status_code == 302
    saved = KafkaConnection.objects.get(source=world.public)
    assert saved.topics == ["web", "app"] and saved.message_format == "journey"
    assert not saved.enabled  # the box was not ticked: saved paused
    # Saving again with an empty password field keeps the stored password.
    admin.post(
        url,
        {
            "bootstrap_servers": "kafka1:9092",
            "topics": "web",
            "group_id": "c360-web",
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-256",
            "sasl_username": "c360",
            "sasl_password": "",
            "enabled": "on",
        },
    )
    saved.refresh_from_db()
    assert saved.sasl_password == "pw" and saved.topics == ["web"] and saved.enabled
    admin.post(reverse("kafka-delete", args=[world.public.pk]))
    assert not KafkaConnection.objects.filter(source=world.public).exists()
