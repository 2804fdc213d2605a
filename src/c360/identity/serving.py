"""The profile tables: every person's records, copied with the person id, in person order.

A profile read filters on one person id. Against the batch tables that means finding the
person's records among all identifiers and then fetching them by key from every table, each a
full scan; the profile tables hold the same rows keyed and ordered by person, so DuckDB reads
the few blocks whose min/max range holds the person and skips the rest.

Which records are a person's: every record carrying one of their linked identifiers, and a
record reached only through an identifier a merge rule kept out of every person (a household
phone) when none of the record's other identifiers is linked to someone else, so the customer
record carrying the household phone stays with its customer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis.expr.types as ir

from c360.warehouse.schema import PROFILE_TABLES

if TYPE_CHECKING:
    from c360.identity.stitch import Scratch
    from c360.warehouse import Warehouse

_KEYS = ["id_type", "id_value"]
_RECORD = ["record_table", "record_id"]


def person_records(warehouse: Warehouse, *, persons: ir.Table | None = None) -> ir.Table:
    """(person_id, record_table, record_id) of every record of the given people (all if None)."""
    identity_map = warehouse.table("identity_map")
    identifiers = warehouse.table("identifiers")
    owners = identity_map.filter(identity_map.person_id.notnull())
    if persons is not None:
        owners = owners.semi_join(persons, "person_id")
    hits = identifiers.join(owners.select(*_KEYS, "person_id", "linked"), _KEYS)
    strong = hits.filter(hits.linked).select("person_id", *_RECORD)
    weak = hits.filter(~hits.linked).select("person_id", *_RECORD)
    linked_elsewhere = identity_map.filter(identity_map.linked).select(*_KEYS, other="person_id")
    carried = identifiers.semi_join(weak, _RECORD).join(linked_elsewhere, _KEYS)
    claimed = weak.join(carried.select(*_RECORD, "other"), _RECORD)
    claimed = claimed.filter(claimed.other != claimed.person_id).select("person_id", *_RECORD)
    return strong.union(weak.anti_join(claimed, ["person_id", *_RECORD]), distinct=True)


def _profile_rows(warehouse: Warehouse, records: ir.Table) -> dict[str, ir.Table]:
    """The rows of each profile table for `records` (person_id, record_table, record_id)."""
    identity_map = warehouse.table("identity_map").select(
        *_KEYS, "linked", "reason", map_person_id="person_id"
    )
    identifiers = warehouse.table("identifiers").join(records, _RECORD)
    identifiers = identifiers.left_join(identity_map, _KEYS)
    rows = {"profile_identifiers": identifiers}
    for table, key in (("customers", "record_id"), ("orders", "record_id"), ("events", "event_id")):
        mine = records.filter(records.record_table == table).select(
            "person_id", **{key: records.record_id}
        )
        rows[f"profile_{table}"] = warehouse.table(table).join(mine, key)
    orders = rows["profile_orders"].select("person_id", "order_id").distinct()
    rows["profile_order_items"] = warehouse.table("order_items").join(orders, "order_id")
    return {
        name: expr.select(*PROFILE_TABLES[name].names).cast(PROFILE_TABLES[name])
        for name, expr in rows.items()
    }


def rebuild_profiles(warehouse: Warehouse, *, held: Scratch) -> None:
    """Every profile table from scratch, in person order. Call inside warehouse.writer()."""
    records = held.keep(person_records(warehouse))
    for name, rows in _profile_rows(warehouse, records).items():
        warehouse.clear(name)
        warehouse.insert_rows(name, rows.order_by("person_id"))


def refresh_profiles(warehouse: Warehouse, *, persons: ir.Table, held: Scratch) -> None:
    """The profile rows of `persons` (person_id) rewritten from the batch tables and the
    identity map as they are now. Call inside warehouse.writer(), after the map is updated."""
    records = held.keep(person_records(warehouse, persons=persons))
    for name, rows in _profile_rows(warehouse, records).items():
        warehouse.replace_rows(name, rows.order_by("person_id"), key=("person_id",), scope=persons)


def profile_rows_of(warehouse: Warehouse, *, records: ir.Table, table: str) -> ir.Table:
    """The rows of one profile table for `records` (person_id, record_table, record_id)."""
    return _profile_rows(warehouse, records)[table]


def profiles_missing(warehouse: Warehouse) -> bool:
    """True when people are known but the profile tables are empty (a warehouse upgraded
    from before they existed): the next identity update rebuilds them."""
    has_people = int(warehouse.table("identity_map").count().execute()) > 0
    has_rows = int(warehouse.table("profile_identifiers").count().execute()) > 0
    return has_people and not has_rows


def build_profiles(warehouse: Warehouse) -> None:
    """Rewrite every profile table from the identity map as it is, in one transaction."""
    from c360.identity.stitch import scratch

    with scratch() as held, warehouse.writer():
        rebuild_profiles(warehouse, held=held)
