"""Kafka sources against a real Kafka-compatible broker (tansu) with the confluent-kafka client:
produce, consume, restart the consumer mid-stream, and check nothing is lost or doubled."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from c360.ingest import kafka, stream
from c360.ingest.kafka import parse
from c360.ingest.segment import Message, event_id
from c360.sources.kafka import NotAllowed, save_kafka_connection, validate_settings
from c360.sources.models import DataSource, KafkaConnection, KafkaDeadLetter, SourceKind
from c360.warehouse import Warehouse
from factories import make_admin, make_source, make_staff
from ingest.kafka_broker import Broker, start_broker, wait_until

RECEIVED = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


# -- settings ---------------------------------------------------------------------------
GOOD = {"bootstrap_servers": "kafka1:9092, kafka2:9093", "topics": "web, app", "group_id": "c360"}


def test_good_settings_are_normalised() -> None:
    settings = validate_settings(**GOOD, message_format="journey")
    assert settings.bootstrap_servers == "kafka1:9092,kafka2:9093"
    assert settings.topics == ["web", "app"]
    assert settings.message_format == "journey"
    assert settings.security_protocol == "PLAINTEXT"


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"bootstrap_servers": ""}, "bootstrap_servers: required"),
        ({"bootstrap_servers": "kafka1"}, "bootstrap_servers: 'kafka1' has no port"),
        ({"bootstrap_servers": "kafka1:99999"}, "bootstrap_servers: '99999' in 'kafka1:99999'"),
        (
            {"bootstrap_servers": "tcp://kafka1:9092"},
            "bootstrap_servers: 'tcp://kafka1:9092': write host:port without a scheme",
        ),
        ({"topics": " , "}, "topics: name at least one topic"),
        ({"topics": "web shop"}, "topics: 'web shop' is not a valid Kafka topic name"),
        ({"group_id": " "}, "group_id: required"),
        ({"message_format": "avro"}, "message_format: expected one of segment, journey"),
        ({"security_protocol": "TLS"}, "security_protocol: expected one of"),
        ({"security_protocol": "SASL_SSL"}, "sasl_mechanism: with SASL_SSL, one of PLAIN"),
        (
            {"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN"},
            "sasl_username: required with SASL_SSL",
        ),
        (
            {"security_protocol": "SASL_SSL", "sasl_mechanism": "plain", "sasl_username": "c"},
            "sasl_password: required with SASL_SSL",
        ),
        ({"sasl_username": "c360"}, "sasl_username: only used with SASL_PLAINTEXT or SASL_SSL"),
        ({"ssl_ca_location": "/etc/ca.pem"}, "ssl_ca_location: only used with SSL or SASL_SSL"),
        (
            {"security_protocol": "SSL", "ssl_ca_location": "/nonexistent/ca.pem"},
            "ssl_ca_location: no file '/nonexistent/ca.pem'",
        ),
        ({"session_timeout_ms": 1000}, "session_timeout_ms: between 6000 and 300000"),
        ({"session_timeout_ms": "soon"}, "session_timeout_ms: 'soon' is not a number"),
    ],
)
def test_each_bad_setting_is_named(changes: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match="^" + error.split(":")[0]) as caught:
        validate_settings(**{**GOOD, **changes})
    assert error in str(caught.value)


def test_sasl_over_tls_with_every_setting_is_accepted(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = validate_settings(
        **GOOD,
        security_protocol="SASL_SSL",
        sasl_mechanism="scram-sha-512",
        sasl_username="c360",
        sasl_password="s3cret",
        ssl_ca_location=str(ca),
    )
    assert settings.sasl_mechanism == "SCRAM-SHA-512"


@pytest.mark.django_db
def test_only_admins_connect_an_events_source_to_kafka() -> None:
    admin = make_admin()
    staff = make_staff()
    own = make_source(owner=staff)
    settings = validate_settings(**GOOD)
    with pytest.raises(NotAllowed):
        save_kafka_connection(actor=staff, source=own, settings=settings)
    customers = make_source(owner=admin, kind=SourceKind.CUSTOMERS)
    with pytest.raises(ValueError, match="Kafka messages are events"):
        save_kafka_connection(actor=admin, source=customers, settings=settings)
    saved = save_kafka_connection(actor=admin, source=own, settings=settings)
    assert saved.topics == ["web", "app"] and saved.created_by == admin
    again = save_kafka_connection(
        actor=admin, source=own, settings=validate_settings(**{**GOOD, "topics": "web"})
    )
    assert again.pk == saved.pk and again.topics == ["web"]


# -- messages ---------------------------------------------------------------------------
def journey(**fields: Any) -> bytes:
    row = {
        "customer_id": "C1",
        "action_type": "product_view",
        "time": "2026-04-30 09:15:00",
        "channel": "web",
        "device_category": "mobile",
        **fields,
    }
    return json.dumps({k: v for k, v in row.items() if v is not None}).encode()


def parsed(value: bytes, message_format: str = "journey") -> Message:
    return parse(value, message_format=message_format, source_id=7, received_at=RECEIVED)


def test_a_journey_message_lands_in_the_promoted_columns() -> None:
    message = parsed(journey(basket_value="12.5", experience_score="4"))
    row = message.row
    assert row["customer_id"] == "C1"
    assert row["event"] == "product_view"
    assert row["timestamp"] == datetime(2026, 4, 30, 9, 15, tzinfo=UTC)
    assert row["channel"] == "web" and row["device_category"] == "mobile"
    assert row["experience_score"] == 4.0
    assert row["type"] == "track"
    assert json.loads(row["properties"]) == {"basket_value": "12.5"}


def test_a_journey_message_without_id_gets_a_content_key_and_with_one_the_import_key() -> None:
    first = parsed(journey())
    assert parsed(journey()).row["event_id"] == first.row["event_id"]
    assert parsed(journey(channel="app")).row["event_id"] != first.row["event_id"]
    with_id = parsed(journey(message_id="m-9"))
    assert with_id.row["event_id"] == event_id(7, "m-9")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (journey(time=None), "timestamp: timestamp is required but empty"),
        (journey(time="yesterday"), 'time: "yesterday" is not a timestamp'),
        (journey(action_type=" "), "action_type: event is required but empty"),
        (journey(customer_id=None), "no customer identifier on this message"),
        (journey(experience_score="great"), 'experience_score: "great" is not a number'),
        (b"[1, 2]", "message: expected a JSON object"),
        (b"{not json", "the message is not JSON: Expecting property name"),
        (b"\xff\xfe", "the message is not UTF-8 text"),
        (b"", "the message is empty"),
    ],
)
def test_a_bad_journey_message_says_which_field_and_why(value: bytes, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        parsed(value)
    assert reason in str(caught.value)


def test_a_segment_message_without_message_id_is_keyed_by_its_content() -> None:
    body = json.dumps({"type": "track", "userId": "u1", "event": "Viewed"}).encode()
    assert parsed(body, "segment").row["event_id"] == parsed(body, "segment").row["event_id"]
    with pytest.raises(ValueError, match="event: required for a track message"):
        parsed(json.dumps({"type": "track", "userId": "u1"}).encode(), "segment")


# -- against the broker -----------------------------------------------------------------
@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    running = start_broker(tmp_path_factory.mktemp("kafka") / "broker.log")
    try:
        yield running
    finally:
        running.stop()


def connect(admin: User, source: DataSource, broker: Broker, topic: str, fmt: str) -> None:
    save_kafka_connection(
        actor=admin,
        source=source,
        settings=validate_settings(
            bootstrap_servers=broker.bootstrap,
            topics=topic,
            group_id=f"c360-{topic}",
            message_format=fmt,
            session_timeout_ms=6000,  # the broker holds a first join for half of it
        ),
    )


def stored(warehouse: Warehouse, source: DataSource) -> list[dict[str, Any]]:
    table = warehouse.table("events")
    return list(table.filter(table.source_id == source.pk).to_pyarrow().to_pylist())


def track(i: int) -> dict[str, Any]:
    return {
        "type": "track",
        "messageId": f"m-{i}",
        "userId": f"user-{i % 17}",
        "event": "Product Viewed",
        "timestamp": f"2026-05-01T10:{i // 60 % 60:02d}:{i % 60:02d}Z",
        "properties": {"n": i},
    }


class FailingFirst:
    """The real writer, except that the first warehouse commit fails, as a full disk would."""

    def __init__(self) -> None:
        self.failed = 0

    def submit(self, *, source_id: int, messages: list[Message]) -> Future[stream.Receipt]:
        if not self.failed:
            self.failed += 1
            future: Future[stream.Receipt] = Future()
            future.set_exception(OSError("No space left on device"))
            return future
        return stream.stream_writer().submit(source_id=source_id, messages=messages)


@pytest.fixture
def consumers() -> Iterator[None]:
    try:
        yield
    finally:
        kafka.stop_consumers()
        stream.stop_stream_writer()


@pytest.mark.slow
def test_restarted_mid_stream_nothing_is_lost_or_doubled_and_bad_messages_are_dead_letters(
    transactional_db: None, warehouse: Warehouse, broker: Broker, consumers: None
) -> None:
    admin = make_admin()
    source = make_source(owner=admin, name="Clickstream")
    broker.create_topic("clicks", partitions=3)
    connect(admin, source, broker, "clicks", "segment")
    total = 1200
    bad_at = {150: b"{not json", 700: json.dumps({"type": "track", "userId": "u"}).encode()}

    def values(start: int, stop: int) -> Iterator[bytes | dict[str, Any]]:
        for i in range(start, stop):
            yield bad_at.get(i, track(i))

    produced: list[dict[int, int]] = [broker.produce("clicks", values(0, 400))]
    sink = FailingFirst()
    # Small rounds, so that the stop falls between two of them.
    first = kafka.start_consumer(source_id=source.pk, sink=sink, max_messages=100)
    # Keep producing while the consumer works, and stop it in the middle of the stream.
    producer = threading.Thread(
        target=lambda: produced.append(broker.produce("clicks", values(400, total)))
    )
    producer.start()
    wait_until(lambda: first.rounds >= 3, timeout=60, what="three stored rounds")
    first.stop()
    assert not first.alive
    producer.join(60)
    kept = len(stored(warehouse, source))
    assert 0 < kept < total - len(bad_at), "the restart must fall mid-stream"
    assert sink.failed == 1  # the failed commit was read again, not skipped

    # The same messages produced again (a producer's retry, a replay) are stored once.
    produced.append(broker.produce("clicks", values(300, 500)))
    second = kafka.start_consumer(source_id=source.pk)
    expected = {f"m-{i}" for i in range(total) if i not in bad_at}
    wait_until(
        lambda: len(stored(warehouse, source)) >= len(expected),
        timeout=90,
        what="every message to be stored",
    )

    def caught_up() -> bool:
        connection = KafkaConnection.objects.get(source=source)
        return connection.total_lag == 0 and len(connection.partitions) == 3

    wait_until(caught_up, timeout=30, what="the consumer to report no lag")
    rows = stored(warehouse, source)
    assert sorted(row["message_id"] for row in rows) == sorted(expected)
    assert {row["event_id"] for row in rows} == {event_id(source.pk, m) for m in expected}

    letters = {
        letter.reason.split(":")[0]: letter
        for letter in KafkaDeadLetter.objects.filter(source=source)
    }
    assert set(letters) == {"the message is not JSON", "event"}
    assert letters["event"].reason == "event: required for a track message"
    assert letters["event"].topic == "clicks"
    assert 0 <= letters["event"].partition < 3 and letters["event"].offset >= 0
    assert letters["the message is not JSON"].value == "{not json"

    connection = KafkaConnection.objects.get(source=source)
    # Every offset of every partition is committed: the partitions' message counts. (Not the
    # broker's end offsets: tansu reports the last record batch's first offset + 1 as the end.)
    ends = {p: sum(counts.get(p, 0) for counts in produced) for p in range(3)}
    assert sum(ends.values()) == total + 200
    assert {p["partition"]: p["committed"] for p in connection.partitions} == ends
    assert connection.state == "running"
    assert connection.messages_dead == 2
    assert "dead letters" in connection.last_error or "No space left" in connection.last_error
    # The source page shows what the consumer reported.
    page = Client()
    page.force_login(admin)
    html = page.get(reverse("kafka-state", args=[source.pk])).content.decode()
    assert 'data-kafka-state="running"' in html
    assert html.count("<td>clicks</td>") == 3 + 2  # three partitions, two dead letters
    assert "event: required for a track message" in html
    second.stop()
    assert KafkaConnection.objects.get(source=source).state == "stopped"


@pytest.mark.slow
def test_the_server_consumes_connections_made_while_it_runs_in_journey_format(
    transactional_db: None, warehouse: Warehouse, broker: Broker, consumers: None
) -> None:
    admin = make_admin()
    source = make_source(owner=admin, name="Store visits")
    broker.create_topic("visits", partitions=1)
    assert kafka.start_consumers() == 0
    # Made as `c360 kafka set` in another process makes it: the server notices by itself.
    KafkaConnection.objects.create(
        source=source,
        bootstrap_servers=broker.bootstrap,
        topics=["visits"],
        group_id="c360-visits",
        message_format="journey",
        session_timeout_ms=6000,
        created_by=admin,
    )
    broker.produce(
        "visits",
        [
            journey(customer_id="C1", time="2026-04-30T09:00:00+02:00"),
            journey(customer_id="C2", action_type="store_visit", store="Utrecht"),
            journey(customer_id="C1", time="30/04/2026"),
            journey(customer_id="C2", action_type="store_visit", store="Utrecht"),  # again
        ],
    )
    wait_until(
        lambda: (
            KafkaDeadLetter.objects.filter(source=source).exists()
            and len(stored(warehouse, source)) == 2
        ),
        timeout=60,
        what="two events and a dead letter",
    )
    rows = sorted(stored(warehouse, source), key=lambda r: r["customer_id"])
    assert [r["customer_id"] for r in rows] == ["C1", "C2"]
    assert rows[0]["timestamp"] == datetime(2026, 4, 30, 7, 0, tzinfo=UTC)
    assert rows[1]["store"] == "Utrecht"
    letter = KafkaDeadLetter.objects.get(source=source)
    assert letter.offset == 2 and letter.partition == 0
    assert letter.reason == 'time: "30/04/2026" is not a timestamp'
    # Paused on the page: the server stops that consumer.
    connection = KafkaConnection.objects.get(source=source)
    save_kafka_connection(
        actor=admin,
        source=source,
        settings=validate_settings(
            bootstrap_servers=connection.bootstrap_servers,
            topics=connection.topics,
            group_id=connection.group_id,
            message_format="journey",
            session_timeout_ms=6000,
            enabled=False,
        ),
    )
    assert KafkaConnection.objects.get(source=source).state == "stopped"
    assert kafka.sync_consumers() == 0
