"""Identity state changes: identifier rows for the importer, and updates of the identity map."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from c360.identity.normalise import normalise
from c360.identity.rules import MergeRules
from c360.identity.stitch import MAP_COLUMNS, Scratch, blocked, node_key, scratch, stitch
from c360.ingest.canonical import EVENT_IDENTIFIERS

if TYPE_CHECKING:
    from c360.warehouse import Warehouse

log = logging.getLogger("c360.identity")

# Canonical fields that are identifiers wherever a table has them.
IDENTIFIER_FIELDS: dict[str, tuple[str, ...]] = {
    "events": EVENT_IDENTIFIERS,
    "customers": ("customer_id", "email", "phone"),
    "orders": ("customer_id", "email", "phone"),
}
_KEY_COLUMN = {"events": "event_id"}
_LINEAGE = ("source_id", "batch_id", "row_number", "ingested_at")
_IDENTIFIER_COLUMNS = (*_LINEAGE, "record_table", "record_id", "id_type", "id_value", "raw_value")


def identifiers_of(
    *, table: str, rows: pa.Table, custom: dict[str, str] | None = None, region: str | None = None
) -> pa.Table:
    """The `identifiers` rows for a chunk the importer writes to `table`.

    One row per identifier value that is present after normalisation. `custom` maps a file
    column kept in the row's JSON column to a custom identifier type (a mapping's
    spec["identifiers"]). Blocked values are kept: the merge rules mark them when stitching,
    so a change of the rules applies without importing again.
    """
    key = _KEY_COLUMN.get(table, "record_id")
    parts = []
    for id_type in IDENTIFIER_FIELDS.get(table, ()):
        if id_type in rows.column_names:
            parts.append(_rows_of(rows, table, key, id_type, rows.column(id_type), region))
    if custom:
        json_column = _json_column(table)
        if json_column in rows.column_names:
            for column, id_type in custom.items():
                values = _json_values(rows.column(json_column), column)
                parts.append(_rows_of(rows, table, key, id_type, values, region))
    if not parts:
        return _empty_identifiers()
    return pa.concat_tables(parts)


def _rows_of(
    rows: pa.Table, table: str, key: str, id_type: str, raw: Any, region: str | None
) -> pa.Table:
    raw = pc.cast(raw, pa.string())
    values = normalise(id_type, raw, region=region)
    present = pc.is_valid(values)
    n = rows.num_rows
    out = pa.table(
        {
            **{name: rows.column(name) for name in _LINEAGE},
            "record_table": _constant(table, n),
            "record_id": rows.column(key),
            "id_type": _constant(id_type, n),
            "id_value": values,
            "raw_value": raw,
        }
    )
    return out.filter(present)


def _constant(value: str, n: int) -> pa.Array:
    """`value` n times, without building a Python list of n strings."""
    return pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(n, dtype=np.int32)), pa.array([value], pa.string())
    ).cast(pa.string())


def _json_column(table: str) -> str:
    from c360.ingest.canonical import kind_of

    return str(kind_of(table).json_column)


def _json_values(column: Any, name: str) -> Any:
    """The values under `name` in a column of JSON objects, read by DuckDB in one query."""
    import duckdb

    with duckdb.connect() as con:
        con.register("chunk", pa.table({"doc": pc.cast(column, pa.string())}))
        query = "SELECT json_extract_string(doc, ?) AS v FROM chunk"
        return con.sql(query, params=["$." + _json_key(name)]).to_arrow_table()["v"]


def _json_key(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _empty_identifiers() -> pa.Table:
    from c360.warehouse.schema import IDENTIFIERS

    return IDENTIFIERS.to_pyarrow().empty_table()


@dataclass(frozen=True)
class IdentityUpdate:
    identifiers: int  # identifiers in the map afterwards
    recomputed: int  # identifiers whose rows were computed now
    people: int  # distinct persons afterwards


def refresh_identity(*, batch_ids: list[int] | None = None) -> str | None:
    """Bring the process warehouse's identity map up to date after batches landed or left.

    Called once the batch's rows are committed: a failure here is logged and does not undo
    them, and the next update, which finds every changed identifier, repairs the map.
    Returns None, or what went wrong in one sentence.
    """
    from c360.warehouse import get_warehouse

    warehouse = get_warehouse()
    try:
        # Exclusive: the map is read, recomputed and rewritten as one step.
        with warehouse.exclusive():
            update_identity(warehouse=warehouse, batch_ids=batch_ids)
    except Exception as exc:
        log.exception("identity update after batches %s failed", batch_ids)
        return f"Linking people failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
    return None


def update_identity(
    *, warehouse: Warehouse, batch_ids: list[int] | None = None, rules: MergeRules | None = None
) -> IdentityUpdate:
    """Bring the identity map up to date with `identifiers`.

    batch_ids=None recomputes everything. Given batches (imported or rolled back), only the
    components touched since the last update are recomputed: those holding an identifier whose
    count of rows in `identifiers` changed (which a rollback shows as well as an import, though
    the rolled-back rows are gone), widened to their whole connected components.
    """
    rules = rules or MergeRules.from_settings()
    identifiers = warehouse.table("identifiers")
    counts = identifiers.group_by(["id_type", "id_value"]).agg(records=ibis._.count())
    now = ibis.literal(datetime.now(UTC), type="timestamp('UTC')")
    current = warehouse.table("identity_map")
    if batch_ids is None:
        stitched = stitch(identifiers, rules=rules)
        fresh = _with_counts(warehouse, stitched, counts, now)
        _replace_map(warehouse, fresh)
        return _summary(warehouse, recomputed=stitched.num_rows)

    with scratch() as held:
        changed = _changed(counts, current, held)
        scope = _affected(identifiers, changed, rules, held)
        stitched = stitch(scope, rules=rules)
        fresh = _with_counts(warehouse, stitched, counts, now)
        keys = ["id_type", "id_value"]
        kept = current.anti_join(changed, keys).anti_join(fresh, keys)
        _replace_map(warehouse, _shaped(kept).union(_shaped(fresh)))
    return _summary(warehouse, recomputed=stitched.num_rows)


def _changed(counts: ir.Table, current: ir.Table, held: Scratch) -> ir.Table:
    """Identifiers that appeared, vanished or changed their number of rows since the update."""
    old = current.select("id_type", "id_value", old_records=current.records)
    both = counts.outer_join(old, ["id_type", "id_value"])
    differs = both.records.isnull() | both.old_records.isnull() | (both.records != both.old_records)
    changed = both.filter(differs).select(
        id_type=both.id_type.fill_null(both.id_type_right),
        id_value=both.id_value.fill_null(both.id_value_right),
    )
    return held.keep(changed)


def _affected(
    identifiers: ir.Table, changed: ir.Table, rules: MergeRules, held: Scratch
) -> ir.Table:
    """The identifier rows of every component that holds a changed identifier."""
    rows = identifiers.select(
        record=identifiers.record_table.concat(":", identifiers.record_id),
        node=node_key(identifiers.id_type, identifiers.id_value),
        is_blocked=blocked(rules, identifiers.id_type, identifiers.id_value),
    )
    membership = rows.filter(~rows.is_blocked).select("record", "node").distinct()
    seeds = changed.select(node=node_key(changed.id_type, changed.id_value))
    # Components as labels, computed over the records reachable from the changed identifiers
    # only: the label of an unchanged component is never needed.
    reach = seeds.select("node")
    frontier = reach
    for _ in range(1000):
        records = membership.semi_join(frontier, "node").select("record").distinct()
        found = membership.semi_join(records, "record").select("node").distinct()
        new = held.keep(found.anti_join(reach, "node"))
        if int(new.count().execute()) == 0:
            break
        grown = held.keep(reach.union(new))
        reach, frontier = grown, new
    else:
        raise RuntimeError("the search for affected identifiers did not settle")
    reach_records = membership.semi_join(reach, "node").select("record").distinct()
    keyed = identifiers.mutate(
        record=identifiers.record_table.concat(":", identifiers.record_id),
        node=node_key(identifiers.id_type, identifiers.id_value),
    )
    # Whole records of the affected components, plus the bare rows of changed blocked values
    # (their records may belong to untouched components).
    whole = keyed.semi_join(reach_records, "record")
    bare = keyed.semi_join(seeds, "node")
    scope = whole.union(bare, distinct=True)
    return scope.select("record_table", "record_id", "id_type", "id_value")


def _with_counts(warehouse: Warehouse, stitched: pa.Table, counts: ir.Table, now: Any) -> ir.Table:
    backend = warehouse.ibis()
    staged = backend.create_table(
        "_c360_identity_staged", stitched.select(list(MAP_COLUMNS)), temp=True, overwrite=True
    )
    joined = staged.join(counts, ["id_type", "id_value"])
    return joined.select(*MAP_COLUMNS, records=joined.records.cast("int64"), computed_at=now)


def _shaped(rows: ir.Table) -> ir.Table:
    from c360.warehouse.schema import IDENTITY_MAP

    return rows.select(*IDENTITY_MAP.names).cast(IDENTITY_MAP)


def _replace_map(warehouse: Warehouse, rows: ir.Table) -> None:
    ordered = _shaped(rows).order_by(["id_type", "id_value"])
    # Serialised with imports and rollbacks; on DuckDB the rewrite shares their transaction,
    # so readers see the old map or the new one, never none.
    with warehouse.writer():
        warehouse.ibis().create_table("identity_map", ordered, overwrite=True)


def _summary(warehouse: Warehouse, *, recomputed: int) -> IdentityUpdate:
    identity_map = warehouse.table("identity_map")
    return IdentityUpdate(
        identifiers=int(identity_map.count().execute()),
        recomputed=recomputed,
        people=int(identity_map.person_id.nunique().execute()),
    )
