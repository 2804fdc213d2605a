"""Event logs for the journey tests: the real receipt log through the import path, and small
hand-written logs landed the way the importer lands rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from c360.identity.logic import update_identity
from identity.landing import land

if TYPE_CHECKING:
    from c360.sources.models import DataSource
    from c360.warehouse import Warehouse

RECEIPT = Path(__file__).resolve().parents[3] / "shared" / "data" / "receipt.parquet"
RECEIPT_MAPPING = {
    "fields": {
        "customer_id": {"column": "case:concept:name"},
        "event": {"column": "concept:name"},
        "timestamp": {"column": "time:timestamp"},
    },
    "properties": "rest",
}

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def import_receipt() -> DataSource:
    """The receipt log imported as one batch of a new events source, people linked."""
    from c360.sources import logic
    from c360.sources.models import BatchStatus
    from factories import make_admin, make_source

    source = make_source(owner=make_admin(), name="Receipts")
    batch = logic.create_batch(
        actor=source.owner,
        source=source,
        file_name=RECEIPT.name,
        file_size=RECEIPT.stat().st_size,
        mode="strict",
    )
    batch = logic.run_import(batch=batch, path=RECEIPT, mapping_spec=RECEIPT_MAPPING)
    assert batch.status == BatchStatus.DONE, batch.error
    return source


def event(case: str, activity: str, minute: float, **columns: Any) -> dict[str, Any]:
    """One event row of a hand-written log: `minute` minutes after T0."""
    row = {
        "event_id": columns.pop("event_id", None),
        "customer_id": case,
        "event": activity,
        "timestamp": T0 + timedelta(minutes=minute),
    }
    row.update(columns)
    return row


def land_events(
    warehouse: Warehouse,
    rows: list[dict[str, Any]],
    *,
    source_id: int,
    batch_id: int,
    link: bool = True,
) -> None:
    """Write rows as one batch (row_number in list order) and, by default, link people."""
    for i, row in enumerate(rows):
        if row.get("event_id") is None:
            row["event_id"] = f"e{batch_id}-{i}"
    land(warehouse, "events", rows, source_id=source_id, batch_id=batch_id)
    if link:
        update_identity(warehouse=warehouse)
