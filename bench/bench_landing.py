"""What landing an import's rows costs: DuckDB's own tables against Parquet segment files.

    .venv/bin/python bench/bench_landing.py [--rows 1000000]

Stages a journey CSV through the importer's own staging (the same query, chunks, lineage and
identifier rows as an import), keeps the chunks in memory, then lands them twice, each time
alone on the machine: appended to a fresh embedded warehouse (events and identifiers, one
transaction, as an import does), and written as two Parquet files (zstd) by pyarrow. Prints wall
and CPU time of each step, the sizes on disk, and a count read back from each landing.

The importer lands a source's first import as such segments on DuckDB (docs/operations.md,
Segments); this shows why.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def _timed(label: str) -> Iterator[None]:
    cpu, wall = _cpu(), time.perf_counter()
    yield
    print(f"{label:<46} wall {time.perf_counter() - wall:5.2f} s   CPU {_cpu() - cpu:5.2f} s")


def _size_mb(*paths: Path) -> float:
    return sum(p.stat().st_size for p in paths) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()

    from journey_data import embedded_setup

    work, csv_path = embedded_setup("c360-bench-landing-", args.rows)
    import duckdb
    import pyarrow.parquet as pq

    from c360.ingest import importer
    from c360.warehouse import get_warehouse
    from c360.warehouse.engine import _as_columns_of
    from c360.warehouse.schema import arrow_schema

    warehouse = get_warehouse()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"file: {args.rows:,} rows in the classic journey format\n")

    events: list[Any] = []
    identifiers: list[Any] = []
    with _timed("staging: read, cast, check, key, identifiers"):
        staging = importer._Staging(csv_path, kind="events", delimiter=None, workdir=work)
        plan = staging.plan(importer._mapping_for("events", list(staging.columns), None), 1)
        stream = staging.db.sql(
            f"SELECT {importer._output_columns(plan)}, hash(f__key) AS _key_hash, _errors "
            "FROM staged"
        ).to_arrow_reader(importer.CHUNK_ROWS)
        prepared = importer._prepare(
            importer._chunks(stream, staging),
            table="events",
            lineage=importer._Lineage(source_id=1, batch_id=1),
            identifiers=None,
            new_keys=importer._NewKeys(),
        )
        for _chunk, _bad, landed, rows_identifiers, _all_new in prepared:
            events.append(_as_columns_of("events", landed))
            identifiers.append(_as_columns_of("identifiers", rows_identifiers))
        staging.close()

    with _timed("DuckDB tables: append events and identifiers"), warehouse.writer() as writer:
        for chunk_events, chunk_identifiers in zip(events, identifiers, strict=True):
            writer.append("events", chunk_events, all_new=True)
            writer.append("identifiers", chunk_identifiers, all_new=True, journal=False)
    warehouse.checkpoint()
    duckdb_file = Path(str(getattr(warehouse, "path", "")))

    segments = [work / "events.parquet", work / "identifiers.parquet"]
    with _timed("Parquet segments: write events and identifiers"):
        for path, table, chunks in zip(
            segments, ("events", "identifiers"), (events, identifiers), strict=True
        ):
            with pq.ParquetWriter(path, arrow_schema(table), compression="zstd") as out:
                for chunk in chunks:
                    out.write_table(chunk.cast(arrow_schema(table)), row_group_size=122_880)

    with _timed("read back: rows and people, DuckDB tables"):
        table = warehouse.table("events")
        stored = (table.count().execute(), table.customer_id.nunique().execute())
    with _timed("read back: rows and people, Parquet segment"):
        segment = duckdb.sql(
            f"SELECT count(*), count(DISTINCT customer_id) FROM read_parquet('{segments[0]}')"
        ).fetchall()[0]
    print(
        f"\nrows and people: DuckDB {stored[0]:,} / {stored[1]:,}, "
        f"Parquet {segment[0]:,} / {segment[1]:,}"
    )
    print(
        f"on disk: DuckDB file {_size_mb(duckdb_file):,.0f} MB (with its other tables), "
        f"Parquet segments {_size_mb(*segments):,.0f} MB"
    )
    import shutil

    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
