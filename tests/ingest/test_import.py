"""File import end to end: formats, mappings, validation, atomic batches, dedupe, rollback."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from c360.ingest.importer import preview_file
from c360.sources import logic
from c360.sources.models import BatchStatus, DataSource, ImportBatch
from c360.warehouse import Warehouse
from factories import make_admin, make_source

pytestmark = pytest.mark.django_db

RECEIPT = Path(__file__).resolve().parents[3] / "shared" / "data" / "receipt.parquet"

JOURNEY = (
    "customer_id,action_type,time,channel,device_category,geo_city,experience_score\n"
    "C1,visit,2024-03-01 10:00:00,web,desktop,Utrecht,4\n"
    "C1,order,2024-03-01 10:05:00,web,desktop,Utrecht,5\n"
    "C2,call,2024-03-02 09:00:00,call_center,,Amsterdam,\n"
)


def _journey_file(tmp_path: Path) -> Path:
    """JOURNEY as a CSV file in `tmp_path`."""
    path = tmp_path / "journey.csv"
    path.write_text(JOURNEY)
    return path


def _import(
    source: DataSource,
    path: Path,
    *,
    mode: str = "strict",
    spec: dict[str, Any] | None = None,
    delimiter: str | None = None,
) -> ImportBatch:
    batch = logic.create_batch(
        actor=source.owner,
        source=source,
        file_name=path.name,
        file_size=path.stat().st_size,
        mode=mode,
    )
    return logic.run_import(batch=batch, path=path, mapping_spec=spec, delimiter=delimiter)


@pytest.fixture
def source(warehouse: Warehouse) -> DataSource:
    return make_source(owner=make_admin(), kind="events")


def _events(warehouse: Warehouse) -> list[dict[str, Any]]:
    table = warehouse.table("events").order_by(["batch_id", "row_number"]).to_pyarrow()
    return table.to_pylist()


def test_classic_journey_csv_maps_without_input(
    source: DataSource, warehouse: Warehouse, tmp_path: Path
) -> None:
    path = _journey_file(tmp_path)
    batch = _import(source, path)
    assert batch.status == BatchStatus.DONE, batch.error
    assert (batch.rows_read, batch.rows_accepted, batch.rows_inserted) == (3, 3, 3)
    rows = _events(warehouse)
    assert [r["event"] for r in rows] == ["visit", "order", "call"]
    assert rows[0]["customer_id"] == "C1" and rows[0]["geo_city"] == "Utrecht"
    assert rows[0]["experience_score"] == 4.0
    assert str(rows[0]["timestamp"]) == "2024-03-01 10:00:00+00:00"
    assert rows[2]["device_category"] is None
    assert [r["row_number"] for r in rows] == [1, 2, 3]
    assert {r["batch_id"] for r in rows} == {batch.pk}


@pytest.mark.parametrize(
    ("name", "encode"),
    [
        ("semicolon.csv", lambda t: t.replace(",", ";").encode()),
        ("tab.tsv", lambda t: t.replace(",", "\t").encode()),
        ("bom.csv", lambda t: b"\xef\xbb\xbf" + t.encode()),
        ("latin1.csv", lambda t: t.replace("Utrecht", "Köln").encode("latin-1")),
        ("journey.csv.gz", lambda t: gzip.compress(t.encode())),
    ],
)
def test_csv_dialects_and_encodings(
    source: DataSource, warehouse: Warehouse, tmp_path: Path, name: str, encode: Any
) -> None:
    path = tmp_path / name
    path.write_bytes(encode(JOURNEY))
    batch = _import(source, path)
    assert batch.status == BatchStatus.DONE, batch.error
    assert batch.rows_inserted == 3
    cities = {r["geo_city"] for r in _events(warehouse)}
    assert cities & {"Utrecht", "Köln"}


def test_quoted_fields_keep_delimiters_and_newlines(
    source: DataSource, warehouse: Warehouse, tmp_path: Path
) -> None:
    path = tmp_path / "quoted.csv"
    path.write_text(
        "customer_id,action_type,time,webpage_title\n"
        'C1,visit,2024-03-01T10:00:00Z,"Sale, 50% off"\n'
        'C1,search,2024-03-01T10:01:00Z,"two\nlines ""quoted"""\n'
    )
    batch = _import(source, path)
    assert batch.status == BatchStatus.DONE, batch.error
    titles = [r["webpage_title"] for r in _events(warehouse)]
    assert titles == ["Sale, 50% off", 'two\nlines "quoted"']


def test_json_lines_json_array_and_parquet(
    source: DataSource, warehouse: Warehouse, tmp_path: Path
) -> None:
    records = [
        {
            "customer_id": "C9",
            "action_type": "visit",
            "time": "2024-01-01T08:00:00+01:00",
            "extra": {"a": 1},
        },
        {
            "customer_id": "C9",
            "action_type": "order",
            "time": "2024-01-01T08:30:00+01:00",
            "extra": {"a": 2},
        },
    ]
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in records))
    array = tmp_path / "events.json.gz"
    array.write_bytes(gzip.compress(json.dumps(records).encode()))
    parquet = tmp_path / "events.parquet"
    pq.write_table(
        pa.Table.from_pylist([{k: v for k, v in r.items() if k != "extra"} for r in records]),
        parquet,
    )
    for path in (jsonl, array, parquet):
        batch = _import(source, path)
        assert batch.status == BatchStatus.DONE, (path.name, batch.error)
    rows = _events(warehouse)
    # JSON Lines and the JSON array hold the same rows, so the second adds nothing; the Parquet
    # rows lack `extra`, so they are other rows
    assert len(rows) == 4
    assert str(rows[0]["timestamp"]) == "2024-01-01 07:00:00+00:00"
    assert json.loads(rows[0]["properties"]) == {"extra": {"a": 1}}


def test_reimport_adds_nothing_and_rollback_removes_exactly_the_batch(
    source: DataSource, warehouse: Warehouse, tmp_path: Path
) -> None:
    path = _journey_file(tmp_path)
    first = _import(source, path)
    second = _import(source, path)
    assert second.status == BatchStatus.DONE
    assert (second.rows_accepted, second.rows_inserted, second.rows_duplicate) == (3, 0, 3)
    other = tmp_path / "other.csv"
    other.write_text(JOURNEY.replace("C2", "C3"))
    third = _import(source, other)
    assert third.rows_inserted == 1  # only the changed row is new
    assert warehouse.count("events") == 4
    logic.rollback_batch(actor=source.owner, batch=first)
    first.refresh_from_db()
    assert first.status == BatchStatus.ROLLED_BACK and first.rows_removed == 3
    assert first.rolled_back_by == source.owner and first.rolled_back_at is not None
    assert warehouse.count("events") == 1
    with pytest.raises(ValueError, match="only an imported batch"):
        logic.rollback_batch(actor=source.owner, batch=first)


def test_mapping_with_formats_time_zones_constants_and_casts(
    source: DataSource, warehouse: Warehouse, tmp_path: Path
) -> None:
    path = tmp_path / "custom.csv"
    path.write_text("who,what,when,score\nA,signup,01/06/2024 10:00,7\n")
    spec = {
        "fields": {
            "customer_id": {"column": "who"},
            "event": {"column": "what"},
            "timestamp": {
                "column": "when",
                "format": "%d/%m/%Y %H:%M",
                "timezone": "Europe/Amsterdam",
            },
            "experience_score": {"column": "score"},
            "channel": {"constant": "web"},
        },
        "properties": "none",
    }
    batch = _import(source, path, spec=spec)
    assert batch.status == BatchStatus.DONE, batch.error
    row = _events(warehouse)[0]
    assert str(row["timestamp"]) == "2024-06-01 08:00:00+00:00"  # 10:00 in Amsterdam summer time
    assert row["channel"] == "web" and row["experience_score"] == 7.0
    assert row["properties"] is None


BAD_VALUES = (
    "customer_id,action_type,time,experience_score\n"
    "C1,visit,2024-03-01 10:00:00,1\n"
    "C2,visit,yesterday,2\n"
    ",visit,2024-03-01 10:00:00,3\n"
    "C4,visit,2024-03-01 11:00:00,lots\n"
    "C5,,2024-03-01 11:00:00,1\n"
)


def test_strict_mode_rejects_the_whole_file_with_row_errors(
    source: DataSource, warehouse: Warehouse, tmp_path: Path
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(BAD_VALUES)
    batch = _import(source, path, mode="strict")
    assert batch.status == BatchStatus.REJECTED
    assert warehouse.count("events") == 0
    assert (batch.rows_read, batch.rows_rejected) == (5, 4)
    errors = {(e["row"], e["column"]) for e in batch.errors_sample}
    assert errors == {(2, "time"), (3, "customer_id"), (4, "experience_score"), (5, "action_type")}
    assert "strict mode" in batch.error and "row 2, column time" in batch.error


def test_lenient_mode_lands_good_rows_and_reports_the_rest(
    source: DataSource, warehouse: Warehouse, tmp_path: Path
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(BAD_VALUES + '=HYPERLINK("x"),visit,nope,1\n')
    batch = _import(source, path, mode="lenient")
    assert batch.status == BatchStatus.DONE, batch.error
    assert (batch.rows_read, batch.rows_accepted, batch.rows_rejected) == (6, 1, 5)
    assert warehouse.count("events") == 1
    with open(batch.rejected_path, newline="") as stream:
        rejected = list(csv.DictReader(stream))
    assert [r["row"] for r in rejected] == ["2", "3", "4", "5", "6"]
    assert '"yesterday" is not a timestamp' in rejected[0]["errors"]
    # formulas are neutralised when the app writes CSV back out
    assert rejected[4]["customer_id"].startswith("'=")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x01\x02\xff" * 500, "binary data"),
        (b"", "empty"),
        (b"\n\n", "empty"),
        (b"customer_id,action_type,time\n", "no rows"),
        (b"customer_id,action_type,customer_id,time\nA,b,A,2024-01-01\n", "more than once"),
        (b"customer_id,time\nA,2024-01-01\n", "Required for events: event"),
        (
            b"customer_id,action_type,time\nA,b,2024-01-01\nB,c,2024-01-01,extra\n",
            "number of fields",
        ),
        (
            b"customer_id,action_type,time\nA,b," + b"x" * (10 * 1024 * 1024) + b"\n",
            "over the 1 MB limit",
        ),
    ],
    ids=[
        "binary",
        "empty",
        "blank-lines",
        "header-only",
        "repeated-header",
        "missing-required",
        "ragged-row",
        "10MB-field",
    ],
)
def test_bad_files_get_a_clear_error_and_change_nothing(
    source: DataSource, warehouse: Warehouse, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    batch = _import(source, path)
    assert batch.status == BatchStatus.REJECTED
    assert message in batch.error, batch.error
    assert len(batch.error) < 400  # one sentence, not a dump of the row
    assert warehouse.count("events") == 0


def test_wrong_delimiter_is_named(source: DataSource, warehouse: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "comma.csv"
    path.write_text(JOURNEY)
    batch = _import(source, path, delimiter=";")
    assert batch.status == BatchStatus.REJECTED
    assert "delimiter" in batch.error
    assert warehouse.count("events") == 0


def test_unparseable_dates_in_strict_mode(
    source: DataSource, warehouse: Warehouse, tmp_path: Path
) -> None:
    path = tmp_path / "dates.csv"
    path.write_text("customer_id,action_type,time\nA,visit,31/31/2024\nB,visit,not a date\n")
    batch = _import(source, path)
    assert batch.status == BatchStatus.REJECTED
    assert batch.rows_rejected == 2 and "is not a timestamp" in batch.error
    assert warehouse.count("events") == 0


def test_preview_shows_rows_as_stored_and_suggested_mapping(
    source: DataSource, warehouse: Warehouse, tmp_path: Path
) -> None:
    path = _journey_file(tmp_path)
    preview = preview_file(path=path, kind="events", limit=2)
    assert preview.mapping["fields"]["event"] == {"column": "action_type", "cast": "string"}
    assert [r["event"] for r in preview.rows] == ["visit", "order"]
    assert preview.rows[0]["timestamp"].startswith("2024-03-01T10:00:00")
    assert (preview.rows_read, preview.rows_rejected) == (3, 0)
    assert warehouse.count("events") == 0


@pytest.mark.skipif(
    not RECEIPT.exists(), reason="shared/data/receipt.parquet is not beside the project"
)
def test_receipt_log_with_a_saved_mapping(source: DataSource, warehouse: Warehouse) -> None:
    saved = logic.save_mapping(
        actor=source.owner,
        name="xes",
        kind="events",
        spec={
            "fields": {
                "customer_id": {"column": "case:concept:name"},
                "event": {"column": "concept:name"},
                "timestamp": {"column": "time:timestamp"},
            },
            "properties": "rest",
        },
    )
    spec = logic.get_mapping(kind="events", name="xes").spec
    assert spec == saved.spec
    first = _import(source, RECEIPT, spec=spec)
    assert first.status == BatchStatus.DONE, first.error
    assert first.rows_inserted == 8577
    again = _import(source, RECEIPT, spec=spec)
    assert (again.rows_inserted, again.rows_duplicate) == (0, 8577)
    assert warehouse.count("events") == 8577
    row = warehouse.table("events").filter(lambda t: t.row_number == 1).to_pyarrow().to_pylist()[0]
    assert "org:resource" in json.loads(row["properties"])


def test_import_dedupe_and_rollback_on_postgresql(pg_warehouse: Warehouse, tmp_path: Path) -> None:
    """The same import path lands batches in a PostgreSQL warehouse through COPY."""
    source = make_source(owner=make_admin(), kind="events")
    path = _journey_file(tmp_path)
    first = _import(source, path)
    assert first.status == BatchStatus.DONE, first.error
    again = _import(source, path)
    assert (first.rows_inserted, again.rows_inserted, again.rows_duplicate) == (3, 0, 3)
    rows = _events(pg_warehouse)
    assert str(rows[0]["timestamp"]) == "2024-03-01 10:00:00+00:00"
    logic.rollback_batch(actor=source.owner, batch=first)
    assert pg_warehouse.count("events") == 0


def test_a_broken_row_deep_in_a_big_file_is_a_clear_rejection(
    source: DataSource, warehouse: Warehouse, tmp_path: Path
) -> None:
    """Past the first chunks the reader's error arrives through the Arrow stream."""
    lines = [f"C{i},visit,2024-03-01 10:00:00,web" for i in range(300_000)]
    lines[250_000] = "C-broken,visit"
    path = tmp_path / "big.csv"
    path.write_text("customer_id,action_type,time,channel\n" + "\n".join(lines) + "\n")
    batch = _import(source, path, mode="lenient")
    assert batch.status == BatchStatus.REJECTED, batch.error
    assert "number of fields" in batch.error and "near line" in batch.error
    assert warehouse.count("events") == 0


def test_a_strict_import_rejects_a_bad_row_after_the_first_chunks(
    source: DataSource, warehouse: Warehouse, tmp_path: Path
) -> None:
    """Chunks before the bad row were already written: the transaction takes them back."""
    lines = [f"C{i},visit,2024-03-01 10:00:00" for i in range(600_000)]
    lines[550_000] = "C-bad,visit,not a time"
    path = tmp_path / "big.csv"
    path.write_text("customer_id,action_type,time\n" + "\n".join(lines) + "\n")
    batch = _import(source, path, mode="strict")
    assert batch.status == BatchStatus.REJECTED, batch.error
    assert (batch.rows_read, batch.rows_rejected) == (600_000, 1)
    assert batch.errors_sample[0]["row"] == 550_001
    assert warehouse.count("events") == 0
    assert warehouse.count("identifiers") == 0


def test_repeated_rows_of_a_first_import_land_once(
    source: DataSource, warehouse: Warehouse, tmp_path: Path
) -> None:
    """A new source's chunks skip the warehouse's de-duplication only when their keys are new:
    a row repeated in its own chunk, or in a later chunk, still lands once."""
    lines = [f"C{i},visit,2024-03-01 10:00:00" for i in range(300_000)]
    lines[10] = lines[20]  # twice in the first chunk
    lines[299_999] = lines[5]  # again in the second chunk
    path = tmp_path / "repeats.csv"
    path.write_text("customer_id,action_type,time\n" + "\n".join(lines) + "\n")
    batch = _import(source, path)
    assert batch.status == BatchStatus.DONE, batch.error
    assert (batch.rows_accepted, batch.rows_inserted, batch.rows_duplicate) == (300_000, 299_998, 2)
    assert warehouse.count("events") == 299_998
    assert warehouse.count("identifiers") == 299_998


def test_new_keys_tell_repeats_within_and_across_chunks() -> None:
    from c360.ingest.importer import _NewKeys

    keys = _NewKeys()
    assert keys.add(pa.chunked_array([pa.array([5, 1, 9], pa.uint64())]))
    assert not keys.add(pa.chunked_array([pa.array([2, 9], pa.uint64())]))  # 9 seen before
    assert not keys.add(pa.chunked_array([pa.array([7, 7], pa.uint64())]))  # 7 twice
    assert keys.add(pa.chunked_array([pa.array([3, 4, 6, 8], pa.uint64())]))
    assert keys.add(pa.chunked_array([pa.array([], pa.uint64())]))


# -- segments (DuckDB): a first import into a source lands as Parquet files ------------
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
    path = _journey_file(tmp_path)
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
    events = _events(warehouse)
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

    path = _journey_file(tmp_path)
    assert _import(source, path).status == BatchStatus.DONE
    folder: Path = warehouse.segments_dir  # type: ignore[attr-defined]
    (folder / "events-batch99-left-by-a-crash.parquet").write_bytes(b"PAR1")
    url = warehouse.url
    close_warehouse()

    reopened = open_warehouse(url)
    assert reopened.count("events") == 3
    assert _files(reopened) == {r[2] for r in _registry(reopened)}
    assert len(_files(reopened)) == 2
