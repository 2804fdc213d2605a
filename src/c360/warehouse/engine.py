"""The engine seam: one Warehouse interface, one subclass per engine.

Domain code builds Ibis expressions over `Warehouse.table(...)` and writes through
`Warehouse.writer()`; only this module knows which engine it talks to. Fast paths (DuckDB's
Arrow append, PostgreSQL's COPY) are capabilities of the engine subclasses.
"""

from __future__ import annotations

import io
import re
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import parse_qs, urlparse

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from ibis.backends import BaseBackend

from c360.warehouse.schema import (
    JOURNALS,
    MIGRATIONS,
    SEGMENTED,
    TABLES,
    arrow_schema,
    table_key,
    table_schema,
)

# pyarrow is untyped, so to mypy these are all Any; the alias documents what append() takes.
ArrowData: TypeAlias = (
    pa.Table | pa.RecordBatch | pa.RecordBatchReader | pd.DataFrame | Iterable[pa.RecordBatch]
)

# Which appended rows go in their table's journal: all, none, or those a boolean array marks.
Journal: TypeAlias = bool | pa.Array

_MIGRATIONS_TABLE = "c360_schema_migrations"
_LOCK_PID = re.compile(r"PID (\d+)")


class WarehouseError(RuntimeError):
    """The warehouse cannot do what was asked; the message says why in one sentence."""


class WarehouseLocked(WarehouseError):
    """Another process holds the embedded warehouse."""


def _batches(data: Any) -> Iterator[pa.RecordBatch]:
    """Any ArrowData (pyarrow is untyped, so mypy cannot narrow the union) as batches."""
    if isinstance(data, pa.Table):
        yield from data.to_batches()
    elif isinstance(data, pa.RecordBatch):
        yield data
    elif isinstance(data, pd.DataFrame):
        yield from pa.Table.from_pandas(data, preserve_index=False).to_batches()
    else:
        yield from data


def _as_table(data: ArrowData) -> pa.Table | None:
    """Any Arrow or pandas input as one table (None when it holds no batch at all)."""
    if isinstance(data, pa.Table):
        return data
    batches = list(_batches(data))
    if not batches:
        return None
    return pa.Table.from_batches(batches)


class BatchWriter(ABC):
    """Writes inside one open transaction; nothing is visible to readers until it commits."""

    @abstractmethod
    def append(
        self, table: str, data: ArrowData, *, all_new: bool = False, journal: Journal = True
    ) -> int:
        """Append rows; rows whose key (see schema.TABLES) already exists are skipped.

        `all_new` says the caller knows none of the keys exists yet (nor repeats), which
        saves the check. `journal=False` leaves a journaled table's journal alone: the caller
        knows the derived state accounts for these rows already (see schema.JOURNALS); a
        boolean Arrow array (with `data` a pa.Table) journals the rows it marks.
        Returns how many rows were inserted.
        """

    @abstractmethod
    def append_new(self, table: str, data: ArrowData) -> pa.Array:
        """append() for a table with a one-column key and no journal (events): returns the
        keys of the rows it inserted, so the caller knows which rows were new without
        counting or reading them back. A key the input repeats is inserted once."""

    @abstractmethod
    def matching(self, table: str, keys: pa.Table, columns: tuple[str, ...]) -> pa.Table:
        """The `columns` of the rows of `table` whose columns named like those of `keys`
        equal one of its rows, read inside this transaction (a lookup of a few keys)."""

    @abstractmethod
    def delete_where(self, table: str, column: str, values: list[int]) -> int:
        """Delete rows whose `column` is one of `values`; returns how many were deleted."""

    def seal(self) -> None:
        """Make the segments written so far part of their tables, inside this transaction
        (the commit does it at the latest). Nothing to do where the engine keeps none."""
        return None

    def segment(self, table: str, batch_id: int) -> Segment | None:
        """Where the engine keeps segments (DuckDB with a database file): a sink that lands
        rows of one import batch, all of them new, as a Parquet file the table reads from
        this transaction's commit on. None elsewhere: append() them instead."""
        return None

    def _journal_appended(self, table: str, rows: pa.Table, journal: Journal = True) -> None:
        """Note the keys of rows appended to a journaled table (see schema.JOURNALS), all of
        them or those `journal` marks."""
        if table not in JOURNALS or journal is False:
            return
        if journal is not True:
            rows = rows.filter(journal)
        journal, columns = JOURNALS[table]
        keys = rows.select(list(columns)).group_by(list(columns)).aggregate([])
        self.append(journal, keys, all_new=True)

    def delete_batches(self, batch_ids: list[int]) -> dict[str, int]:
        """Remove every row of the given import batches from every table."""
        if not batch_ids:
            return {}
        return {name: self.delete_where(name, "batch_id", batch_ids) for name in TABLES}


class Warehouse(ABC):
    """One warehouse, shared by all threads of a process; each thread gets its own connection."""

    dialect: str

    def __init__(self, url: str) -> None:
        self.url = url
        self._local = threading.local()
        self._compiled: dict[Any, tuple[str, list[str]]] = {}
        # Re-entrant: work that holds the warehouse exclusively (exclusive()) may write.
        self._write_lock = threading.RLock()

    # -- reading -------------------------------------------------------------------------
    def ibis(self) -> BaseBackend:
        """The Ibis backend of the calling thread."""
        backend = getattr(self._local, "backend", None)
        if backend is None:
            backend = self._new_backend()
            self._local.backend = backend
        return backend

    def table(self, name: str) -> ir.Table:
        return self.ibis().table(name)

    def query(
        self,
        build: Callable[..., ir.Table],
        *,
        params: dict[str, str | int | list[int] | list[str]],
        **static: Any,
    ) -> pa.Table:
        """Run `build(self, **static, **params)` as a prepared statement, compiled once per shape.

        Compiling an Ibis expression costs milliseconds, more than a point read in the
        warehouse takes, so a query run for every request (a profile's parts) is compiled the
        first time with stand-in values for `params`, and later runs only bind the values. The
        shape is the function, the `static` arguments and the length of each list parameter.
        """
        return self._fetch_arrow(*self._bound(build, params, static))

    def query_rows(
        self,
        build: Callable[..., ir.Table],
        *,
        params: dict[str, str | int | list[int] | list[str]],
        **static: Any,
    ) -> list[dict[str, Any]]:
        """query() as a list of rows (column name -> value), the same values Arrow's
        to_pylist() gives. For the few rows of a point read this skips building Arrow arrays
        only to turn them into Python objects (a profile runs four such reads)."""
        return self._fetch_rows(*self._bound(build, params, static))

    def _bound(
        self,
        build: Callable[..., ir.Table],
        params: dict[str, Any],
        static: dict[str, Any],
        *,
        statement: str = "{}",
        tag: tuple[Any, ...] = (),
    ) -> tuple[str, dict[str, Any]]:
        """The compiled SQL of a query's shape (compiled once) and its parameter values.

        `statement` wraps the query's SELECT (at its `{}`), e.g. in an INSERT; `tag` tells
        such statements apart from the bare query of the same shape.
        """
        shape = (
            tag,
            build.__module__,
            build.__qualname__,
            tuple(sorted((k, repr(v)) for k, v in static.items())),
            tuple(
                (k, len(v) if isinstance(v, list) else type(v).__name__)
                for k, v in sorted(params.items())
            ),
        )
        compiled = self._compiled.get(shape)
        if compiled is None:
            select_sql, names = self._compile(build, params, static)
            compiled = (statement.replace("{}", select_sql, 1), names)
            self._compiled[shape] = compiled
        sql, names = compiled
        values: dict[str, Any] = {}
        for name, value in params.items():
            if isinstance(value, list):
                values.update({f"{name}_{i}": item for i, item in enumerate(value)})
            else:
                values[name] = value
        return sql, {key: values[key] for key in names}

    def _compile(
        self, build: Callable[..., ir.Table], params: dict[str, Any], static: dict[str, Any]
    ) -> tuple[str, list[str]]:
        stand_ins: dict[str, Any] = {}
        literals: dict[str, str] = {}
        for position, (name, value) in enumerate(sorted(params.items())):
            items = value if isinstance(value, list) else [value]
            made: list[Any] = []
            for i, item in enumerate(items):
                key = f"{name}_{i}" if isinstance(value, list) else name
                if isinstance(item, str):
                    token = f"__c360_{key}__"
                    literals[key] = f"'{token}'"
                    made.append(token)
                else:
                    token_int = -(7_300_000_000_000_000 + position * 10_000 + i)
                    literals[key] = str(token_int)
                    made.append(token_int)
            stand_ins[name] = made if isinstance(value, list) else made[0]
        sql = ibis.to_sql(build(self, **static, **stand_ins), self.dialect)
        names = []
        # Longest first, so that a key never replaces part of a longer one.
        for key, literal in sorted(literals.items(), key=lambda kv: -len(kv[1])):
            if literal not in sql:
                continue
            sql = sql.replace(literal, self._placeholder(key))
            names.append(key)
        return sql, names

    def insert_query(
        self,
        table: str,
        build: Callable[..., ir.Table],
        *,
        params: dict[str, str | int | list[int] | list[str]],
        **static: Any,
    ) -> None:
        """Insert the rows of `build(self, **static, **params)` into `table`, where the data is.

        Like query(), compiled once per shape and then only bound: a statement run on every
        commit of the tracking API must not pay milliseconds of Ibis compilation each time.
        `build` selects exactly the table's columns, in the table's order.
        """
        self._run_compiled(("insert", table), build, params, static, f"INSERT INTO {table} {{}}")

    def delete_query(
        self,
        table: str,
        build: Callable[..., ir.Table],
        *,
        key: tuple[str, ...],
        params: dict[str, str | int | list[int] | list[str]],
        **static: Any,
    ) -> None:
        """Delete the rows of `table` whose `key` is among the rows of `build(...)`; compiled
        once per shape like insert_query()."""
        same = " AND ".join(f's."{k}" = t."{k}"' for k in key)
        statement = (
            f"DELETE FROM {table} AS t WHERE EXISTS (SELECT 1 FROM ({{}}) AS s WHERE {same})"
        )
        self._run_compiled(("delete", table, key), build, params, static, statement)

    def _run_compiled(
        self,
        tag: tuple[Any, ...],
        build: Callable[..., ir.Table],
        params: dict[str, Any],
        static: dict[str, Any],
        statement: str,
    ) -> None:
        sql, values = self._bound(build, params, static, statement=statement, tag=tag)
        with self._write_lock:
            self._run_prepared(sql, values)

    def _run_prepared(self, sql: str, values: dict[str, Any]) -> None:
        raise NotImplementedError

    def _placeholder(self, name: str) -> str:
        return f"${name}"

    def _fetch_arrow(self, sql: str, values: dict[str, Any]) -> pa.Table:
        raise NotImplementedError

    def _fetch_rows(self, sql: str, values: dict[str, Any]) -> list[dict[str, Any]]:
        return list(self._fetch_arrow(sql, values).to_pylist())

    def count(self, name: str, **equals: Any) -> int:
        expr = self.table(name)
        for column, value in equals.items():
            expr = expr.filter(expr[column] == value)
        return int(expr.count().execute())

    # -- writing -------------------------------------------------------------------------
    @contextmanager
    def writer(self) -> Iterator[BatchWriter]:
        """One atomic write: everything appended or deleted inside lands together or not at all.

        Writers are serialised within the process: DuckDB allows one writer, and on PostgreSQL
        the order of batches stays the order of commits.
        """
        with self._write_lock, self._transaction() as writer:
            yield writer

    def checkpoint(self) -> None:
        """Write what the engine holds in its log into the tables' storage now, at a quiet
        moment, rather than at some busy commit later (DuckDB). Nothing to do elsewhere."""
        return None

    def replace_rows(
        self, table: str, rows: ir.Table, *, key: tuple[str, ...], scope: ir.Table | None = None
    ) -> None:
        """Delete the rows of a derived table whose `key` appears in `scope` (by default in
        `rows`), then insert `rows`; both run where the data is, nothing passes through Python.

        Inside writer() on DuckDB both share the write transaction: readers see the old rows or
        the new ones, never neither.
        """
        with self._write_lock:
            scope_sql = ibis.to_sql((rows if scope is None else scope).select(*key), self.dialect)
            same = " AND ".join(f's."{k}" = t."{k}"' for k in key)
            self._execute(
                f"DELETE FROM {table} AS t WHERE EXISTS "  # noqa: S608 (names from the schema)
                f"(SELECT 1 FROM ({scope_sql}) AS s WHERE {same})"
            )
            self.insert_rows(table, rows)

    def insert_rows(self, table: str, rows: ir.Table) -> None:
        """Insert the rows of an expression into `table`, in the warehouse."""
        columns = ", ".join(f'"{name}"' for name in rows.columns)
        with self._write_lock:
            self._execute(f"INSERT INTO {table} ({columns}) {ibis.to_sql(rows, self.dialect)}")

    def clear(self, table: str) -> None:
        """Delete every row of a derived table."""
        with self._write_lock:
            self._execute(f"DELETE FROM {table}")  # noqa: S608 (a name from the schema)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold off every other writer (and close()) for a read-then-write piece of work."""
        with self._write_lock:
            yield

    @abstractmethod
    def _transaction(self) -> Any: ...

    @abstractmethod
    def _new_backend(self) -> BaseBackend: ...

    @abstractmethod
    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def _create_unique_index(self, table: str, columns: tuple[str, ...]) -> None: ...

    def _create_lookup_index(self, table: str, column: str) -> None:
        self._execute(f"CREATE INDEX IF NOT EXISTS ix_{table}_{column} ON {table} ({column})")

    def _drop_lookup_index(self, table: str, column: str) -> None:
        """Engines that keep their lookup indexes leave them (see Migration.unindexed)."""
        return None

    def _segment_table(self, table: str) -> None:
        """Engines without segments keep the table as it is (see Migration.segmented)."""
        return None

    # -- schema --------------------------------------------------------------------------
    def migrate(self) -> list[int]:
        """Apply the migrations not applied yet; returns the versions applied now."""
        with self._write_lock:
            self._execute(
                f"CREATE TABLE IF NOT EXISTS {_MIGRATIONS_TABLE} "
                "(version BIGINT PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP WITH TIME ZONE)"
            )
            done = {row[0] for row in self._execute(f"SELECT version FROM {_MIGRATIONS_TABLE}")}
            applied = []
            for migration in MIGRATIONS:
                if migration.version in done:
                    continue
                backend = self.ibis()
                for name in migration.create_tables:
                    backend.create_table(name, schema=table_schema(name), overwrite=False)
                for table, columns in migration.unique_keys:
                    self._create_unique_index(table, columns)
                for table, column in migration.indexes:
                    self._create_lookup_index(table, column)
                for table, column in migration.unindexed:
                    self._drop_lookup_index(table, column)
                for table in migration.segmented:
                    self._segment_table(table)
                self._execute(
                    f"INSERT INTO {_MIGRATIONS_TABLE} VALUES (?, ?, ?)".replace("?", self._param),
                    (migration.version, migration.name, datetime.now(UTC)),
                )
                applied.append(migration.version)
            return applied

    def schema_version(self) -> int:
        rows = self._execute(f"SELECT max(version) FROM {_MIGRATIONS_TABLE}")
        return int(rows[0][0] or 0)

    _param = "?"

    def close(self) -> None:
        """Close the calling thread's connection (others close when their threads end)."""
        self._local.__dict__.clear()


# ---------------------------------------------------------------------------------------
# DuckDB: the embedded default
# ---------------------------------------------------------------------------------------
class _StoredKeys:
    """The hashes of the keys one source has stored in one table.

    append_new checks a streamed batch against them instead of joining it with every row
    of the source, a scan that grows with the source (~18 ms per million events, on each
    commit of the tracking API). A hash found here sends the batch down the joining path
    (a replay, or a collision); a key stored and not here would let a duplicate in, so the
    embedded warehouse drops the set on any other change to the table (an import, a
    rollback) and reads it again at the next append_new. Holding more than is stored (a
    transaction rolled back after it added) only costs a join.
    """

    MERGE_AT = 100_000  # hashes added one commit at a time before they join the sorted array

    def __init__(self, hashes: np.ndarray) -> None:
        self._sorted = np.sort(hashes)
        self._recent: set[int] = set()

    def any_of(self, hashes: np.ndarray) -> bool:
        if len(self._sorted):
            at = np.minimum(np.searchsorted(self._sorted, hashes), len(self._sorted) - 1)
            if bool((self._sorted[at] == hashes).any()):
                return True
        return not self._recent.isdisjoint(hashes.tolist())

    def add(self, hashes: np.ndarray) -> None:
        self._recent.update(hashes.tolist())
        if len(self._recent) > self.MERGE_AT:
            recent = np.fromiter(self._recent, dtype=self._sorted.dtype, count=len(self._recent))
            self._sorted = np.union1d(self._sorted, recent)
            self._recent.clear()


_SEGMENTS_TABLE = "c360_segments"
# Rows per Parquet row group: DuckDB's own, so filters skip a segment's groups as the table's.
SEGMENT_ROW_GROUP = 122_880


class Segment:
    """Rows of one import batch for one table, written to Parquet files as they come.

    Nothing reads a file until its writer seals it (at the latest when the transaction
    commits): the file's name then enters the segment registry and the table's view in the
    same transaction. A transaction that fails removes the files it wrote.
    """

    def __init__(self, writer: _DuckDBWriter, table: str, batch_id: int) -> None:
        self.table = table
        self.batch_id = batch_id
        self._writer = writer
        self._file: Any = None  # pq.ParquetWriter of the file being written
        self._path: Path | None = None
        self._rows = 0

    def write(self, data: ArrowData, *, journal: Journal = True) -> int:
        """Add rows, every one new to the table; returns how many."""
        rows = _as_table(data)
        if rows is None or rows.num_rows == 0:
            return 0
        schema = arrow_schema(self.table)
        rows = _as_columns_of(self.table, rows).cast(schema)
        if self._file is None:
            self._path = self._writer.new_segment_path(self.table, self.batch_id)
            self._file = pq.ParquetWriter(self._path, schema, compression="zstd")
        self._file.write_table(rows, row_group_size=SEGMENT_ROW_GROUP)
        self._rows += rows.num_rows
        self._writer._changed(self.table)
        self._writer._journal_appended(self.table, rows, journal)
        return int(rows.num_rows)

    def close(self) -> tuple[Path, int] | None:
        """End the current file: (its path, its rows), or None when there is none. A later
        write starts another file."""
        if self._file is None or self._path is None:
            return None
        self._file.close()
        done = (self._path, self._rows)
        self._file, self._path, self._rows = None, None, 0
        return done


# Above this many rows of a source, append_new keeps no hashes (8 bytes a row) and joins.
_MAX_STORED_KEYS = 20_000_000


class _DuckDBWriter(BatchWriter):
    def __init__(
        self,
        cursor: Any,
        stored: dict[tuple[str, int], _StoredKeys | None],
        segments_dir: Path | None = None,
        segmented: frozenset[str] = frozenset(),
    ) -> None:
        self._cursor = cursor
        self._segmented = segmented  # tables that are views over `<table>_rows` and segments
        self._seq = 0
        self._stored = stored  # the warehouse's, shared by its transactions (one at a time)
        self._segments_dir = segments_dir
        self._segments: list[Segment] = []
        self.written: list[Path] = []  # segment files this transaction wrote
        self.removed: list[Path] = []  # segment files its deletes dropped: gone at commit

    def segment(self, table: str, batch_id: int) -> Segment | None:
        if self._segments_dir is None or table not in self._segmented:
            return None
        opened = Segment(self, table, batch_id)
        self._segments.append(opened)
        return opened

    def new_segment_path(self, table: str, batch_id: int) -> Path:
        if self._segments_dir is None:  # segment() hands out no Segment then
            raise WarehouseError("this warehouse keeps no segments")
        self._segments_dir.mkdir(parents=True, exist_ok=True)
        path = self._segments_dir / f"{table}-batch{batch_id}-{uuid.uuid4().hex[:12]}.parquet"
        self.written.append(path)
        return path

    def seal(self) -> None:
        """Make the segment files written so far part of their tables, in this transaction:
        the rows they hold are then seen by its de-duplication, like appended rows."""
        changed = set()
        for opened in self._segments:
            done = opened.close()
            if done is not None:
                path, rows = done
                self._cursor.execute(
                    f"INSERT INTO {_SEGMENTS_TABLE} VALUES (?, ?, ?, ?)",
                    [opened.table, opened.batch_id, path.name, rows],
                )
                changed.add(opened.table)
        for table in sorted(changed):
            _refresh_segment_view(self._cursor, table, self._segments_dir)

    def _physical(self, table: str) -> str:
        """The table that stores appended rows: a segmented table's view cannot take them."""
        return f"{table}_rows" if table in self._segmented else table

    def _changed(self, table: str) -> None:
        """A change append_new did not make: the table's stored keys are unknown again."""
        for cached in [cached for cached in self._stored if cached[0] == table]:
            del self._stored[cached]

    def append(
        self, table: str, data: ArrowData, *, all_new: bool = False, journal: Journal = True
    ) -> int:
        incoming = _as_table(data)
        if incoming is None or incoming.num_rows == 0:
            return 0
        key = () if all_new else table_key(table)
        self._changed(table)
        # Through a relation, not a registered table: DuckDB keeps every Arrow table an open
        # transaction scanned by name alive until it commits, so an import of many chunks in
        # one transaction would hold the whole file in memory. A relation's scan lets go.
        if key:
            view = self._view()
            sql = self._select_new(table, incoming, view, key)
            before = self._count(table)
            self._cursor.from_arrow(incoming).query(view, sql).insert_into(self._physical(table))
            inserted = self._count(table) - before
        else:
            # Every row goes in, as it is once its columns are the table's: no query to bind.
            self._cursor.from_arrow(_as_columns_of(table, incoming)).insert_into(
                self._physical(table)
            )
            inserted = incoming.num_rows
        self._journal_appended(table, incoming, journal)
        return inserted

    def append_new(self, table: str, data: ArrowData) -> pa.Array:
        key = table_key(table)
        if len(key) != 1 or table in JOURNALS:
            raise WarehouseError(f"append_new takes a table with a one-column key, not {table}")
        incoming = _as_table(data)
        if incoming is None or incoming.num_rows == 0:
            return pa.array([], pa.string())
        keys = incoming.column(key[0]).combine_chunks()
        source = _single_source(incoming)
        stored = self._stored_keys(table, key[0], source) if source is not None else None
        hashes = self._hashes(keys) if stored is not None else None
        if (
            stored is not None
            and hashes is not None
            and not stored.any_of(hashes)
            and len(np.unique(hashes)) == len(hashes)
        ):
            # None of the keys is stored, nor repeated: every row goes in, unchecked.
            self._cursor.from_arrow(_as_columns_of(table, incoming)).insert_into(
                self._physical(table)
            )
            stored.add(hashes)
            return keys
        view = self._view()
        sql = self._select_new(table, incoming, view, key)
        # A registered table (a relation cannot INSERT ... RETURNING): the small batches of
        # the streaming writer, not a file's chunks, so holding it until commit costs little.
        self._cursor.register(view, incoming)
        try:
            returned = self._cursor.sql(
                f'INSERT INTO {self._physical(table)} {sql} RETURNING "{key[0]}"'
            ).to_arrow_table()
        finally:
            self._cursor.unregister(view)
        if stored is not None and hashes is not None:
            stored.add(hashes)
        return returned.column(0).combine_chunks()

    def _stored_keys(self, table: str, column: str, source: int) -> _StoredKeys | None:
        """The source's stored keys, read the first time they are asked for."""
        if (table, source) not in self._stored:
            count = self._cursor.execute(
                f"SELECT count(*) FROM {table} WHERE source_id = ?", [source]
            ).fetchall()[0][0]
            hashes = None
            if count <= _MAX_STORED_KEYS:
                hashes = self._cursor.sql(
                    f'SELECT hash("{column}") AS h FROM {table} WHERE source_id = {int(source)}'
                ).fetchnumpy()["h"]
            self._stored[(table, source)] = None if hashes is None else _StoredKeys(hashes)
        return self._stored[(table, source)]

    def _hashes(self, keys: pa.Array) -> np.ndarray:
        """The engine's hash of each key: the same function _stored_keys reads them with."""
        view = self._view()
        relation = self._cursor.from_arrow(pa.table({"k": keys}))
        hashed: np.ndarray = relation.query(view, f"SELECT hash(k) AS h FROM {view}").fetchnumpy()[
            "h"
        ]
        return hashed

    def matching(self, table: str, keys: pa.Table, columns: tuple[str, ...]) -> pa.Table:
        view = self._view()
        same = " AND ".join(f't."{k}" = k."{k}"' for k in keys.column_names)
        listed = ", ".join(f't."{c}"' for c in columns)
        sql = f"SELECT {listed} FROM {table} AS t SEMI JOIN {view} AS k ON {same}"
        return self._cursor.from_arrow(keys).query(view, sql).to_arrow_table()

    def _view(self) -> str:
        self._seq += 1
        return f"_c360_incoming_{self._seq}"

    def _select_new(self, table: str, incoming: pa.Table, view: str, key: tuple[str, ...]) -> str:
        """The SELECT over `view` (the incoming rows) of the rows to insert: every column of
        the table in its order, and with a key, only rows whose key is not stored yet."""
        names = table_schema(table).names
        _check_columns(table, incoming)
        given = set(incoming.schema.names)
        listed = ", ".join(f'i."{n}"' if n in given else f'NULL AS "{n}"' for n in names)
        sql = f"SELECT {listed} FROM {view} AS i"
        if key:
            # DuckDB keeps no unique index (its ART indexes slow bulk appends and cost
            # memory); an anti-join against the table does the de-duplication instead, and
            # a window drops repeats inside the input when there are any.
            same = " AND ".join(f't."{k}" = i."{k}"' for k in key)
            source = _single_source(incoming)
            if source is not None:
                # Keys are made per source (the importer hashes the source id into each), so
                # only that source's rows can match: a constant filter that lets DuckDB skip
                # the row groups of every other source instead of joining all of them.
                same += f' AND t."source_id" = {source}'
            sql += f" WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE {same})"
            if _distinct_rows(incoming, key) < incoming.num_rows:
                by = ", ".join(f'i."{k}"' for k in key)
                sql += f" QUALIFY row_number() OVER (PARTITION BY {by}) = 1"
        return sql

    def _count(self, table: str) -> int:
        return int(self._cursor.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])

    def delete_where(self, table: str, column: str, values: list[int]) -> int:
        self._changed(table)
        placeholders = ", ".join("?" for _ in values)
        if table in JOURNALS:
            journal, keys = JOURNALS[table]
            listed = ", ".join(keys)
            self._cursor.execute(
                f"INSERT INTO {journal} ({listed}) SELECT DISTINCT {listed} FROM {table} "
                f"WHERE {column} IN ({placeholders})",
                values,
            ).fetchall()
        result = self._cursor.execute(
            f"DELETE FROM {self._physical(table)} WHERE {column} IN ({placeholders})", values
        ).fetchone()
        deleted = int(result[0])
        if table in self._segmented and column == "batch_id":
            deleted += self._drop_segments(table, values)
        return deleted

    def _drop_segments(self, table: str, batch_ids: list[int]) -> int:
        """Take the batches' segment files out of the table; their rows, counted."""
        placeholders = ", ".join("?" for _ in batch_ids)
        where = f"table_name = ? AND batch_id IN ({placeholders})"
        found = self._cursor.execute(
            f"SELECT path, row_count FROM {_SEGMENTS_TABLE} WHERE {where}", [table, *batch_ids]
        ).fetchall()
        if not found:
            return 0
        self._cursor.execute(f"DELETE FROM {_SEGMENTS_TABLE} WHERE {where}", [table, *batch_ids])
        _refresh_segment_view(self._cursor, table, self._segments_dir)
        if self._segments_dir is not None:
            self.removed.extend(self._segments_dir / name for name, _rows in found)
        return sum(int(rows) for _name, rows in found)


# How much write-ahead log DuckDB gathers before it checkpoints (writes the changes into the
# database file) at a commit. DuckDB's 16 MB made the tracking API's commits, of a few MB
# each, pay a checkpoint every few commits, rewriting the tables' last row groups each time:
# measured on the group-commit writer, 4,000 events a commit took 210 ms at 16 MB and 84 ms
# at 256 MB. The stream writer also checkpoints when it is idle (Warehouse.checkpoint).
CHECKPOINT_THRESHOLD = "256MB"


class DuckDBWarehouse(Warehouse):
    dialect = "duckdb"

    def __init__(self, url: str, path: str, *, memory_limit: str | None = None) -> None:
        super().__init__(url)
        import duckdb

        self.path = path
        self._stored_keys: dict[tuple[str, int], _StoredKeys | None] = {}
        # Segment files live beside the database file; an in-memory warehouse keeps none.
        self.segments_dir = None if path == ":memory:" else Path(f"{path}.segments")
        self._segmented: frozenset[str] = frozenset()  # the tables migrate() found segmented
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            config: dict[str, str | bool | int | float | list[str]] = {
                "checkpoint_threshold": CHECKPOINT_THRESHOLD
            }
            if memory_limit:
                config["memory_limit"] = memory_limit
            self._db = duckdb.connect(path, config=config)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            pid = _LOCK_PID.search(str(exc))
            holder = f"process {pid.group(1)}" if pid else "another process"
            raise WarehouseLocked(
                f"The warehouse {path} is in use by {holder} (a running `c360 serve`?): "
                "stop that process, or send this work to the running server instead."
            ) from None

    def _cursor(self) -> Any:
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._db.cursor()
            self._local.cursor = cursor
        return cursor

    def _new_backend(self) -> BaseBackend:
        return ibis.duckdb.from_connection(self._cursor())

    def _fetch_arrow(self, sql: str, values: dict[str, Any]) -> pa.Table:
        return self._cursor().sql(self._prepared(sql, values)).to_arrow_table()

    def _fetch_rows(self, sql: str, values: dict[str, Any]) -> list[dict[str, Any]]:
        result = self._cursor().execute(self._prepared(sql, values))
        names = [column[0] for column in result.description or []]
        return [dict(zip(names, row, strict=True)) for row in result.fetchall()]

    def _prepared(self, sql: str, values: dict[str, Any]) -> str:
        """The statement that runs a compiled query as a prepared statement of this thread's
        connection: DuckDB then parses and plans it once, not on every run."""
        self.ibis()  # the backend sets the session up (time zone) on first use
        prepared: dict[str, str] = self._local.__dict__.setdefault("prepared", {})
        name = prepared.get(sql)
        if name is None:
            name = f"c360_q{len(prepared)}"
            self._cursor().execute(f"PREPARE {name} AS {sql}").fetchall()
            prepared[sql] = name
        if not values:
            return f"EXECUTE {name}"
        # EXECUTE takes literals only; values are plain ints and strings (Warehouse.query).
        bound = ", ".join(f"{key} := {_literal(value)}" for key, value in values.items())
        return f"EXECUTE {name}({bound})"

    def _run_prepared(self, sql: str, values: dict[str, Any]) -> None:
        """A compiled statement (insert_query, delete_query), prepared once per connection."""
        self.ibis()  # the backend sets the session up (time zone) on first use
        cursor = self._cursor()
        prepared: dict[str, str] = self._local.__dict__.setdefault("prepared", {})
        name = prepared.get(sql)
        if name is None:
            name = f"c360_q{len(prepared)}"
            cursor.execute(f"PREPARE {name} AS {sql}").fetchall()
            prepared[sql] = name
        bound = ", ".join(f"{key} := {_literal(value)}" for key, value in values.items())
        cursor.execute(f"EXECUTE {name}({bound})" if values else f"EXECUTE {name}").fetchall()

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return list(self._cursor().execute(sql, params).fetchall())

    def _create_unique_index(self, table: str, columns: tuple[str, ...]) -> None:
        """No-op: see _DuckDBWriter.append."""

    def _create_lookup_index(self, table: str, column: str) -> None:
        """No-op: DuckDB's min/max zonemaps already skip the row groups a filter on a batch
        id rules out (a batch's rows are contiguous), while an ART index costs every bulk
        append an index insert per row and its commit a merge: 0.3 s a million rows here."""

    def _drop_lookup_index(self, table: str, column: str) -> None:
        self._execute(f"DROP INDEX IF EXISTS ix_{table}_{column}")

    @contextmanager
    def _transaction(self) -> Iterator[BatchWriter]:
        cursor = self._cursor()
        cursor.begin()
        writer = _DuckDBWriter(cursor, self._stored_keys, self.segments_dir, self._segmented)
        try:
            yield writer
            writer.seal()
            cursor.commit()
        except BaseException:
            try:
                cursor.rollback()
            except Exception:  # noqa: S110 (a failed commit has rolled back already)
                pass
            for path in writer.written:
                path.unlink(missing_ok=True)
            raise
        for path in writer.removed:  # committed: nothing reads them any more
            path.unlink(missing_ok=True)

    def _segment_table(self, table: str) -> None:
        """The table's rows move to `<table>_rows`; the table becomes a view over them and
        its segments (none yet)."""
        self._execute(
            f"CREATE TABLE IF NOT EXISTS {_SEGMENTS_TABLE} "
            "(table_name VARCHAR, batch_id BIGINT, path VARCHAR, row_count BIGINT)"
        )
        self._execute(f'ALTER TABLE "{table}" RENAME TO "{table}_rows"')
        _refresh_segment_view(self._cursor(), table, self.segments_dir)

    def migrate(self) -> list[int]:
        applied = super().migrate()
        self._settle_segments()
        return applied

    def _settle_segments(self) -> None:
        """On open: the views name the segment files where they are now (the data dir may
        have moved), and files no committed transaction registered (a crash mid-import) go."""
        self._segmented = SEGMENTED if self.schema_version() >= 7 else frozenset()
        if self.segments_dir is None or not self._segmented:
            return
        cursor = self._cursor()
        registered = {
            row[0] for row in cursor.execute(f"SELECT path FROM {_SEGMENTS_TABLE}").fetchall()
        }
        with self._write_lock:
            for table in sorted(SEGMENTED):
                _refresh_segment_view(cursor, table, self.segments_dir)
        if self.segments_dir.is_dir():
            for path in self.segments_dir.glob("*.parquet"):
                if path.name not in registered:
                    path.unlink(missing_ok=True)

    def checkpoint(self) -> None:
        with self._write_lock:
            self._cursor().execute("CHECKPOINT").fetchall()

    def close(self) -> None:
        with self._write_lock:  # let a write in flight on another thread finish first
            super().close()
            self._db.close()


# ---------------------------------------------------------------------------------------
# PostgreSQL: serving at scale
# ---------------------------------------------------------------------------------------
class _PostgresWriter(BatchWriter):
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def append(
        self, table: str, data: ArrowData, *, all_new: bool = False, journal: Journal = True
    ) -> int:
        key = () if all_new else table_key(table)
        inserted = 0
        if journal is not True and journal is not False:  # a mask over the rows of one table
            inserted = self.append(table, data, all_new=all_new, journal=False)
            self._journal_appended(table, data, journal)
            return inserted
        with self._conn.cursor() as cur:
            for batch in _batches(data):
                if batch.num_rows == 0:
                    continue
                columns = ", ".join(f'"{name}"' for name in batch.schema.names)
                target = "_c360_incoming" if key else table
                if key:
                    cur.execute(
                        "CREATE TEMP TABLE IF NOT EXISTS _c360_incoming "
                        f"(LIKE {table}) ON COMMIT DROP"
                    )
                    cur.execute("TRUNCATE _c360_incoming")
                _copy_csv(cur, target, columns, batch)
                if key:
                    cur.execute(
                        f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _c360_incoming "
                        f"ON CONFLICT ({', '.join(key)}) DO NOTHING"
                    )
                    inserted += cur.rowcount
                    cur.execute("DROP TABLE _c360_incoming")
                else:
                    inserted += batch.num_rows
                self._journal_appended(table, pa.Table.from_batches([batch]), journal)
        return inserted

    def append_new(self, table: str, data: ArrowData) -> pa.Array:
        key = table_key(table)
        if len(key) != 1 or table in JOURNALS:
            raise WarehouseError(f"append_new takes a table with a one-column key, not {table}")
        returned: list[Any] = []
        with self._conn.cursor() as cur:
            for batch in _batches(data):
                if batch.num_rows == 0:
                    continue
                columns = ", ".join(f'"{name}"' for name in batch.schema.names)
                cur.execute(
                    f"CREATE TEMP TABLE IF NOT EXISTS _c360_incoming (LIKE {table}) ON COMMIT DROP"
                )
                cur.execute("TRUNCATE _c360_incoming")
                _copy_csv(cur, "_c360_incoming", columns, batch)
                # ON CONFLICT also settles a race with another process inserting the same key.
                cur.execute(
                    f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _c360_incoming "
                    f'ON CONFLICT ("{key[0]}") DO NOTHING RETURNING "{key[0]}"'
                )
                returned.extend(row[0] for row in cur.fetchall())
                cur.execute("DROP TABLE _c360_incoming")
        return pa.array(returned, pa.string())

    def matching(self, table: str, keys: pa.Table, columns: tuple[str, ...]) -> pa.Table:
        # The keys as arrays unnested into rows: one statement whatever their number.
        names = keys.column_names
        arrays = ", ".join(f"%s::{_PG_ARRAY[keys.schema.field(n).type]}" for n in names)
        same = " AND ".join(f't."{n}" = k."{n}"' for n in names)
        listed = ", ".join(f't."{c}"' for c in columns)
        sql = (
            f"SELECT {listed} FROM {table} AS t "
            f"WHERE EXISTS (SELECT 1 FROM unnest({arrays}) AS k({', '.join(names)}) "
            f"WHERE {same})"
        )
        with self._conn.cursor() as cur:
            cur.execute(sql, [keys.column(n).to_pylist() for n in names])
            rows = cur.fetchall()
        schema = pa.schema([arrow_schema(table).field(c) for c in columns])
        return pa.Table.from_pylist([dict(zip(columns, row, strict=True)) for row in rows], schema)

    def delete_where(self, table: str, column: str, values: list[int]) -> int:
        with self._conn.cursor() as cur:
            if table in JOURNALS:
                journal, keys = JOURNALS[table]
                listed = ", ".join(keys)
                cur.execute(
                    f"INSERT INTO {journal} ({listed}) SELECT DISTINCT {listed} FROM {table} "
                    f"WHERE {column} = ANY(%s)",
                    (values,),
                )
            cur.execute(f"DELETE FROM {table} WHERE {column} = ANY(%s)", (values,))
            return int(cur.rowcount)


# PostgreSQL array types of the Arrow types matching() takes as keys.
_PG_ARRAY = {pa.string(): "text[]", pa.large_string(): "text[]", pa.int64(): "bigint[]"}


def _refresh_segment_view(cursor: Any, table: str, segments_dir: Path | None) -> None:
    """(Re)define a segmented table as its stored rows plus its registered segment files, read
    with the stored rows' column types."""
    stored = f'SELECT * FROM "{table}_rows"'
    names = [
        row[0]
        for row in cursor.execute(
            f"SELECT path FROM {_SEGMENTS_TABLE} WHERE table_name = ? ORDER BY batch_id, path",
            [table],
        ).fetchall()
    ]
    if names and segments_dir is not None:
        columns = cursor.execute(f'DESCRIBE "{table}_rows"').fetchall()
        cast = ", ".join(f'CAST("{c[0]}" AS {c[1]}) AS "{c[0]}"' for c in columns)
        files = ", ".join(_literal(str(segments_dir / name)) for name in names)
        stored += f" UNION ALL SELECT {cast} FROM read_parquet([{files}])"
    cursor.execute(f'CREATE OR REPLACE VIEW "{table}" AS {stored}')


def _literal(value: Any) -> str:
    """A SQL literal of a query parameter: an integer, or a string with its quotes doubled."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"a query parameter is an int or a str, not {type(value).__name__}")
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("'", "''") + "'"


def _as_columns_of(table: str, rows: pa.Table) -> pa.Table:
    """`rows` with exactly the columns of `table`, in its order (nulls for those missing)."""
    _check_columns(table, rows)
    schema = arrow_schema(table)
    if rows.column_names == schema.names:
        return rows
    columns = [
        rows.column(field.name)
        if field.name in rows.column_names
        else pa.nulls(rows.num_rows, field.type)
        for field in schema
    ]
    return pa.Table.from_arrays(columns, names=schema.names)


def _check_columns(table: str, rows: pa.Table) -> None:
    unknown = sorted(set(rows.column_names) - set(table_schema(table).names))
    if unknown:
        raise WarehouseError(f"{table} has no column {', '.join(unknown)}")


def _single_source(rows: pa.Table) -> int | None:
    """The one source id all `rows` carry, or None (no such column, nulls or several)."""
    if "source_id" not in rows.column_names:
        return None
    column = rows.column("source_id")
    if column.null_count:
        return None
    bounds = pc.min_max(column)
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    return int(low) if low == high else None


def _distinct_rows(rows: pa.Table, key: tuple[str, ...]) -> int:
    """How many distinct values of `key` the rows hold, counted by Arrow."""
    if len(key) == 1:
        return int(pc.count_distinct(rows.column(key[0]), mode="all").as_py())
    return int(rows.select(list(key)).group_by(list(key)).aggregate([]).num_rows)


def _copy_csv(cur: Any, table: str, columns: str, batch: pa.RecordBatch) -> None:
    """COPY is PostgreSQL's bulk path; Arrow writes the CSV without a Python loop per row."""
    buffer = io.BytesIO()
    pacsv.write_csv(
        _for_copy(batch), buffer, pacsv.WriteOptions(include_header=False, quoting_style="needed")
    )
    with cur.copy(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)") as copy:
        copy.write(buffer.getvalue())


def _for_copy(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Timestamps in microseconds with an explicit offset, as PostgreSQL reads them."""
    arrays = []
    for column in batch.columns:
        if pa.types.is_timestamp(column.type):
            column = column.cast(pa.timestamp("us", tz="UTC"))
        arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


class PostgresWarehouse(Warehouse):
    dialect = "postgres"
    _param = "%s"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        parsed = urlparse(url)
        query = parse_qs(parsed.query)
        self.schema = query.get("schema", [None])[0]
        self._conninfo = url.split("?", 1)[0].replace("postgres://", "postgresql://", 1)
        try:
            self._connect(autocommit=True).close()
        except Exception as exc:
            raise WarehouseError(f"Cannot reach the PostgreSQL warehouse at {url}: {exc}") from None

    def _connect(self, *, autocommit: bool) -> Any:
        import psycopg

        options = f"-c search_path={self.schema}" if self.schema else ""
        conn = psycopg.connect(self._conninfo, autocommit=autocommit, options=options)
        if self.schema:
            try:
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            except psycopg.errors.UniqueViolation:  # another process created it just now
                if not autocommit:
                    conn.rollback()
            if not autocommit:
                conn.commit()
        return conn

    def migrate(self) -> list[int]:
        """As Warehouse.migrate, one process at a time: several workers (`c360 consume`) may
        start on a fresh warehouse together, and two creating one table fail."""
        import psycopg

        with psycopg.connect(self._conninfo, autocommit=True) as lock:
            # A session lock, released when this connection closes.
            lock.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"c360:{self.schema}",))
            return super().migrate()

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = self._connect(autocommit=True)
            self._local.conn = conn
        return conn

    def _new_backend(self) -> BaseBackend:
        return ibis.postgres.from_connection(self._conn())

    def _placeholder(self, name: str) -> str:
        return f"%({name})s"

    def _fetch_arrow(self, sql: str, values: dict[str, Any]) -> pa.Table:
        # psycopg formats %-placeholders: a literal % in the compiled SQL must be doubled.
        escaped = re.sub(r"%(?!\()", "%%", sql)
        with self._conn().cursor() as cur:
            cur.execute(escaped, values)
            names = [column.name for column in cur.description or []]
            rows = cur.fetchall()
        return pa.Table.from_pylist([dict(zip(names, row, strict=True)) for row in rows])

    def _run_prepared(self, sql: str, values: dict[str, Any]) -> None:
        escaped = re.sub(r"%(?!\()", "%%", sql)
        with self._conn().cursor() as cur:
            cur.execute(escaped, values)

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._conn().cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall()) if cur.description else []

    def _create_unique_index(self, table: str, columns: tuple[str, ...]) -> None:
        name = f"ux_{table}_{'_'.join(columns)}"
        self._execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {name} ON {table} ({', '.join(columns)})")

    @contextmanager
    def _transaction(self) -> Iterator[BatchWriter]:
        conn = getattr(self._local, "write_conn", None)
        if conn is None or conn.closed:
            conn = self._connect(autocommit=False)
            self._local.write_conn = conn
        with conn.transaction():
            yield _PostgresWriter(conn)

    def close(self) -> None:
        for name in ("conn", "write_conn"):
            conn = getattr(self._local, name, None)
            if conn is not None:
                conn.close()
        super().close()


def connect(url: str, *, memory_limit: str | None = None) -> Warehouse:
    """Open the warehouse at `url` (duckdb:///path, duckdb://:memory:, postgresql://...).

    `memory_limit` caps an embedded (DuckDB) warehouse's memory, e.g. "512MB".
    """
    if url.startswith("duckdb://"):
        path = url.removeprefix("duckdb://") or ":memory:"
        return DuckDBWarehouse(url, path, memory_limit=memory_limit)
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresWarehouse(url)
    raise WarehouseError(f"Unsupported warehouse URL {url!r}: use duckdb:// or postgresql://.")
