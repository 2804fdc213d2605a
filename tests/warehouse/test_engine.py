"""The warehouse seam behaves the same on every engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
import pytest

from c360.warehouse import TABLES, Warehouse
from c360.warehouse.runtime import get_warehouse
from c360.warehouse.schema import MIGRATIONS

NOON = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def events(batch_id: int, event_ids: list[str], **columns: list[Any]) -> pa.Table:
    """Event rows of one import batch, with the lineage columns every row carries."""
    n = len(event_ids)
    data: dict[str, Any] = {
        "event_id": pa.array(event_ids, pa.string()),
        "source_id": pa.array([1] * n, pa.int64()),
        "batch_id": pa.array([batch_id] * n, pa.int64()),
        "row_number": pa.array(range(1, n + 1), pa.int64()),
        "ingested_at": pa.array([NOON] * n, pa.timestamp("us", tz="UTC")),
        "event": pa.array(["page_view"] * n, pa.string()),
        "timestamp": pa.array([NOON] * n, pa.timestamp("us", tz="UTC")),
    }
    data.update(columns)
    return pa.table(data)


def customers(batch_id: int, record_ids: list[str]) -> pa.Table:
    n = len(record_ids)
    return pa.table(
        {
            "record_id": pa.array(record_ids, pa.string()),
            "batch_id": pa.array([batch_id] * n, pa.int64()),
            "customer_id": pa.array([f"c-{r}" for r in record_ids], pa.string()),
        }
    )


def event_ids(warehouse: Warehouse) -> list[str]:
    return sorted(warehouse.table("events").event_id.to_pyarrow().to_pylist())


# -- migrations -------------------------------------------------------------------------
def test_migrations_are_applied_once_and_recorded(any_warehouse: Warehouse) -> None:
    recorded = any_warehouse.table("c360_schema_migrations").version.to_pyarrow().to_pylist()

    assert sorted(recorded) == [m.version for m in MIGRATIONS]
    assert any_warehouse.schema_version() == MIGRATIONS[-1].version
    assert any_warehouse.migrate() == []  # a second start applies nothing
    assert any_warehouse.table("c360_schema_migrations").count().execute() == len(MIGRATIONS)


def test_migrations_create_the_canonical_tables(any_warehouse: Warehouse) -> None:
    for name, (schema, _key) in TABLES.items():
        assert list(any_warehouse.table(name).schema().names) == list(schema.names), name


def _batch_indexes(warehouse: Warehouse) -> set[str]:
    if warehouse.dialect == "duckdb":
        sql = "SELECT index_name FROM duckdb_indexes()"
    else:
        sql = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
    return {row[0] for row in warehouse._execute(sql) if row[0].endswith("_batch_id")}


def test_batch_ids_are_indexed_only_where_the_engine_uses_the_index(
    any_warehouse: Warehouse,
) -> None:
    # PostgreSQL finds a batch's rows by its index; DuckDB by its zonemaps, without an index
    # that every bulk append would have to update.
    expected = {f"ix_{name}_batch_id" for name in TABLES}
    assert _batch_indexes(any_warehouse) == (
        set() if any_warehouse.dialect == "duckdb" else expected
    )


def test_an_older_duckdb_warehouse_is_brought_up_to_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from c360.warehouse import connect, engine

    # A file as version 5 left it: a batch index on every table, events stored in the table.
    monkeypatch.setattr(engine, "MIGRATIONS", MIGRATIONS[:5])
    older = connect(f"duckdb://{tmp_path / 'w.duckdb'}")
    assert older.migrate() == [1, 2, 3, 4, 5]
    for name in TABLES:
        older._execute(f"CREATE INDEX ix_{name}_batch_id ON {name} (batch_id)")
    with older.writer() as writer:
        writer.append("events", events(1, ["a", "b"]))
    assert len(_batch_indexes(older)) == len(TABLES)

    monkeypatch.setattr(engine, "MIGRATIONS", MIGRATIONS)
    assert older.migrate() == [6, 7]
    assert _batch_indexes(older) == set()
    assert event_ids(older) == ["a", "b"]  # the rows moved with their table
    with older.writer() as writer:
        assert writer.delete_batches([1])["events"] == 2
    assert event_ids(older) == []


def test_the_process_warehouse_is_the_fixture(warehouse: Warehouse) -> None:
    assert get_warehouse() is warehouse


# -- appending --------------------------------------------------------------------------
def test_append_skips_rows_whose_key_exists(any_warehouse: Warehouse) -> None:
    with any_warehouse.writer() as writer:
        first = writer.append("events", events(1, ["a", "b"]))
    with any_warehouse.writer() as writer:
        second = writer.append("events", events(2, ["b", "c"]))

    assert (first, second) == (2, 1)
    assert event_ids(any_warehouse) == ["a", "b", "c"]
    kept_b = any_warehouse.count("events", event_id="b", batch_id=1)
    assert kept_b == 1  # the first arrival wins


def test_append_skips_duplicate_keys_within_one_batch(any_warehouse: Warehouse) -> None:
    with any_warehouse.writer() as writer:
        inserted = writer.append("events", events(1, ["a", "a", "b"]))

    assert inserted == 2
    assert event_ids(any_warehouse) == ["a", "b"]


def test_append_new_returns_exactly_the_keys_it_inserted(any_warehouse: Warehouse) -> None:
    with any_warehouse.writer() as writer:
        first = writer.append_new("events", events(1, ["a", "b"]))
    with any_warehouse.writer() as writer:
        again = writer.append_new("events", events(2, ["b", "c", "c"]))
    with any_warehouse.writer() as writer:
        replay = writer.append_new("events", events(3, ["a", "b", "c"]))

    assert sorted(first.to_pylist()) == ["a", "b"]
    assert again.to_pylist() == ["c"]  # b is stored; c twice in one batch goes in once
    assert replay.to_pylist() == []
    assert event_ids(any_warehouse) == ["a", "b", "c"]


def test_append_new_sees_rows_that_other_writes_added_or_removed(
    any_warehouse: Warehouse,
) -> None:
    """The embedded engine remembers which keys a source has stored; an import or a
    rollback in between must not let a duplicate in, nor keep a removed key out."""
    with any_warehouse.writer() as writer:
        writer.append_new("events", events(1, ["a"]))
    with any_warehouse.writer() as writer:  # an import of the same source
        writer.append("events", events(2, ["b"]), all_new=True)
    with any_warehouse.writer() as writer:
        assert writer.append_new("events", events(3, ["b", "c"])).to_pylist() == ["c"]
    with any_warehouse.writer() as writer:  # a rollback of batch 1
        writer.delete_batches([1])
    with any_warehouse.writer() as writer:
        assert writer.append_new("events", events(4, ["a"])).to_pylist() == ["a"]
    # A transaction that fails after append_new leaves nothing, and the key goes in later.
    with pytest.raises(RuntimeError), any_warehouse.writer() as writer:
        writer.append_new("events", events(5, ["d"]))
        raise RuntimeError("the commit fails")
    with any_warehouse.writer() as writer:
        assert writer.append_new("events", events(6, ["d"])).to_pylist() == ["d"]
    assert event_ids(any_warehouse) == ["a", "b", "c", "d"]


def test_matching_reads_the_rows_of_the_given_keys(any_warehouse: Warehouse) -> None:
    rows = pa.table(
        {
            "id_type": ["email", "email", "phone"],
            "id_value": ["a@x.nl", "b@x.nl", "+31"],
            "person_id": ["p1", "p2", "p1"],
            "linked": [True, True, False],
        }
    )
    with any_warehouse.writer() as writer:
        writer.append("identity_map", rows, all_new=True)
        keys = pa.table(
            {"id_type": ["email", "phone", "email"], "id_value": ["b@x.nl", "+31", "c"]}
        )
        found = writer.matching("identity_map", keys, ("id_value", "person_id", "linked"))

    assert sorted(found.to_pylist(), key=lambda r: r["id_value"]) == [
        {"id_value": "+31", "person_id": "p1", "linked": False},
        {"id_value": "b@x.nl", "person_id": "p2", "linked": True},
    ]


def test_a_journal_mask_journals_only_the_rows_it_marks(any_warehouse: Warehouse) -> None:
    rows = pa.table(
        {
            "source_id": [1, 1],
            "batch_id": [1, 1],
            "row_number": [1, 2],
            "record_table": ["events", "events"],
            "record_id": ["e1", "e2"],
            "id_type": ["email", "email"],
            "id_value": ["a@x.nl", "b@x.nl"],
        }
    )
    with any_warehouse.writer() as writer:
        writer.append("identifiers", rows, all_new=True, journal=pa.array([False, True]))

    journal = any_warehouse.table("identity_pending").to_pyarrow().to_pylist()
    assert journal == [{"id_type": "email", "id_value": "b@x.nl"}]
    assert any_warehouse.count("identifiers") == 2


def test_append_takes_a_pandas_frame(any_warehouse: Warehouse) -> None:
    frame = events(1, ["a", "b"]).to_pandas()
    assert isinstance(frame, pd.DataFrame)

    with any_warehouse.writer() as writer:
        inserted = writer.append("events", frame)

    assert inserted == 2
    assert event_ids(any_warehouse) == ["a", "b"]


def test_append_takes_record_batches(any_warehouse: Warehouse) -> None:
    batches = events(1, ["a", "b", "c"]).to_batches(max_chunksize=1)

    with any_warehouse.writer() as writer:
        inserted = writer.append("events", iter(batches))

    assert inserted == 3


# -- atomicity --------------------------------------------------------------------------
class _Boom(Exception):
    pass


def test_an_error_inside_the_writer_leaves_nothing(any_warehouse: Warehouse) -> None:
    with pytest.raises(_Boom), any_warehouse.writer() as writer:
        writer.append("events", events(1, ["a", "b"]))
        writer.append("customers", customers(1, ["r1"]))
        raise _Boom

    assert any_warehouse.count("events") == 0
    assert any_warehouse.count("customers") == 0
    # ...and the warehouse is still writable afterwards
    with any_warehouse.writer() as writer:
        assert writer.append("events", events(2, ["c"])) == 1


def test_a_failed_delete_leaves_the_rows(any_warehouse: Warehouse) -> None:
    with any_warehouse.writer() as writer:
        writer.append("events", events(1, ["a"]))

    with pytest.raises(_Boom), any_warehouse.writer() as writer:
        writer.delete_batches([1])
        raise _Boom

    assert event_ids(any_warehouse) == ["a"]


# -- rollback of a batch ----------------------------------------------------------------
def test_delete_batches_removes_exactly_that_batch(any_warehouse: Warehouse) -> None:
    with any_warehouse.writer() as writer:
        writer.append("events", events(1, ["a", "b"]))
        writer.append("customers", customers(1, ["r1"]))
    with any_warehouse.writer() as writer:
        writer.append("events", events(2, ["c"]))
        writer.append("customers", customers(2, ["r2", "r3"]))
    with any_warehouse.writer() as writer:
        writer.append("events", events(3, ["d"]))

    with any_warehouse.writer() as writer:
        removed = writer.delete_batches([1, 3])

    assert removed["events"] == 3
    assert removed["customers"] == 1
    assert set(removed) == set(TABLES)
    assert event_ids(any_warehouse) == ["c"]
    assert any_warehouse.count("customers") == 2
    assert any_warehouse.count("customers", batch_id=2) == 2


def test_delete_of_no_batches_touches_nothing(any_warehouse: Warehouse) -> None:
    with any_warehouse.writer() as writer:
        writer.append("events", events(1, ["a"]))
        assert writer.delete_batches([]) == {}
    assert any_warehouse.count("events") == 1


# -- types ------------------------------------------------------------------------------
def test_timestamps_come_back_timezone_aware_in_utc(any_warehouse: Warehouse) -> None:
    amsterdam = datetime(2024, 7, 1, 9, 30, 15, 123456, tzinfo=ZoneInfo("Europe/Amsterdam"))
    rows = events(
        1, ["a"], timestamp=pa.array([amsterdam], pa.timestamp("us", tz="Europe/Amsterdam"))
    )
    with any_warehouse.writer() as writer:
        writer.append("events", rows)

    table = any_warehouse.table("events")
    assert table.schema()["timestamp"].timezone == "UTC"
    arrow = table.select("timestamp", "ingested_at").to_pyarrow()
    assert arrow.schema.field("timestamp").type.tz == "UTC"
    assert arrow.schema.field("ingested_at").type.tz == "UTC"
    value = arrow.column("timestamp")[0].as_py()
    assert value == amsterdam  # the same instant...
    assert value.utcoffset().total_seconds() == 0  # ...told in UTC
    frame = table.select("timestamp").execute()
    assert str(frame["timestamp"].dt.tz) == "UTC"


def test_json_properties_round_trip(any_warehouse: Warehouse) -> None:
    properties = {
        "plan": "gold",
        "amount": 12.5,
        "count": 3,
        "consent": True,
        "tags": ["a", "b"],
        "nested": {"city": "Zürich", "empty": None},
    }
    rows = events(1, ["a"], properties=pa.array([json.dumps(properties)], pa.string()))
    with any_warehouse.writer() as writer:
        writer.append("events", rows)

    stored = any_warehouse.table("events").properties.execute().iloc[0]
    assert stored == properties


# -- the single writer ------------------------------------------------------------------
_OPEN_FROM_ANOTHER_PROCESS = """
import sys
from c360.warehouse import WarehouseLocked, connect
try:
    connect(sys.argv[1])
except WarehouseLocked as exc:
    print(exc)
    sys.exit(3)
print("opened")
"""


def test_a_second_process_is_told_the_warehouse_is_locked(warehouse: Warehouse) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _OPEN_FROM_ANOTHER_PROCESS, warehouse.url],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        check=False,
    )

    assert result.returncode == 3, result.stdout + result.stderr
    message = result.stdout.strip()
    assert "\n" not in message
    path = warehouse.url.removeprefix("duckdb://")
    assert message.startswith(f"The warehouse {path} is in use by process {os.getpid()}")
    assert message.endswith(".")
    assert Path(path).exists()


def test_the_embedded_warehouse_keeps_to_its_memory_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from c360.warehouse.runtime import close_warehouse, open_warehouse

    monkeypatch.setenv("C360_WAREHOUSE_MEMORY", "300MB")
    warehouse = open_warehouse(f"duckdb://{tmp_path / 'limited.duckdb'}")
    try:
        limit = warehouse.ibis().raw_sql("SELECT current_setting('memory_limit')").fetchone()[0]
    finally:
        close_warehouse()
    assert limit.replace(" ", "") in {"286.1MiB", "300.0MB"}, limit


# -- prepared queries -------------------------------------------------------------------
def _events_of(warehouse: Warehouse, *, kind: str, batch_ids: list[int], limit: int) -> Any:
    table = warehouse.table("events")
    picked = table.filter((table.event == kind) & table.batch_id.isin(batch_ids))
    return picked.select("event_id").order_by("event_id").limit(limit)


def test_a_query_is_compiled_once_per_shape_and_bound_each_time(
    any_warehouse: Warehouse,
) -> None:
    with any_warehouse.writer() as writer:
        writer.append("events", events(1, ["a", "b"], event=pa.array(["view", "buy"])))
        writer.append("events", events(2, ["c", "d"], event=pa.array(["view", "100% off"])))
        writer.append("events", events(3, ["e"], event=pa.array(["it's'; --"])))

    def run(kind: str, batch_ids: list[int], limit: int = 10) -> list[str]:
        params: dict[str, Any] = {"kind": kind, "batch_ids": batch_ids}
        rows = any_warehouse.query(_events_of, params=params, limit=limit)
        return [row["event_id"] for row in rows.to_pylist()]

    assert run("view", [1, 2]) == ["a", "c"]
    assert run("buy", [1, 2]) == ["b"]
    assert run("view", [2, 1]) == ["a", "c"]
    assert run("100% off", [1, 2]) == ["d"]  # a % in a value is a value, not a placeholder
    assert run("it's'; --", [1, 3]) == ["e"]  # quotes in a value stay inside the value
    assert len(any_warehouse._compiled) == 1  # one shape so far: values only were bound
    assert run("view", [2]) == ["c"]  # a shorter list is another shape
    assert run("view", [1, 2], limit=1) == ["a"]  # and so is another static argument
    assert len(any_warehouse._compiled) == 3


def _event_rows(warehouse: Warehouse, *, batch_ids: list[int]) -> Any:
    table = warehouse.table("events")
    picked = table.filter(table.batch_id.isin(batch_ids))
    return picked.select(
        "event_id", "batch_id", "timestamp", "event", details=picked.properties.cast("string")
    ).order_by("event_id")


def test_query_rows_are_the_rows_of_query(any_warehouse: Warehouse) -> None:
    with any_warehouse.writer() as writer:
        writer.append(
            "events",
            events(
                1,
                ["a", "b"],
                event=pa.array(["view", None]),
                timestamp=pa.array(
                    [datetime(2024, 3, 4, 8, 30, 0, 123456, tzinfo=UTC), None],
                    pa.timestamp("us", tz="UTC"),
                ),
                properties=pa.array(['{"page": "/cart"}', None]),
            ),
        )

    params: dict[str, Any] = {"batch_ids": [1]}
    rows = any_warehouse.query_rows(_event_rows, params=params)
    assert rows == any_warehouse.query(_event_rows, params=params).to_pylist()
    assert [row["event_id"] for row in rows] == ["a", "b"]
    assert rows[0]["timestamp"] == datetime(2024, 3, 4, 8, 30, 0, 123456, tzinfo=UTC)
    assert rows[0]["timestamp"].utcoffset() == timedelta(0)
    assert rows[1]["timestamp"] is None and rows[1]["event"] is None
