"""Warehouse reads about a data source's own rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from c360.warehouse import Warehouse


@dataclass(frozen=True)
class Arrivals:
    last_minute: int  # events that arrived in the last 60 seconds
    last_at: datetime | None  # when the latest event arrived


def arrivals(warehouse: Warehouse, *, source_id: int, now: datetime | None = None) -> Arrivals:
    """How many events of the source arrived in the last minute, and when the last one did."""
    now = now or datetime.now(UTC)
    events = warehouse.table("events")
    mine = events.filter(events.source_id == source_id)
    since = now - timedelta(minutes=1)
    figures = mine.aggregate(
        last_minute=(mine.ingested_at >= since).cast("int64").sum(),
        last_at=mine.ingested_at.max(),
    ).to_pyarrow()
    row = figures.to_pylist()[0]
    return Arrivals(last_minute=int(row["last_minute"] or 0), last_at=row["last_at"])
