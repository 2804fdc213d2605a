"""Import a file into the warehouse: inspect, map, validate, then land it as one atomic batch.

The order across the two stores is fixed (see ARCHITECTURE): the batch is pending in metadata,
its rows are committed in one warehouse transaction tagged with the batch id, then the batch is
marked done. `c360.sources.logic.recover_pending_batches` removes what a crash left between.
"""

from __future__ import annotations

import functools
import logging
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from queue import Empty, Queue
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from c360.identity.logic import identifiers_of
from c360.ingest.canonical import kind_of, suggest_mapping
from c360.ingest.files import (
    FileProblem,
    SourceFile,
    csv_header,
    estimate_rows,
    explain_read_error,
    inspect_file,
    quote_ident,
    quote_literal,
    reader_sql,
)
from c360.ingest.mapping import Mapping
from c360.ingest.staging import StagingPlan, build_plan, csv_safe_sql

if TYPE_CHECKING:
    from c360.sources.models import ImportBatch

__all__ = ["FileProblem", "Preview", "RowError", "import_file", "preview_file"]

log = logging.getLogger("c360.ingest")

ERRORS_KEPT = 100  # per-row errors kept on the batch; all of them are in the rejected CSV
_T = TypeVar("_T")
CHUNK_ROWS = 245_760  # rows per Arrow batch handed to the writer: two DuckDB row groups
# The first chunk is small, so the warehouse starts writing while the rest is read (0.2 s in,
# not 0.4 s); it becomes the batch's one short row group, and the chunks after it whole ones.
FIRST_CHUNK_ROWS = 32_768


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    reason: str


@dataclass
class Preview:
    file_format: str
    columns: list[str]
    mapping: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rows_read: int = 0
    rows_rejected: int = 0


class _Staging:
    """An in-memory DuckDB session that reads one file and stages its canonical rows."""

    def __init__(self, path: Path, *, kind: str, delimiter: str | None, workdir: Path) -> None:
        self.kind = kind_of(kind)
        self.kind_name = kind
        self.db = duckdb.connect(
            ":memory:",
            config={
                "threads": 2,
                "memory_limit": "128MB",
                "temp_directory": str(workdir / "spill"),
                "preserve_insertion_order": True,
            },
        )
        self.db.execute("SET TimeZone = 'UTC'")
        self.source: SourceFile = inspect_file(path, workdir=workdir, delimiter=delimiter)
        header = csv_header(self.source) if self.source.format == "csv" else None
        self.reader = reader_sql(self.source, header)
        try:
            described = self.db.execute(f"DESCRIBE SELECT * FROM {self.reader}").fetchall()
        except duckdb.Error as exc:
            raise explain_read_error(self.source, str(exc)) from None
        self.columns: dict[str, str] = {row[0]: str(row[1]) for row in described}
        self.estimated_rows = estimate_rows(self.source, self.db)
        if self.source.format == "csv" and len(self.columns) == 1 and delimiter:
            only = next(iter(self.columns))
            raise FileProblem(
                f"With the delimiter {delimiter!r} the file has a single column {only[:60]!r}; "
                "the delimiter looks wrong."
            )

    def plan(self, mapping: Mapping, source_id: int) -> StagingPlan:
        plan = build_plan(
            mapping=mapping,
            kind=self.kind,
            columns=self.columns,
            reader=self.reader,
            source_id=source_id,
        )
        self.db.execute(f"CREATE OR REPLACE TEMP VIEW staged AS {plan.select_sql}")
        # Numbered rows, for previews and rejected-row exports; the main pass numbers its rows
        # as they stream, which saves DuckDB a window over the whole file.
        self.db.execute(
            "CREATE OR REPLACE TEMP VIEW numbered AS "
            "SELECT row_number() OVER () AS _row, * FROM staged"
        )
        return plan

    def run(self, sql: str) -> list[tuple[Any, ...]]:
        try:
            return self.db.execute(sql).fetchall()
        except duckdb.Error as exc:
            raise explain_read_error(self.source, str(exc)) from None

    def close(self) -> None:
        self.db.close()


def _mapping_for(kind: str, columns: list[str], spec: dict[str, Any] | None) -> Mapping:
    return Mapping.from_spec(
        kind=kind, spec=spec if spec is not None else suggest_mapping(kind, columns)
    )


def _output_columns(plan: StagingPlan) -> str:
    """The warehouse columns, minus the lineage ones the writer loop fills in."""
    fields = ", ".join(f"{quote_ident('f_' + f)} AS {quote_ident(f)}" for f in plan.fields)
    return f"f__key AS {plan.key_column}, {fields}, CAST(f__json AS VARCHAR) AS {plan.json_column}"


def _count_rows(staging: _Staging) -> tuple[int, int]:
    """(rows, bad rows) of the whole file: one pass over it."""
    total, bad = staging.run(
        "SELECT count(*), count(*) FILTER (WHERE _errors IS NOT NULL) FROM staged"
    )[0]
    return int(total), int(bad)


def _row_errors(staging: _Staging, limit: int) -> list[RowError]:
    rows = staging.run(
        "SELECT _row, e.column, e.reason FROM "
        "(SELECT _row, unnest(_errors) AS e FROM numbered WHERE _errors IS NOT NULL) "
        f"ORDER BY _row LIMIT {limit}"
    )
    return [RowError(row=int(r[0]), column=str(r[1]), reason=str(r[2])) for r in rows]


def preview_file(
    *,
    path: Path,
    kind: str,
    mapping_spec: dict[str, Any] | None = None,
    delimiter: str | None = None,
    limit: int = 20,
) -> Preview:
    """The first rows as they would be stored, and the file's row errors; lands nothing."""
    with tempfile.TemporaryDirectory(prefix="c360-preview-") as tmp:
        staging = _Staging(path, kind=kind, delimiter=delimiter, workdir=Path(tmp))
        try:
            columns = list(staging.columns)
            mapping = _mapping_for(kind, columns, mapping_spec)
            preview = Preview(
                file_format=staging.source.label, columns=columns, mapping=mapping.to_spec()
            )
            plan = staging.plan(mapping, source_id=0)
            fields = ", ".join(quote_ident("f_" + f) for f in plan.fields)
            cursor = staging.db.execute(
                f"SELECT _row, {fields}, CAST(f__json AS VARCHAR) FROM numbered ORDER BY _row "
                f"LIMIT {int(limit)}"
            )
            names = ["row", *plan.fields, plan.json_column]
            preview.rows = [
                {k: _jsonable(v) for k, v in zip(names, row, strict=True)}
                for row in cursor.fetchall()
            ]
            preview.rows_read, preview.rows_rejected = _count_rows(staging)
            preview.errors = _row_errors(staging, ERRORS_KEPT)
            return preview
        finally:
            staging.close()


def _jsonable(value: Any) -> Any:
    """Dates and timestamps as ISO 8601 text; everything else as it is."""
    return value.isoformat() if hasattr(value, "isoformat") else value


ProgressCallback = Callable[[Any], None]


def import_file(
    *,
    batch: ImportBatch,
    path: Path,
    mapping_spec: dict[str, Any] | None = None,
    delimiter: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> ImportBatch:
    """Land `path` as the pending `batch` (a sources.ImportBatch); the batch records the outcome.

    A bad file or, in strict mode, any bad row leaves the warehouse untouched and the batch
    `rejected` with the reason. Only bugs raise.
    """
    from c360.sources.models import BatchStatus, ImportMode
    from c360.warehouse import get_warehouse

    started = time.perf_counter()
    batch.status = BatchStatus.RUNNING
    batch.started_at = datetime.now(UTC)
    _progress(batch, on_progress, "reading file", 0.02)
    workdir = Path(tempfile.mkdtemp(prefix=f"c360-import-{batch.pk}-"))
    staging: _Staging | None = None
    try:
        staging = _Staging(path, kind=batch.source.kind, delimiter=delimiter, workdir=workdir)
        batch.file_format = staging.source.label
        mapping = _mapping_for(batch.source.kind, list(staging.columns), mapping_spec)
        batch.mapping = mapping.to_spec()
        plan = staging.plan(mapping, source_id=batch.source_id)

        _progress(batch, on_progress, "importing rows", 0.05)
        table = staging.kind.table
        lineage = _Lineage(source_id=batch.source_id, batch_id=batch.pk)
        bad_rows: list[int] = []
        errors_sample: list[dict[str, Any]] = []
        # One pass: rows stream from the file through validation into one warehouse
        # transaction. A strict import that meets a bad row aborts the transaction, so the
        # warehouse never holds part of a file.
        total = inserted = 0
        try:
            stream = staging.db.sql(
                f"SELECT {_output_columns(plan)}, hash(f__key) AS _key_hash, _errors FROM staged"
            ).to_arrow_reader(CHUNK_ROWS)
        except duckdb.Error as exc:
            raise explain_read_error(staging.source, str(exc)) from None
        warehouse = get_warehouse()
        # DuckDB computes the next chunk on another thread while the warehouse writes this one.
        # The stream is closed on the way out, so a strict reject half-way through the file
        # leaves the staging connection free to count the bad rows.
        with stream, warehouse.writer() as writer:
            # Asked inside the write transaction, so no other import of the source slips in.
            fresh = warehouse.count(table, source_id=batch.source_id) == 0
            prepare = functools.partial(
                _prepare,
                table=table,
                lineage=lineage,
                identifiers=mapping.identifiers,
                new_keys=_NewKeys() if fresh else None,
            )
            # Where the warehouse keeps segments, chunks of only new rows land as Parquet
            # files the tables read from the commit on (a third of the CPU of appending them).
            records = writer.segment(table, batch.pk)
            linked = writer.segment("identifiers", batch.pk) if records is not None else None
            with _prefetched(prepare(_chunks(stream, staging))) as chunks:
                for chunk, bad_mask, landed, identifiers, all_new in chunks:
                    if bad_mask is not None:
                        if batch.mode == ImportMode.STRICT:
                            raise _StrictReject  # the handler counts and samples the whole file
                        offsets = pc.indices_nonzero(bad_mask).to_pylist()
                        bad_rows.extend(total + 1 + i for i in offsets)
                        if len(errors_sample) < ERRORS_KEPT:
                            errors_sample.extend(_errors_of(chunk, offsets, total, ERRORS_KEPT))
                    if all_new and records is not None and linked is not None:
                        inserted += records.write(landed)
                        linked.write(identifiers)
                    else:
                        # Rows that may be stored already are checked against the table,
                        # which then has to hold this import's segments too.
                        writer.seal()
                        added = writer.append(table, landed, all_new=all_new)
                        inserted += added
                        if added:
                            # The identifiers ride in the same transaction as their records;
                            # when every record of the chunk was new, so are its identifiers.
                            writer.append(
                                "identifiers", identifiers, all_new=added == landed.num_rows
                            )
                    total += chunk.num_rows
                    share = _read_share(staging, total)
                    _progress(batch, on_progress, "importing rows", 0.05 + 0.9 * share, save=False)
            if total == 0:
                raise FileProblem("The file has a header but no rows.")
            if len(bad_rows) == total:
                raise FileProblem(f"None of the {total} rows is valid; nothing was imported.")
        batch.rows_read = total
        batch.rows_rejected = len(bad_rows)
        batch.rows_accepted = total - len(bad_rows)
        batch.errors_sample = errors_sample
        if bad_rows:
            batch.rejected_path = str(_write_rejected(staging, batch))
        batch.rows_inserted = inserted
        batch.rows_duplicate = batch.rows_accepted - inserted
        batch.status = BatchStatus.DONE
        batch.stage = "done"
        batch.progress = 1.0
    except _StrictReject:
        # Count the whole file so the batch says how many rows were bad, not just the first.
        if staging is None:  # strict rejects come from a running staging; never here
            raise
        total, bad = _count_rows(staging)
        batch.rows_read, batch.rows_rejected = total, bad
        batch.rows_accepted = 0
        batch.errors_sample = [asdict(e) for e in _row_errors(staging, ERRORS_KEPT)]
        first = batch.errors_sample[0]
        batch.status = BatchStatus.REJECTED
        batch.error = (
            f"{bad} of {total} rows are not valid, so nothing was imported (strict mode); "
            f"the first: row {first['row']}, column {first['column']}: {first['reason']}."
        )
        batch.stage = "rejected"
        batch.rejected_path = str(_write_rejected(staging, batch))
    except ValueError as problem:  # FileProblem, or a mapping that does not fit this kind
        batch.status = BatchStatus.REJECTED
        batch.error = str(problem)
        batch.stage = "rejected"
    except Exception as exc:
        batch.status = BatchStatus.FAILED
        batch.error = f"The import failed: {exc}"[:2000]
        batch.stage = "failed"
        log.exception("import batch %s failed", batch.pk)
        raise
    finally:
        if staging is not None:
            staging.close()
        _remove_tree(workdir)
        batch.finished_at = datetime.now(UTC)
        batch.save()
        if on_progress is not None:
            on_progress(batch)
        log.info(
            "batch %s %s: %s read, %s rejected, %s inserted in %.2fs",
            batch.pk,
            batch.status,
            batch.rows_read,
            batch.rows_rejected,
            batch.rows_inserted,
            time.perf_counter() - started,
        )
    return batch


class _StrictReject(Exception):
    """A bad row in a strict import: abort the warehouse transaction."""


@dataclass
class _Lineage:
    source_id: int
    batch_id: int

    def add(self, chunk: pa.Table, *, first_row: int, keep: pa.ChunkedArray | None) -> pa.Table:
        """Add source, batch, row number and ingestion time; drop rejected rows."""
        n = chunk.num_rows
        now = pa.scalar(datetime.now(UTC), type=pa.timestamp("us", tz="UTC"))
        out = chunk.drop_columns(["_errors"])
        out = out.append_column("source_id", pa.array(np.full(n, self.source_id, dtype=np.int64)))
        out = out.append_column("batch_id", pa.array(np.full(n, self.batch_id, dtype=np.int64)))
        out = out.append_column(
            "row_number", pa.array(np.arange(first_row, first_row + n, dtype=np.int64))
        )
        out = out.append_column(
            "ingested_at", pa.array(np.full(n, now.value, dtype=np.int64)).cast(now.type)
        )
        if keep is not None:
            out = out.filter(pc.invert(keep))
        return out


def _prepare(
    chunks: Iterator[pa.Table],
    *,
    table: str,
    lineage: _Lineage,
    identifiers: dict[str, str] | None,
    new_keys: _NewKeys | None,
) -> Iterator[tuple[pa.Table, pa.ChunkedArray | None, pa.Table, pa.Table, bool]]:
    """Each chunk with its bad-row mask, its rows as they land, their identifiers, and whether
    every landing row is known to be new.

    Runs on the reading thread: Arrow's compute functions release the GIL, so this work
    overlaps the warehouse writing the chunk before.
    """
    first_row = 1
    for chunk in chunks:
        good, bad_mask = _split(chunk)
        landed = lineage.add(good, first_row=first_row, keep=bad_mask)
        hashes = landed.column("_key_hash")
        landed = landed.drop_columns(["_key_hash"])
        all_new = new_keys is not None and new_keys.add(hashes)
        rows_identifiers = identifiers_of(table=table, rows=landed, custom=identifiers)
        yield chunk, bad_mask, landed, rows_identifiers, all_new
        first_row += chunk.num_rows


class _NewKeys:
    """The 64-bit hashes of the keys an import has seen, to tell a chunk of only new rows.

    Used when the source held no rows of the table before the import: a chunk whose key
    hashes repeat neither among themselves nor earlier chunks' then needs no de-duplication
    in the warehouse, which saves it a join with every row landed so far. A hash collision
    only costs that saving: the chunk goes through the warehouse's de-duplication.
    """

    def __init__(self) -> None:
        self._seen = np.empty(0, dtype=np.uint64)  # sorted

    def add(self, hashes: pa.ChunkedArray) -> bool:
        """Remember `hashes`; True when none of them was seen before or repeats."""
        incoming = np.sort(hashes.to_numpy())
        repeats = bool(incoming.size > 1 and (incoming[1:] == incoming[:-1]).any())
        if self._seen.size and incoming.size:
            at = np.minimum(np.searchsorted(self._seen, incoming), self._seen.size - 1)
            repeats = repeats or bool((self._seen[at] == incoming).any())
        # Two sorted runs: the stable sort (timsort) merges them in one linear pass.
        self._seen = np.sort(np.concatenate([self._seen, incoming]), kind="stable")
        return not repeats


def _split(chunk: pa.Table) -> tuple[pa.Table, pa.ChunkedArray | None]:
    """The chunk, and a mask of its bad rows (None when all are good)."""
    errors = chunk.column("_errors")
    if errors.null_count == len(errors):
        return chunk, None
    return chunk, pc.is_valid(errors)


def _errors_of(
    chunk: pa.Table, offsets: list[int], before: int, limit: int
) -> list[dict[str, Any]]:
    errors = chunk.column("_errors")
    out: list[dict[str, Any]] = []
    for i in offsets:
        for err in errors[i].as_py():
            out.append({"row": before + 1 + i, "column": err["column"], "reason": err["reason"]})
            if len(out) >= limit:
                return out
    return out


def _read_share(staging: _Staging, rows: int) -> float:
    """Share of the file read so far, for the progress bar."""
    return min(1.0, rows / max(1, staging.estimated_rows))


def _chunk_pool() -> pa.MemoryPool:
    """The pool for the chunk copies: jemalloc where pyarrow has it.

    Its freed pages stay with the process for a moment, so the next chunk reuses them; the
    default pool hands them back to the kernel at once, and every chunk then pays for fresh,
    zeroed pages.
    """
    try:
        return pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without jemalloc
        return pa.default_memory_pool()


def _chunks(reader: pa.RecordBatchReader, staging: _Staging) -> Iterator[pa.Table]:
    """The stream grouped into tables of CHUNK_ROWS rows (the first of FIRST_CHUNK_ROWS).

    DuckDB hands out batches of a few thousand rows; one contiguous table per chunk lets
    the warehouse write whole row groups in parallel. Nothing is written until the first
    chunk is read, so that one is smaller.
    """
    pool = _chunk_pool()
    pending: list[pa.RecordBatch] = []
    rows = 0
    size = FIRST_CHUNK_ROWS
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except (duckdb.Error, pa.ArrowException, OSError) as exc:
            # A reader error half-way through the file reaches us through Arrow's stream.
            raise explain_read_error(staging.source, str(exc)) from None
        pending.append(batch)
        rows += batch.num_rows
        if rows >= size:
            # Whole row groups, which the warehouse never has to merge later. Only the rows
            # of the chunk are copied: the rest starts the next chunk as DuckDB's batches, so
            # no remainder keeps a whole copied chunk alive.
            table = pa.Table.from_batches(pending)
            pending = []  # while the chunk is on its way, only the rest stays referenced
            while table.num_rows >= size:
                chunk = table.slice(0, size).combine_chunks(memory_pool=pool)
                table = table.slice(size)
                size = CHUNK_ROWS
                yield chunk
            pending, rows = table.to_batches(), table.num_rows
    if rows:
        yield pa.Table.from_batches(pending).combine_chunks(memory_pool=pool)


_DONE = object()


@contextmanager
def _prefetched(items: Iterator[_T], depth: int = 1) -> Iterator[Iterator[_T]]:
    """Produce `items` on a helper thread, at most `depth` ahead of the consumer.

    The producer has stopped when the block exits, so whatever it was reading (a DuckDB
    connection) is free again for the caller.
    """
    queue: Queue[Any] = Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                queue.put(item)
            queue.put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            queue.put(exc)

    def consume() -> Iterator[_T]:
        while True:
            item = queue.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    producer = threading.Thread(target=produce, name="c360-import-read", daemon=True)
    producer.start()
    try:
        yield consume()
    finally:
        stop.set()
        while producer.is_alive():  # unblock a producer waiting on a full queue
            try:
                queue.get(timeout=0.05)
            except Empty:
                pass
        producer.join()


def _progress(
    batch: Any,
    on_progress: ProgressCallback | None,
    stage: str,
    fraction: float,
    *,
    save: bool = True,
) -> None:
    batch.stage = stage
    batch.progress = round(fraction, 3)
    if save and batch.pk:
        type(batch).objects.filter(pk=batch.pk).update(
            stage=stage, progress=batch.progress, status=batch.status, started_at=batch.started_at
        )
    elif batch.pk:
        type(batch).objects.filter(pk=batch.pk).update(progress=batch.progress)
    if on_progress is not None:
        on_progress(batch)


def _write_rejected(staging: _Staging, batch: Any) -> Path:
    """Rejected rows as CSV: the row number, the original columns and the reasons."""
    from c360.sources.logic import upload_dir

    target = upload_dir() / f"batch-{batch.pk}-rejected.csv"
    cells = ", ".join(
        f"{csv_safe_sql(f'CAST({quote_ident(c)} AS VARCHAR)')} AS {quote_ident(c)}"
        for c in staging.columns
    )
    reasons = (
        "array_to_string(list_transform(_errors, lambda e: e.column || ': ' || e.reason), '; ')"
    )
    staging.run(
        f"COPY (SELECT _row AS row, {cells}, {csv_safe_sql(reasons)} AS errors "
        "FROM numbered WHERE _errors IS NOT NULL ORDER BY _row) "
        f"TO {quote_literal(str(target))} (HEADER, DELIMITER ',')"
    )
    return target


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
