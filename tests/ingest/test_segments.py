"""On DuckDB, a first import into a source lands as Parquet segments the tables read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from c360.sources import logic
from c360.sources.models import BatchStatus, DataSource, ImportBatch
from c360.warehouse import Warehouse
from factories import make_admin, make_source

pytestmark = pytest.mark.django_db

JOURNEY = (
    "customer_id,action_type,time,channel\n"
    "C1,visit,2024-03-01 10:00:00,web\n"
    "C1,order,2024-03-01 10:05:00,web\n"
    "C2,call,2024-03-02 09:00:00,call_center\n"
)


@pytest.fixture
def source(warehouse: Warehouse) -> DataSource:
    return make_source(owner=make_admin(), kind="events")


def _import(source: DataSource, path: Path, mode: str = "strict") -> ImportBatch:
    batch = logic.create_batch(
        actor=source.owner,
        source=source,
        file_name=path.name,
        file_size=path.stat().st_size,
        mode=mode,
    )
    return logic.run_import(batch=batch, path=path)


def _registry(warehouse: Warehouse) -> list[tuple[Any, ...]]:
    return warehouse._execute(
        "SELECT table_name, batch_id, path, row_count FROM c360_segments ORDER BY table_name"
    )


def _files(warehouse: Warehouse) -> set[str]:
    folder: Path = warehouse.segments_dir  # type: ignore[attr-defined]
    return {p.name for p in folder.glob("*.parquet")} if folder.is_dir() else set()


def test_a_first_import_lands_as_segments_and_rollback_removes_them(
    source: DataSource, warehouse: Warehouse, tmp_path: Path
) -> None:
    path = tmp_path / "journey.csv"
    path.write_text(JOURNEY)
    batch = _import(source, path)
    assert batch.status == BatchStatus.DONE, batch.error

    registry = _registry(warehouse)
    assert [(r[0], r[1], r[3]) for r in registry] == [
        ("events", batch.pk, 3),
        ("identifiers", batch.pk, 3),
    ]
    assert _files(warehouse) == {r[2] for r in registry}
    # The tables read the segments with the stored rows' types, and only the segments here.
    assert warehouse._execute("SELECT count(*) FROM events_rows") == [(0,)]
    events = warehouse.table("events").order_by("row_number").to_pyarrow().to_pylist()
    assert [e["event"] for e in events] == ["visit", "order", "call"]
    assert str(events[0]["timestamp"]) == "2024-03-01 10:00:00+00:00"
    assert warehouse.table("events").schema()["properties"].is_json()

    again = _import(source, path)  # checked against the segment: nothing new
    assert (again.rows_inserted, again.rows_duplicate) == (0, 3)

    logic.rollback_batch(actor=source.owner, batch=batch)
    batch.refresh_from_db()
    assert batch.rows_removed == 3
    assert _registry(warehouse) == [] and _files(warehouse) == set()
    assert warehouse.count("events") == 0 and warehouse.count("identifiers") == 0


def test_a_rejected_import_leaves_no_segment(
    source: DataSource, warehouse: Warehouse, tmp_path: Path
) -> None:
    lines = [f"C{i},visit,2024-03-01 10:00:00" for i in range(300_000)]
    lines[290_000] = "C-bad,visit,not a time"  # after the first chunks were written
    path = tmp_path / "big.csv"
    path.write_text("customer_id,action_type,time\n" + "\n".join(lines) + "\n")
    batch = _import(source, path)
    assert batch.status == BatchStatus.REJECTED
    assert _registry(warehouse) == [] and _files(warehouse) == set()


def test_reopening_keeps_segments_and_drops_files_no_commit_registered(
    source: DataSource, warehouse: Warehouse, tmp_path: Path
) -> None:
    from c360.warehouse.runtime import close_warehouse, open_warehouse

    path = tmp_path / "journey.csv"
    path.write_text(JOURNEY)
    assert _import(source, path).status == BatchStatus.DONE
    folder: Path = warehouse.segments_dir  # type: ignore[attr-defined]
    (folder / "events-batch99-left-by-a-crash.parquet").write_bytes(b"PAR1")
    url = warehouse.url
    close_warehouse()

    reopened = open_warehouse(url)
    assert reopened.count("events") == 3
    assert _files(reopened) == {r[2] for r in _registry(reopened)}
    assert len(_files(reopened)) == 2
