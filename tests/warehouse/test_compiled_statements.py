"""insert_query and delete_query: statements compiled once per shape, then only bound."""

from __future__ import annotations

from typing import Any

import ibis.expr.types as ir

from c360.warehouse import Warehouse

from .test_engine import events


def _journal_of(warehouse: Warehouse, *, batch_id: Any, event: Any) -> ir.Table:
    """(id_type, id_value) rows made from the batch's events of one kind."""
    table = warehouse.table("events")
    picked = table.filter((table.batch_id == batch_id) & (table.event == event))
    return picked.select(id_type=picked.event, id_value=picked.event_id)


def _journal(warehouse: Warehouse) -> list[tuple[str, str]]:
    rows = warehouse.table("identity_pending").to_pyarrow().to_pylist()
    return sorted((row["id_type"], row["id_value"]) for row in rows)


def test_statements_are_compiled_once_and_bound_each_time(any_warehouse: Warehouse) -> None:
    import pyarrow as pa

    with any_warehouse.writer() as writer:
        writer.append("events", events(1, ["a", "b"], event=pa.array(["view", "buy"])))
        writer.append("events", events(2, ["c", "d"], event=pa.array(["view", "it's 100%"])))

    def insert(batch_id: int, event: str) -> None:
        any_warehouse.insert_query(
            "identity_pending", _journal_of, params={"batch_id": batch_id, "event": event}
        )

    insert(1, "view")
    insert(2, "view")
    insert(2, "it's 100%")  # quotes and a % in a value stay a value
    assert _journal(any_warehouse) == [("it's 100%", "d"), ("view", "a"), ("view", "c")]
    any_warehouse.delete_query(
        "identity_pending",
        _journal_of,
        key=("id_type", "id_value"),
        params={"batch_id": 2, "event": "view"},
    )
    assert _journal(any_warehouse) == [("it's 100%", "d"), ("view", "a")]
    # One shape per statement: the values were only bound.
    assert len(any_warehouse._compiled) == 2
    # Inside a write transaction they commit, or roll back, with it.
    try:
        with any_warehouse.writer():
            insert(1, "buy")
            raise RuntimeError("abort")
    except RuntimeError:
        pass
    if any_warehouse.dialect == "duckdb":  # PostgreSQL runs them on its own connection
        assert ("buy", "b") not in _journal(any_warehouse)
