"""The durable group-commit writer of the HTTP tracking API.

One writer thread in the serving process (the single writer of the warehouse) takes the
pending submissions from a bounded queue, appends all their events and identifiers in one
warehouse transaction, and only then wakes each request: an acknowledged event is committed,
so it survives `kill -9`. Requests arriving together share one commit. When more events wait
than the queue holds, `submit` refuses at once (the API answers 429 with Retry-After) instead
of queueing without bound; nothing accepted is ever dropped.

Lineage: streamed events of a source land in one "stream batch" per source and UTC hour, an
ImportBatch (file_format "tracking") that the import log lists, whose counts grow with every
commit and which can be rolled back like a file import. It is marked done when it is created:
each commit is atomic on its own, so a batch is never half there, and the start-up recovery
(which removes the rows of batches left pending) leaves acknowledged events alone. Row numbers
continue within the batch in commit order.

Identity: an event whose identifiers all belong to one known person already goes into that
person's profile in the same commit (c360.identity.logic.link_to_known_people), so it is
visible once acknowledged. Events that bring a new identifier or join people wait for the
identity update: a request holding identify or alias (which change who is who) is acknowledged
after the update that includes it, so the next profile read shows one person; other such
events are linked by the update that follows, at most IDENTITY_INTERVAL seconds later, off
their requests' critical path.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from c360.ingest.segment import Message

log = logging.getLogger("c360.ingest.stream")

MAX_PENDING_EVENTS = 100_000  # events queued for the writer before submit refuses (429)
MAX_GROUP_EVENTS = 20_000  # events in one commit at most
IDENTITY_INTERVAL = 1.0  # seconds between identity updates while only tracks flow
# Seconds between writes of the stream batches' counts to the metadata database: each write
# is a commit (an fsync) of its own, too dear to pay on every group commit.
COUNT_INTERVAL = 1.0
STREAM_FORMAT = "tracking"  # ImportBatch.file_format of the stream batches


class Overloaded(Exception):
    """The writer's queue is full: try again after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the server is busy; retry after {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Receipt:
    """What a commit did with one submission's messages."""

    accepted: int  # messages committed (new or already stored)
    linked: bool  # whether the identity map includes them now
    batch_id: int


@dataclass
class _Submission:
    source_id: int
    messages: list[Message]
    links_people: bool
    future: Future[Receipt] = field(default_factory=Future)


@dataclass
class _OpenBatch:
    batch_id: int
    hour: datetime
    next_row: int


_EVENTS_SCHEMA: pa.Schema | None = None


def _events_schema() -> pa.Schema:
    global _EVENTS_SCHEMA
    if _EVENTS_SCHEMA is None:
        from c360.warehouse.schema import EVENTS

        _EVENTS_SCHEMA = EVENTS.to_pyarrow()
    return _EVENTS_SCHEMA


class StreamWriter:
    """One writer thread and its bounded queue; see the module docstring."""

    def __init__(
        self,
        *,
        max_pending_events: int = MAX_PENDING_EVENTS,
        max_group_events: int = MAX_GROUP_EVENTS,
        identity_interval: float = IDENTITY_INTERVAL,
    ) -> None:
        self.max_pending_events = max_pending_events
        self.max_group_events = max_group_events
        self.identity_interval = identity_interval
        self._pending: deque[_Submission] = deque()
        self._pending_events = 0
        self._cond = threading.Condition()
        self._stopped = False
        self._open: dict[int, _OpenBatch] = {}
        self._unlinked_batches: set[int] = set()  # batches with events the map lacks yet
        self._last_identity = 0.0
        self._tally: dict[int, list[Any]] = {}  # batch id -> [read, inserted, last commit]
        self._last_count = 0.0
        self._rate = 5_000.0  # events/s, smoothed: for Retry-After
        self._thread = threading.Thread(target=self._run, name="c360-stream-writer", daemon=True)
        self._thread.start()

    # -- requests' side ------------------------------------------------------------------
    def submit(self, *, source_id: int, messages: list[Message]) -> Future[Receipt]:
        """Queue messages for the next commit; the future completes once they are committed
        (and, for identify and alias, linked). Raises Overloaded when the queue is full."""
        submission = _Submission(
            source_id=source_id,
            messages=messages,
            links_people=any(m.links_people for m in messages),
        )
        with self._cond:
            if self._stopped:
                raise RuntimeError("the stream writer has stopped")
            if self._pending_events + len(messages) > self.max_pending_events:
                wait = (self._pending_events + len(messages)) / max(self._rate, 1.0)
                raise Overloaded(retry_after=max(1, round(wait + 0.5)))
            self._pending.append(submission)
            self._pending_events += len(messages)
            self._cond.notify()
        return submission.future

    @property
    def pending_events(self) -> int:
        return self._pending_events

    def stop(self, timeout: float = 30) -> None:
        """Commit what is queued, then stop the thread."""
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout)

    # -- the writer thread ---------------------------------------------------------------
    def _take(self) -> list[_Submission] | None:
        with self._cond:
            while not self._pending:
                if self._stopped:
                    return None
                # Wake now and then to link people while no request comes in.
                if not self._cond.wait(timeout=self.identity_interval):
                    return []
            group: list[_Submission] = []
            events = 0
            while self._pending and (
                not group or events + len(self._pending[0].messages) <= self.max_group_events
            ):
                item = self._pending.popleft()
                group.append(item)
                events += len(item.messages)
            self._pending_events -= events
            return group

    def _run(self) -> None:
        try:
            while True:
                group = self._take()
                if group is None:
                    break
                if group:
                    self._commit_group(group)
                self._link_people(waiting=[])
                self._write_counts(force=False)
        finally:
            self._write_counts(force=True)
            from django.db import connection

            connection.close()

    def _commit_group(self, group: list[_Submission]) -> None:
        started = time.perf_counter()
        try:
            batches, inserted, unplaced = self._commit(group)
        except Exception as exc:
            log.exception("committing %s tracking submissions failed", len(group))
            for submission in group:
                submission.future.set_exception(exc)
            self._forget_batches()
            return
        events = sum(len(s.messages) for s in group)
        took = max(time.perf_counter() - started, 1e-3)
        self._rate = 0.8 * self._rate + 0.2 * (events / took)
        waiting = []
        for submission in group:
            receipt = Receipt(
                accepted=len(submission.messages),
                linked=not unplaced,
                batch_id=batches[submission.source_id].batch_id,
            )
            if submission.links_people and unplaced:
                waiting.append((submission, receipt))
            else:
                submission.future.set_result(receipt)
        if unplaced:
            self._unlinked_batches.update(b.batch_id for b in batches.values())
        self._count(group, batches, inserted)
        if waiting:
            self._link_people(waiting=waiting)

    def _commit(
        self, group: list[_Submission]
    ) -> tuple[dict[int, _OpenBatch], dict[int, int], bool]:
        """Append every submission's events and identifiers in one transaction; events of
        known people go to their profiles in it too. Returns the batches, the events inserted
        per source, and whether some records wait for the identity update."""
        from c360.identity.logic import identifiers_of, link_to_known_people
        from c360.warehouse import get_warehouse

        warehouse = get_warehouse()
        now = datetime.now(UTC)
        sources = sorted({s.source_id for s in group})
        batches = {source_id: self._batch_for(source_id, now) for source_id in sources}
        per_source: dict[int, tuple[pa.Table, pa.Table, int, int, int]] = {}
        for source_id in sources:
            batch = batches[source_id]
            first_row = batch.next_row
            rows: list[dict[str, Any]] = []
            links: list[dict[str, Any]] = []
            for submission in group:
                if submission.source_id != source_id:
                    continue
                for message in submission.messages:
                    row = dict(message.row)
                    row["source_id"] = source_id
                    row["batch_id"] = batch.batch_id
                    row["row_number"] = batch.next_row
                    row["ingested_at"] = now
                    batch.next_row += 1
                    rows.append(row)
                    if message.alias_link is not None:
                        previous_id, user_id = message.alias_link
                        links.append(
                            {
                                **{k: row[k] for k in ("source_id", "batch_id", "row_number")},
                                "ingested_at": now,
                                "event_id": f"{row['event_id']}:previous",
                                "anonymous_id": previous_id,
                                "user_id": user_id,
                            }
                        )
            events = pa.Table.from_pylist(rows, schema=_events_schema())
            identifiers = identifiers_of(table="events", rows=events)
            if links:
                # The alias's previous id, on a record of its own next to the event's.
                link_rows = pa.Table.from_pylist(links, schema=_events_schema())
                identifiers = pa.concat_tables(
                    [identifiers, identifiers_of(table="events", rows=link_rows)]
                )
            per_source[source_id] = (events, identifiers, len(links), first_row, batch.next_row - 1)
        inserted: dict[int, int] = {}
        unplaced = False
        with warehouse.writer() as writer:
            for source_id, (events, identifiers, n_links, first, last) in per_source.items():
                inserted[source_id] = writer.append("events", events)
                if not inserted[source_id]:
                    continue
                # A replayed message's identifiers are stored already: the key skips them.
                writer.append("identifiers", identifiers)
                placed = link_to_known_people(
                    warehouse=warehouse,
                    batch_id=batches[source_id].batch_id,
                    first_row=first,
                    last_row=last,
                )
                unplaced = unplaced or placed < inserted[source_id] + n_links
        return batches, inserted, unplaced

    def _batch_for(self, source_id: int, now: datetime) -> _OpenBatch:
        """The open stream batch of the source for this hour, created when there is none."""
        from c360.sources.models import BatchStatus, ImportBatch, ImportMode

        hour = now.replace(minute=0, second=0, microsecond=0)
        cached = self._open.get(source_id)
        if cached is not None and cached.hour == hour:
            # Rolled back meanwhile? Then its rows are gone and a new batch starts.
            if ImportBatch.objects.filter(pk=cached.batch_id, status=BatchStatus.DONE).exists():
                return cached
        batch = (
            ImportBatch.objects.filter(
                source_id=source_id,
                file_format=STREAM_FORMAT,
                status=BatchStatus.DONE,
                created_at__gte=hour,
            )
            .order_by("-pk")
            .first()
        )
        if batch is None:
            batch = ImportBatch.objects.create(
                source_id=source_id,
                file_name=f"tracking API, {hour:%Y-%m-%d %H}:00 UTC",
                file_format=STREAM_FORMAT,
                mode=ImportMode.LENIENT,
                status=BatchStatus.DONE,
                stage="streaming",
                progress=1.0,
                started_at=now,
                finished_at=now,
            )
            next_row = 1
        else:
            next_row = _last_row_number(batch.pk) + 1
        opened = _OpenBatch(batch_id=batch.pk, hour=hour, next_row=next_row)
        self._open[source_id] = opened
        return opened

    def _forget_batches(self) -> None:
        """After a failed commit the row counters may be ahead: read them again."""
        self._open.clear()

    def _count(
        self, group: list[_Submission], batches: dict[int, _OpenBatch], inserted: dict[int, int]
    ) -> None:
        """Add the commit to its stream batches' counts, written every COUNT_INTERVAL."""
        now = datetime.now(UTC)
        for source_id, batch in batches.items():
            count = sum(len(s.messages) for s in group if s.source_id == source_id)
            tally = self._tally.setdefault(batch.batch_id, [0, 0, now])
            tally[0] += count
            tally[1] += inserted[source_id]
            tally[2] = now

    def _write_counts(self, *, force: bool) -> None:
        """The counts gathered since the last write, added to the batches (bookkeeping: the
        events are committed already; a crash before the write leaves the counts short)."""
        from django.db.models import F

        from c360.sources.models import ImportBatch

        if not self._tally or (not force and time.monotonic() - self._last_count < COUNT_INTERVAL):
            return
        tally, self._tally = self._tally, {}
        self._last_count = time.monotonic()
        for batch_id, (read, inserted, last_at) in tally.items():
            try:
                ImportBatch.objects.filter(pk=batch_id).update(
                    rows_read=F("rows_read") + read,
                    rows_accepted=F("rows_accepted") + read,
                    rows_inserted=F("rows_inserted") + inserted,
                    rows_duplicate=F("rows_duplicate") + (read - inserted),
                    finished_at=last_at,
                )
            except Exception:
                log.exception("counting the events of stream batch %s failed", batch_id)

    def _link_people(self, *, waiting: list[tuple[_Submission, Receipt]]) -> None:
        """Run the identity update when a request waits for it, or when events came in and
        the last update is IDENTITY_INTERVAL old; then wake the waiting requests."""
        from c360.identity.logic import refresh_identity

        due = time.monotonic() - self._last_identity >= self.identity_interval
        if not waiting and not (self._unlinked_batches and due):
            return
        batch_ids = sorted(self._unlinked_batches)
        self._unlinked_batches.clear()
        problem = refresh_identity(batch_ids=batch_ids)
        self._last_identity = time.monotonic()
        for submission, receipt in waiting:
            submission.future.set_result(
                Receipt(
                    accepted=receipt.accepted, linked=problem is None, batch_id=receipt.batch_id
                )
            )


def _last_row_number(batch_id: int) -> int:
    from c360.warehouse import get_warehouse

    events = get_warehouse().table("events")
    last = events.filter(events.batch_id == batch_id).row_number.max().execute()
    return int(last) if last is not None else 0


_writer: StreamWriter | None = None
_writer_lock = threading.Lock()


def stream_writer() -> StreamWriter:
    """The process's writer, started on first use."""
    global _writer
    with _writer_lock:
        if _writer is None:
            _writer = StreamWriter()
        return _writer


def stop_stream_writer() -> None:
    """Commit what is queued and stop the writer (the server's shutdown, tests)."""
    global _writer
    with _writer_lock:
        if _writer is not None:
            _writer.stop()
            _writer = None
