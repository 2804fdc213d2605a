"""State changes of Kafka connections: their validated settings and their dead letters.

A Kafka connection belongs to one events source (one to one). Admins create and change it,
on the source page or with `c360 kafka set`; every setting is checked here, with an error
that names the setting, before anything tries to reach a broker. The consumer itself lives
in c360.ingest.kafka.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from c360.accounts.logic import is_admin
from c360.sources.logic import NotAllowed
from c360.sources.models import (
    DataSource,
    KafkaConnection,
    KafkaDeadLetter,
    KafkaFormat,
    KafkaSecurity,
    SourceKind,
)
from c360.sources.permissions import Actor

__all__ = [
    "KafkaSettings",
    "NotAllowed",
    "consumer_config",
    "delete_kafka_connection",
    "may_see_dead_letters",
    "record_dead_letters",
    "save_kafka_connection",
    "validate_settings",
]

SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
MIN_SESSION_TIMEOUT_MS = 6_000  # Kafka brokers refuse less (group.min.session.timeout.ms)
MAX_SESSION_TIMEOUT_MS = 300_000
VALUE_LIMIT = 10_000  # characters of a dead letter's message kept for the page
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")  # Kafka's own rule for topic names
_HOST = re.compile(r"^[A-Za-z0-9._-]+$|^\[[0-9A-Fa-f:.]+\]$")


@dataclass(frozen=True)
class KafkaSettings:
    """Validated settings of a Kafka connection."""

    bootstrap_servers: str
    topics: list[str]
    group_id: str
    message_format: str
    security_protocol: str = KafkaSecurity.PLAINTEXT
    sasl_mechanism: str = ""
    sasl_username: str = ""
    sasl_password: str = ""
    ssl_ca_location: str = ""
    session_timeout_ms: int = 10_000
    enabled: bool = True


def _bootstrap(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("bootstrap_servers: required, e.g. 'kafka1:9092,kafka2:9092'")
    servers = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        if "://" in item:
            raise ValueError(
                f"bootstrap_servers: {item!r}: write host:port without a scheme "
                "(TLS and SASL are set with security_protocol)"
            )
        host, sep, port = item.rpartition(":")
        if not sep or not host:
            raise ValueError(f"bootstrap_servers: {item!r} has no port; write host:port")
        if not _HOST.match(host):
            raise ValueError(f"bootstrap_servers: {host!r} is not a host name or address")
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(f"bootstrap_servers: {port!r} in {item!r} is not a port (1-65535)")
        servers.append(f"{host}:{int(port)}")
    if not servers:
        raise ValueError("bootstrap_servers: required, e.g. 'kafka1:9092,kafka2:9092'")
    return ",".join(servers)


def _topics(value: Any) -> list[str]:
    if isinstance(value, str):
        items = [t.strip() for t in value.replace("\n", ",").split(",")]
    elif isinstance(value, list | tuple):
        items = [str(t).strip() if isinstance(t, str) else t for t in value]
    else:
        raise ValueError("topics: expected topic names, separated by commas")
    topics: list[str] = []
    for topic in items:
        if topic == "" or topic is None:
            continue
        if not isinstance(topic, str):
            raise ValueError(f"topics: {topic!r} is not a topic name")
        if topic in (".", "..") or not _TOPIC.match(topic):
            raise ValueError(
                f"topics: {topic[:60]!r} is not a valid Kafka topic name "
                "(letters, digits, '.', '_' and '-', at most 249)"
            )
        if topic not in topics:
            topics.append(topic)
    if not topics:
        raise ValueError("topics: name at least one topic to consume")
    return topics


def validate_settings(
    *,
    bootstrap_servers: Any,
    topics: Any,
    group_id: Any,
    message_format: Any = KafkaFormat.SEGMENT,
    security_protocol: Any = KafkaSecurity.PLAINTEXT,
    sasl_mechanism: Any = "",
    sasl_username: Any = "",
    sasl_password: Any = "",
    ssl_ca_location: Any = "",
    session_timeout_ms: Any = 10_000,
    enabled: Any = True,
) -> KafkaSettings:
    """The settings, checked; ValueError names the first wrong one and says why."""
    servers = _bootstrap(bootstrap_servers)
    topic_names = _topics(topics)
    if not isinstance(group_id, str) or not group_id.strip():
        raise ValueError("group_id: required; consumers sharing a group share the partitions")
    group = group_id.strip()
    if len(group) > 255:
        raise ValueError("group_id: at most 255 characters")
    if message_format not in KafkaFormat.values:
        raise ValueError(
            f"message_format: expected one of {', '.join(KafkaFormat.values)}, "
            f"got {message_format!r}"
        )
    if security_protocol not in KafkaSecurity.values:
        raise ValueError(
            f"security_protocol: expected one of {', '.join(KafkaSecurity.values)}, "
            f"got {security_protocol!r}"
        )
    sasl = str(security_protocol).startswith("SASL_")
    tls = security_protocol in (KafkaSecurity.SSL, KafkaSecurity.SASL_SSL)
    mechanism = (sasl_mechanism or "").strip().upper()
    username = (sasl_username or "").strip()
    password = sasl_password or ""
    if sasl:
        if mechanism not in SASL_MECHANISMS:
            raise ValueError(
                f"sasl_mechanism: with {security_protocol}, one of {', '.join(SASL_MECHANISMS)}"
                + (f", not {mechanism!r}" if mechanism else "")
            )
        if not username:
            raise ValueError(f"sasl_username: required with {security_protocol}")
        if not password:
            raise ValueError(f"sasl_password: required with {security_protocol}")
    elif mechanism or username or password:
        field = "sasl_mechanism" if mechanism else "sasl_username" if username else "sasl_password"
        raise ValueError(f"{field}: only used with SASL_PLAINTEXT or SASL_SSL")
    ca = (ssl_ca_location or "").strip()
    if ca:
        if not tls:
            raise ValueError("ssl_ca_location: only used with SSL or SASL_SSL")
        if not Path(ca).is_file():
            raise ValueError(f"ssl_ca_location: no file {ca!r} on this server")
    try:
        timeout = int(session_timeout_ms)
    except (TypeError, ValueError):
        raise ValueError(f"session_timeout_ms: {session_timeout_ms!r} is not a number") from None
    if not MIN_SESSION_TIMEOUT_MS <= timeout <= MAX_SESSION_TIMEOUT_MS:
        raise ValueError(
            f"session_timeout_ms: between {MIN_SESSION_TIMEOUT_MS} and {MAX_SESSION_TIMEOUT_MS}"
        )
    return KafkaSettings(
        bootstrap_servers=servers,
        topics=topic_names,
        group_id=group,
        message_format=str(message_format),
        security_protocol=str(security_protocol),
        sasl_mechanism=mechanism,
        sasl_username=username,
        sasl_password=password,
        ssl_ca_location=ca,
        session_timeout_ms=timeout,
        enabled=bool(enabled),
    )


def save_kafka_connection(
    *, actor: User, source: DataSource, settings: KafkaSettings
) -> KafkaConnection:
    """Create or change the source's Kafka connection; admins only (the server connects to
    the hosts it names). A running server restarts the source's consumer with them."""
    if not is_admin(actor):
        raise NotAllowed("only admins connect a data source to Kafka")
    if source.kind != SourceKind.EVENTS:
        raise ValueError(f"Kafka messages are events; {source.name!r} is a {source.kind} source")
    values = {
        "bootstrap_servers": settings.bootstrap_servers,
        "topics": settings.topics,
        "group_id": settings.group_id,
        "message_format": settings.message_format,
        "security_protocol": settings.security_protocol,
        "sasl_mechanism": settings.sasl_mechanism,
        "sasl_username": settings.sasl_username,
        "sasl_password": settings.sasl_password,
        "ssl_ca_location": settings.ssl_ca_location,
        "session_timeout_ms": settings.session_timeout_ms,
        "enabled": settings.enabled,
    }
    connection, created = KafkaConnection.objects.update_or_create(
        source=source, defaults=values, create_defaults={**values, "created_by": actor}
    )
    from c360.ingest.kafka import settings_changed

    settings_changed(source_id=source.pk)
    return connection


def delete_kafka_connection(*, actor: User, source: DataSource) -> None:
    """Stop consuming the source's topics; admins only. Its dead letters stay."""
    if not is_admin(actor):
        raise NotAllowed("only admins disconnect a data source from Kafka")
    KafkaConnection.objects.filter(source=source).delete()
    from c360.ingest.kafka import settings_changed

    settings_changed(source_id=source.pk)


def consumer_config(connection: KafkaConnection) -> dict[str, Any]:
    """The librdkafka settings of the connection's consumer.

    Offsets are committed by hand, only after the warehouse commit (at least once); a group
    new to a topic starts at its beginning, so nothing produced before it joined is skipped.
    """
    config: dict[str, Any] = {
        "bootstrap.servers": connection.bootstrap_servers,
        "group.id": connection.group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": connection.session_timeout_ms,
        "heartbeat.interval.ms": max(500, connection.session_timeout_ms // 6),
        # A fetch with nothing new returns after 100 ms rather than 500: fresher events for
        # ten small requests a second per idle broker.
        "fetch.wait.max.ms": 100,
        "client.id": f"c360-source-{connection.source_id}",
        "security.protocol": connection.security_protocol,
    }
    if connection.security_protocol.startswith("SASL_"):
        config["sasl.mechanism"] = connection.sasl_mechanism
        config["sasl.username"] = connection.sasl_username
        config["sasl.password"] = connection.sasl_password
    if connection.ssl_ca_location:
        config["ssl.ca.location"] = connection.ssl_ca_location
    return config


def record_dead_letters(*, source_id: int, letters: list[dict[str, Any]]) -> int:
    """Keep messages that cannot be stored; one per offset, so a replay adds none."""
    made = 0
    for letter in letters:
        try:
            with transaction.atomic():
                KafkaDeadLetter.objects.create(
                    source_id=source_id,
                    topic=letter["topic"],
                    partition=letter["partition"],
                    offset=letter["offset"],
                    key=(letter.get("key") or "")[:1000],
                    value=(letter.get("value") or "")[:VALUE_LIMIT],
                    reason=letter["reason"][:2000],
                )
            made += 1
        except IntegrityError:  # recorded before a restart replayed the offset
            continue
    return made


def may_see_dead_letters(actor: Actor, source: DataSource) -> bool:
    """Dead letters hold raw messages, personal data included: the import right sees them."""
    from c360.sources.permissions import can

    return can(actor, "import", source)
