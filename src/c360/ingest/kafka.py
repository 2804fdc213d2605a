"""The Kafka consumer of an events source: topics in, events through the group-commit writer.

At least once: offsets are committed by hand, synchronously, only after the writer has
committed the messages to the warehouse (c360.ingest.stream). A crash or a restart between
the two delivers those messages again, and the event id (from the message id, else from the
message's content) makes the warehouse store them once. A message that cannot be stored (not
JSON, not valid in its format) becomes a dead letter, with its topic, partition, offset and
reason, and the consumer goes on; its offset is committed with the rest.

Rebalances: one thread polls, stores and commits in turn, and librdkafka runs the rebalance
callbacks inside poll, so when a partition is taken away nothing of it is stored but
uncommitted: the new owner starts exactly after the last warehouse commit.

Where it runs: in embedded mode the server runs one consumer per enabled Kafka connection
(start_consumers at start-up, stop_consumers at shutdown); with a PostgreSQL warehouse
`c360 consume --source NAME` runs one in a process of its own, and several such processes
share the partitions through the consumer group. Either way the consumer reports its state,
per-partition committed offsets and lag, and its last error on the connection, for the page.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from c360.ingest.segment import Message, MessageError, now, validate_message

if TYPE_CHECKING:
    from c360.ingest.stream import Receipt

log = logging.getLogger("c360.ingest.kafka")

MAX_POLL_MESSAGES = 2_000  # messages taken from the broker per round, stored in one commit
POLL_SECONDS = 0.2  # how long one poll waits for messages when none are there
STATE_SECONDS = 2.0  # how often the consumer reports its state and lag
COMMIT_WAIT_SECONDS = 120.0  # how long to wait for the warehouse commit before retrying
MAX_BACKOFF_SECONDS = 30.0


class Sink(Protocol):
    def submit(self, *, source_id: int, messages: list[Message]) -> Future[Receipt]: ...


@dataclass
class _Round:
    """One poll's messages: what to store, what is dead, and the offsets they span."""

    messages: list[Message] = field(default_factory=list)
    dead: list[dict[str, Any]] = field(default_factory=list)
    first: dict[tuple[str, int], int] = field(default_factory=dict)
    last: dict[tuple[str, int], int] = field(default_factory=dict)

    def saw(self, topic: str, partition: int, offset: int) -> None:
        self.first.setdefault((topic, partition), offset)
        self.last[(topic, partition)] = offset


def parse(
    value: bytes | None, *, message_format: str, source_id: int, received_at: datetime
) -> Message:
    """One Kafka message's value as an event, or ValueError saying why it cannot be one."""
    from c360.ingest.journey_message import content_key, validate_journey_message

    if value is None or not value.strip():
        raise ValueError("the message is empty")
    try:
        decoded = json.loads(value.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError("the message is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"the message is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    try:
        if message_format == "journey":
            return validate_journey_message(decoded, source_id=source_id, received_at=received_at)
        if isinstance(decoded, dict) and not decoded.get("messageId"):
            # The client libraries always send one; without it, the content is the identity,
            # so a message produced twice is stored once.
            decoded = {**decoded, "messageId": f"kafka-{content_key(source_id, decoded)}"}
        return validate_message(
            decoded, source_id=source_id, received_at=received_at, size=len(value)
        )
    except MessageError as exc:
        raise ValueError(f"{exc.field}: {exc.reason}") from None


class SourceConsumer:
    """One consumer thread for one source's Kafka connection."""

    def __init__(
        self, *, source_id: int, sink: Sink | None = None, max_messages: int = MAX_POLL_MESSAGES
    ) -> None:
        self.source_id = source_id
        self._sink = sink
        self.max_messages = max_messages
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"c360-kafka-{source_id}", daemon=True
        )
        self._assigned: list[Any] = []
        self._joined = False  # assigned partitions at least once
        self._committed: dict[tuple[str, int], int] = {}
        self._last_state = 0.0
        self._stored = 0
        self._dead = 0
        self._error: str | None = None
        self._error_at: datetime | None = None
        self.rounds = 0  # polls that stored something: for tests and the bench

    # -- control -----------------------------------------------------------------------
    def start(self) -> SourceConsumer:
        self._thread.start()
        return self

    def stop(self, timeout: float = 30) -> None:
        """Finish the round in hand (store, commit), leave the group, report stopped."""
        self._stop.set()
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # -- the thread --------------------------------------------------------------------
    def _run(self) -> None:
        from django.db import connection as db

        backoff = 1.0
        try:
            while not self._stop.is_set():
                try:
                    self._consume()
                    backoff = 1.0
                except Exception as exc:  # a bad setting, an unreachable broker, ...
                    log.exception("the Kafka consumer of source %s failed", self.source_id)
                    self._fail(f"{type(exc).__name__}: {exc}")
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
        finally:
            self._report(state="stopped")
            db.close()

    def _consume(self) -> None:
        from confluent_kafka import Consumer

        from c360.sources.kafka import consumer_config
        from c360.sources.models import KafkaConnection

        connection = KafkaConnection.objects.filter(source_id=self.source_id).first()
        if connection is None or not connection.enabled:
            self._stop.set()
            return
        self._report(state="starting", partitions=[])
        config = consumer_config(connection)
        config["error_cb"] = self._on_client_error
        consumer = Consumer(config)
        try:
            consumer.subscribe(
                list(connection.topics),
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_revoke,
            )
            while not self._stop.is_set():
                # Wait for the first message only, then take what else is there: a round
                # starts as soon as something arrives, and holds many when many wait.
                first = consumer.poll(POLL_SECONDS)
                polled = []
                if first is not None:
                    polled = [first]
                    if self.max_messages > 1:
                        polled += consumer.consume(num_messages=self.max_messages - 1, timeout=0)
                if polled:
                    self._handle(consumer, polled, message_format=connection.message_format)
                self._report_lag(consumer)
        finally:
            consumer.close()  # leaves the group: its partitions move on at once

    def _handle(self, consumer: Any, polled: list[Any], *, message_format: str) -> None:
        from confluent_kafka import KafkaError, TopicPartition

        received_at = now()
        batch = _Round()
        for record in polled:
            error = record.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    self._fail(f"{error.name()}: {error.str()}")
                continue
            topic, partition, offset = record.topic(), record.partition(), record.offset()
            batch.saw(topic, partition, offset)
            try:
                batch.messages.append(
                    parse(
                        record.value(),
                        message_format=message_format,
                        source_id=self.source_id,
                        received_at=received_at,
                    )
                )
            except ValueError as exc:
                batch.dead.append(
                    {
                        "topic": topic,
                        "partition": partition,
                        "offset": offset,
                        "key": _text(record.key()),
                        "value": _text(record.value()),
                        "reason": str(exc),
                    }
                )
        if not batch.last:
            return
        try:
            self._store(batch)
        except Exception as exc:
            # Nothing of this round is committed: read it again from its first offsets.
            log.exception("storing Kafka messages of source %s failed", self.source_id)
            self._fail(f"storing failed, retrying: {type(exc).__name__}: {exc}")
            for (topic, partition), first in batch.first.items():
                try:
                    consumer.seek(TopicPartition(topic, partition, first))
                except Exception:  # the partition moved away meanwhile: its new owner re-reads
                    log.info("could not rewind %s[%s]", topic, partition)
            self._stop.wait(1.0)
            return
        offsets = [TopicPartition(t, p, last + 1) for (t, p), last in batch.last.items()]
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
        except Exception as exc:
            # The events are stored; if the partition moved, its new owner reads them again
            # and the event ids keep them single.
            self._fail(f"committing offsets failed: {exc}")
            return
        for tp in offsets:
            self._committed[(tp.topic, tp.partition)] = tp.offset
        self._stored += len(batch.messages)
        self._dead += len(batch.dead)
        self.rounds += 1

    def _store(self, batch: _Round) -> None:
        from c360.ingest.stream import Overloaded, stream_writer
        from c360.sources.kafka import record_dead_letters

        if batch.messages:
            sink = self._sink or stream_writer()
            while True:
                try:
                    future = sink.submit(source_id=self.source_id, messages=batch.messages)
                    break
                except Overloaded as exc:
                    # The writer is full: wait, keeping the messages (and their offsets).
                    if self._stop.wait(min(exc.retry_after, 5)):
                        raise RuntimeError("stopping while the writer was full") from None
            future.result(timeout=COMMIT_WAIT_SECONDS)
        if batch.dead:
            record_dead_letters(source_id=self.source_id, letters=batch.dead)
            first = batch.dead[0]
            self._fail(
                f"{len(batch.dead)} message(s) sent to the dead letters; the first: "
                f"{first['topic']}[{first['partition']}] offset {first['offset']}: "
                f"{first['reason']}"
            )

    # -- callbacks (run inside consume, on this thread) ---------------------------------
    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        self._assigned = list(partitions)
        self._joined = True
        self._last_state = 0.0  # report the new assignment at once

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        gone = {(tp.topic, tp.partition) for tp in partitions}
        self._assigned = [tp for tp in self._assigned if (tp.topic, tp.partition) not in gone]
        for key in gone:
            self._committed.pop(key, None)
        self._last_state = 0.0

    def _on_client_error(self, error: Any) -> None:
        self._fail(f"{error.name()}: {error.str()}")

    # -- state ---------------------------------------------------------------------------
    def _fail(self, message: str) -> None:
        self._error = message[:2000]
        self._error_at = datetime.now(UTC)
        self._last_state = 0.0

    def _report_lag(self, consumer: Any) -> None:
        if time.monotonic() - self._last_state < STATE_SECONDS:
            return
        from confluent_kafka import TopicPartition

        partitions = []
        assigned = list(self._assigned)
        known = {}
        missing = [tp for tp in assigned if (tp.topic, tp.partition) not in self._committed]
        if missing:
            try:
                for tp in consumer.committed(
                    [TopicPartition(t.topic, t.partition) for t in missing], timeout=5
                ):
                    if tp.offset >= 0:
                        known[(tp.topic, tp.partition)] = tp.offset
            except Exception as exc:
                log.info("reading committed offsets failed: %s", exc)
        for tp in assigned:
            key = (tp.topic, tp.partition)
            committed = self._committed.get(key, known.get(key))
            try:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(tp.topic, tp.partition), timeout=2, cached=False
                )
            except Exception:
                low = high = None
            lag = None
            if high is not None and high >= 0:
                start = committed if committed is not None else (low or 0)
                lag = max(0, high - start)
            partitions.append(
                {
                    "topic": tp.topic,
                    "partition": tp.partition,
                    "committed": committed,
                    "end": high,
                    "lag": lag,
                }
            )
        partitions.sort(key=lambda p: (p["topic"], p["partition"]))
        self._report(state="running" if self._joined else "starting", partitions=partitions)

    def _report(self, *, state: str, partitions: list[dict[str, Any]] | None = None) -> None:
        """Write the consumer's state on its connection, for the page (best effort)."""
        from django.db.models import F

        from c360.sources.models import KafkaConnection

        self._last_state = time.monotonic()
        values: dict[str, Any] = {
            "state": "error" if state == "running" and self._recent_error() else state,
            "state_at": datetime.now(UTC),
            "consumer_host": f"{socket.gethostname()}:{os.getpid()}"[:255],
            "messages_stored": F("messages_stored") + self._stored,
            "messages_dead": F("messages_dead") + self._dead,
        }
        self._stored = self._dead = 0
        if partitions is not None:
            values["partitions"] = partitions
        if self._error is not None:
            values["last_error"] = self._error
            values["last_error_at"] = self._error_at
        try:
            KafkaConnection.objects.filter(source_id=self.source_id).update(**values)
        except Exception:  # bookkeeping: the consumer goes on
            log.exception("reporting the Kafka consumer state of source %s failed", self.source_id)

    def _recent_error(self) -> bool:
        """An error in the last minute, other than dead letters, shows as the state."""
        if self._error is None or self._error_at is None:
            return False
        if "dead letters" in self._error:
            return False
        return (datetime.now(UTC) - self._error_at).total_seconds() < 60


def _text(value: bytes | None) -> str:
    if value is None:
        return ""
    return value[:20_000].decode("utf-8", errors="replace")


# -- the consumers of this process --------------------------------------------------------
SYNC_SECONDS = 5.0  # how often a server looks for connections added or changed elsewhere

_consumers: dict[int, SourceConsumer] = {}
_versions: dict[int, datetime] = {}  # source id -> updated_at of the settings it runs with
_lock = threading.Lock()
_supervisor: threading.Thread | None = None
_supervisor_stop = threading.Event()


def start_consumers() -> int:
    """At server start-up: a consumer for every enabled Kafka connection, and a watcher that
    starts, restarts or stops consumers as connections are added, changed or removed (on the
    page, or by `c360 kafka set` in another process); how many run now."""
    global _supervisor
    with _lock:
        if _supervisor is None:
            _supervisor_stop.clear()
            _supervisor = threading.Thread(target=_watch, name="c360-kafka-watch", daemon=True)
            _supervisor.start()
    return sync_consumers()


def _watch() -> None:
    from django.db import connection as db

    try:
        while not _supervisor_stop.wait(SYNC_SECONDS):
            try:
                sync_consumers()
            except Exception:  # the metadata database is away: try again next time
                log.exception("looking for changed Kafka connections failed")
    finally:
        db.close()


def sync_consumers() -> int:
    """Run exactly the enabled connections, each with its current settings."""
    from c360.sources.models import KafkaConnection

    wanted = dict(
        KafkaConnection.objects.filter(enabled=True).values_list("source_id", "updated_at")
    )
    stopping = []
    with _lock:
        for source_id, consumer in list(_consumers.items()):
            if wanted.get(source_id) != _versions.get(source_id) or not consumer.alive:
                stopping.append(_consumers.pop(source_id))
                _versions.pop(source_id, None)
    for consumer in stopping:
        consumer.stop()
    with _lock:
        for source_id, version in wanted.items():
            if source_id not in _consumers:
                _consumers[source_id] = SourceConsumer(source_id=source_id).start()
                _versions[source_id] = version
        return len(_consumers)


def start_consumer(
    *, source_id: int, sink: Sink | None = None, max_messages: int = MAX_POLL_MESSAGES
) -> SourceConsumer:
    """Run the consumer of one source in this process (`c360 consume`, tests)."""
    with _lock:
        running = _consumers.get(source_id)
        if running is not None and running.alive:
            return running
        consumer = SourceConsumer(source_id=source_id, sink=sink, max_messages=max_messages)
        consumer.start()
        _consumers[source_id] = consumer
        return consumer


def stop_consumers(timeout: float = 30) -> None:
    """Stop every consumer of this process: each finishes its round and leaves its group."""
    global _supervisor
    _supervisor_stop.set()
    with _lock:
        watcher, _supervisor = _supervisor, None
        running = list(_consumers.values())
        _consumers.clear()
        _versions.clear()
    if watcher is not None:
        watcher.join(timeout)
    for consumer in running:
        consumer._stop.set()
    for consumer in running:
        consumer.stop(timeout)


def settings_changed(*, source_id: int) -> None:
    """A connection was saved or deleted here: a server running consumers applies it now."""
    if _supervisor is not None:
        sync_consumers()
