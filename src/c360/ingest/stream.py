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
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from c360.ingest.segment import Message
from c360.warehouse.schema import arrow_schema

log = logging.getLogger("c360.ingest.stream")

MAX_PENDING_EVENTS = 100_000  # events queued for the writer before submit refuses (429)
MAX_GROUP_EVENTS = 20_000  # events in one commit at most
IDENTITY_INTERVAL = 1.0  # seconds between identity updates while only tracks flow
# Longest the writer waits, once something is queued, for requests that are being read or
# validated right now (see StreamWriter.arriving), so that requests arriving together share
# one commit instead of the first paying a commit of its own.
GATHER_WAIT = 0.005
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
        self._arriving = 0  # requests between reading their body and submitting
        self._cond = threading.Condition()
        self._stopped = False
        self._open: dict[int, _OpenBatch] = {}
        self._unlinked_batches: set[int] = set()  # batches with events the map lacks yet
        self._last_identity = 0.0
        self._since_checkpoint = 0  # commits since the writer last checkpointed
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

    @contextmanager
    def arriving(self) -> Iterator[None]:
        """Wrap the work of a request between reading its body and submit(): the writer
        waits up to GATHER_WAIT for such requests before it takes a group to commit."""
        with self._cond:
            self._arriving += 1
        try:
            yield
        finally:
            with self._cond:
                self._arriving -= 1
                self._cond.notify()

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
            deadline = time.monotonic() + GATHER_WAIT
            while self._arriving and self._pending_events < self.max_group_events:
                left = deadline - time.monotonic()
                if left <= 0 or self._stopped:
                    break
                self._cond.wait(timeout=left)
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
                    self._since_checkpoint += 1
                self._link_people(waiting=[])
                self._write_counts(force=False)
                if not group and self._since_checkpoint:
                    self._checkpoint()
        finally:
            self._write_counts(force=True)
            from django.db import connection

            connection.close()

    def _checkpoint(self) -> None:
        """Idle for IDENTITY_INTERVAL after commits: let the warehouse write its log into its
        tables now, so that a later busy commit does not have to."""
        from c360.warehouse import get_warehouse

        try:
            get_warehouse().checkpoint()
        except Exception as exc:  # a reader's open transaction, say: the next idle try again
            log.debug("checkpoint after streaming failed: %s", exc)
            return
        self._since_checkpoint = 0

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
        log.debug("committed %s events of %s requests in %.1f ms", events, len(group), took * 1e3)
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
        from c360.identity.logic import place_known_records
        from c360.warehouse import get_warehouse

        warehouse = get_warehouse()
        now = datetime.now(UTC)
        sources = sorted({s.source_id for s in group})
        batches = {source_id: self._batch_for(source_id, now) for source_id in sources}
        landing = {
            source_id: _rows(
                [s for s in group if s.source_id == source_id], batches[source_id], now
            )
            for source_id in sources
        }
        inserted: dict[int, int] = {}
        unplaced = False
        with warehouse.writer() as writer:
            for source_id, (events, links) in landing.items():
                new = writer.append_new("events", events)
                inserted[source_id] = len(new)
                if not len(new):
                    continue
                if len(new) < events.num_rows:  # replays: only the new ones go on
                    events = events.filter(pc.is_in(events.column("event_id"), new))
                    kept = set(new.to_pylist())
                    links = [link for link in links if link["event_id"] in kept]
                records = _identifiers(events, links, now)
                placed = place_known_records(writer, events=events, identifiers=records)
                unplaced = unplaced or placed < events.num_rows + len(links)
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


def _rows(
    submissions: list[_Submission], batch: _OpenBatch, now: datetime
) -> tuple[pa.Table, list[dict[str, Any]]]:
    """The events of a source's submissions as rows of its open batch (a messageId repeated
    within the group once), and the alias links that ride on records of their own."""
    rows: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    seen: set[str] = set()
    for submission in submissions:
        for message in submission.messages:
            row = message.row
            if row["event_id"] in seen:
                continue
            seen.add(row["event_id"])
            rows.append(row)
            if message.alias_link is not None:
                links.append(
                    {
                        "event_id": row["event_id"],
                        "row_number": batch.next_row + len(rows) - 1,
                        "ids": message.alias_link,
                    }
                )
    first = batch.next_row
    batch.next_row += len(rows)
    n = len(rows)
    stamp = pa.scalar(now, pa.timestamp("us", tz="UTC"))
    lineage = {
        "source_id": pa.array(np.full(n, submissions[0].source_id, dtype=np.int64)),
        "batch_id": pa.array(np.full(n, batch.batch_id, dtype=np.int64)),
        "row_number": pa.array(np.arange(first, first + n, dtype=np.int64)),
        "ingested_at": pa.repeat(stamp, n),
    }
    # Column by column, each from one list: several times faster than Arrow from row dicts.
    present = set().union(*rows)
    columns = []
    for column in arrow_schema("events"):
        name = column.name
        if name in lineage:
            columns.append(lineage[name])
        elif name in present:
            columns.append(pa.array([row.get(name) for row in rows], column.type))
        else:
            columns.append(pa.nulls(n, column.type))
    return pa.Table.from_arrays(columns, schema=arrow_schema("events")), links


def _identifiers(events: pa.Table, links: list[dict[str, Any]], now: datetime) -> pa.Table:
    """The identifier rows of the events, and of each alias's previous id on a record of
    its own next to the event's."""
    from c360.identity.logic import identifiers_of

    identifiers = identifiers_of(table="events", rows=events)
    if not links:
        return identifiers
    source_id, batch_id = events.column("source_id")[0], events.column("batch_id")[0]
    link_rows = [
        {
            "source_id": source_id.as_py(),
            "batch_id": batch_id.as_py(),
            "row_number": link["row_number"],
            "ingested_at": now,
            "event_id": f"{link['event_id']}:previous",
            "anonymous_id": link["ids"][0],
            "user_id": link["ids"][1],
        }
        for link in links
    ]
    link_table = pa.Table.from_pylist(link_rows, schema=arrow_schema("events"))
    return pa.concat_tables([identifiers, identifiers_of(table="events", rows=link_table)])


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
