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
from c360.identity.stitch import Scratch, blocked, people, scratch
from c360.ingest.canonical import EVENT_IDENTIFIERS

if TYPE_CHECKING:
    from c360.warehouse import BatchWriter, Warehouse

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
        # A column the file does not fill is all null: it holds no identifier.
        if id_type in rows.column_names and rows.column(id_type).null_count < rows.num_rows:
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
            # As written, when normalising changed it: most values are written normalised,
            # and a copy of each would cost the import a column of its largest table.
            "raw_value": pc.if_else(pc.equal(raw, values), pa.scalar(None, pa.string()), raw),
        }
    )
    # Filtering copies every column: skip it when every row has the identifier.
    return out if values.null_count == 0 else out.filter(present)


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
    from c360.warehouse.schema import arrow_schema

    return arrow_schema("identifiers").empty_table()


@dataclass(frozen=True)
class IdentityUpdate:
    identifiers: int  # identifiers in the map afterwards
    recomputed: int  # identifiers whose rows were computed now
    people: int  # distinct persons afterwards


# Below this many changed identifiers the update recomputes only the people they touch; above
# it (and above half the map), recomputing everything is cheaper than finding what changed.
_INCREMENTAL_UP_TO = 1_000_000
# Share of the map above which a change's reach is recomputed whole (see update_identity).
_FULL_ABOVE_SHARE = 0.15
# Above this many touched people an update rewrites all profile tables instead of their rows.
_PROFILES_REWRITTEN_ABOVE = 50_000


def refresh_identity(*, batch_ids: list[int] | None = None) -> str | None:
    """Bring the process warehouse's identity map up to date after batches landed or left.

    Called once the batch's rows are committed: a failure here is logged and does not undo
    them; the changed identifiers stay in the journal (`identity_pending`), so the next update
    repairs the map. Returns None, or what went wrong in one sentence.
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


def place_known_records(writer: BatchWriter, *, events: pa.Table, identifiers: pa.Table) -> int:
    """Append the identifier rows of records just appended (every one of them new), and put
    each record whose identifiers all belong, linked, to one person already straight into
    that person's profile rows, in the same transaction. Returns how many records it placed.

    Such a record changes nobody's links (every identifier it carries is the person's
    already), so there is nothing to stitch: the streaming writer makes a known visitor's
    event visible in the same commit instead of waiting for an identity update, and its
    identifier rows go in without a journal entry (the `records` count of the identity map
    then lags until the next full update, which nothing reads). Records that bring a new
    identifier or join people are journaled and wait for update_identity.

    The identity map is read for the few keys at hand and the rest is done in Python over
    the rows this commit holds: this runs on every commit of the tracking API and must not
    scan the batch tables (nor pay Arrow's join machinery, ~5 ms a join even for ten rows).
    """
    if identifiers.num_rows == 0:
        return 0
    keys = identifiers.select(_KEYS).group_by(_KEYS).aggregate([])
    mapped = writer.matching(
        "identity_map", keys, ("id_type", "id_value", "person_id", "linked", "reason")
    ).to_pydict()
    state = {
        (id_type, id_value): (person_id, linked, reason)
        for id_type, id_value, person_id, linked, reason in zip(
            mapped["id_type"],
            mapped["id_value"],
            mapped["person_id"],
            mapped["linked"],
            mapped["reason"],
            strict=True,
        )
    }
    rows = identifiers.select(["record_id", *_KEYS]).to_pydict()
    # A record's person: the one person all its identifiers are linked to, else None.
    person_of: dict[str, str | None] = {}
    for record_id, id_type, id_value in zip(
        rows["record_id"], rows["id_type"], rows["id_value"], strict=True
    ):
        person_id, linked, _ = state.get((id_type, id_value), (None, False, None))
        owner = person_id if linked else None
        person_of[record_id] = owner if person_of.get(record_id, owner) == owner else None
    placed = [person_of[record_id] is not None for record_id in rows["record_id"]]
    # Only the records left for the identity update go in its journal.
    writer.append("identifiers", identifiers, all_new=True, journal=pc.invert(pa.array(placed)))
    if not any(placed):
        return 0
    mine = identifiers.filter(pa.array(placed))
    their = [state.get(key, (None, None, None)) for key in zip(
        mine.column("id_type").to_pylist(), mine.column("id_value").to_pylist(), strict=True
    )]  # fmt: skip
    profile_identifiers = mine.append_column(
        "person_id", pa.array([person_of[r] for r in mine.column("record_id").to_pylist()])
    )
    for name, i in (("map_person_id", 0), ("linked", 1), ("reason", 2)):
        profile_identifiers = profile_identifiers.append_column(
            name, pa.array([entry[i] for entry in their])
        )
    writer.append(
        "profile_identifiers", _as_profile(profile_identifiers, "profile_identifiers"), all_new=True
    )
    event_ids = events.column("event_id").to_pylist()
    known_events = [person_of.get(event_id) is not None for event_id in event_ids]
    profile_events = events.filter(pa.array(known_events))
    profile_events = profile_events.append_column(
        "person_id",
        pa.array([person_of[e] for e, known in zip(event_ids, known_events, strict=True) if known]),
    )
    writer.append("profile_events", _as_profile(profile_events, "profile_events"), all_new=True)
    return sum(1 for person_id in person_of.values() if person_id is not None)


def _as_profile(rows: pa.Table, table: str) -> pa.Table:
    """Rows with a profile table's columns, in its order and types."""
    from c360.warehouse.schema import arrow_schema

    schema = arrow_schema(table)
    return rows.select(schema.names).cast(schema)


_KEYS = ["id_type", "id_value"]


def identity_behind() -> bool:
    """True when identifiers changed since the last identity update (a stop between an import
    and its update), or the profile tables are missing (a warehouse from before them)."""
    from c360.identity.serving import profiles_missing
    from c360.warehouse import get_warehouse

    warehouse = get_warehouse()
    return int(warehouse.table("identity_pending").count().execute()) > 0 or profiles_missing(
        warehouse
    )


def update_identity(
    *, warehouse: Warehouse, batch_ids: list[int] | None = None, rules: MergeRules | None = None
) -> IdentityUpdate:
    """Bring the identity map up to date with `identifiers`.

    batch_ids=None recomputes everything. Given batches (imported or rolled back), only the
    people touched by the identifiers in the journal (every identifier whose rows were added or
    deleted since the last update, whichever batch did it) are recomputed, widened to whole
    connected components so that the merge rules see everything they would in a full run.
    """
    from c360.identity.serving import profiles_missing, rebuild_profiles, refresh_profiles

    rules = rules or MergeRules.from_settings()
    keys = ["id_type", "id_value"]
    pending = warehouse.table("identity_pending").select(*keys).distinct()
    with scratch() as held:
        seeds = held.keep(pending)
        changed = int(seeds.count().execute())
        mapped = int(warehouse.table("identity_map").count().execute())
        full = (
            batch_ids is None
            or (changed > _INCREMENTAL_UP_TO and changed * 2 > mapped)
            or profiles_missing(warehouse)
        )
        nodes = None
        if not full and changed:
            nodes = _scope_nodes(warehouse, seeds, rules, held)
            reach = int(nodes.count().execute())
            # A change that reaches a large part of the map is recomputed whole: at a million
            # customers, 1.9 million identifiers (23% of the map) took longer row by row
            # (562 s) than everything from scratch (402 s).
            full = reach > _INCREMENTAL_UP_TO and reach > mapped * _FULL_ABOVE_SHARE
        if full:
            identifiers = warehouse.table("identifiers")
            fresh = held.keep(_stamped(people(identifiers, rules=rules, held=held)))
            with warehouse.writer():
                warehouse.clear("identity_map")
                warehouse.insert_rows("identity_map", fresh.order_by("person_id"))
                warehouse.clear("identity_pending")
                rebuild_profiles(warehouse, held=held)
        elif nodes is not None:
            scope = _scope_rows(warehouse, nodes, seeds)
            fresh = held.keep(_stamped(people(scope, rules=rules, held=held)))
            fresh = held.keep(_recounted(warehouse, fresh))
            gone = held.keep(
                nodes.union(seeds, distinct=True).union(fresh.select(*keys), distinct=True)
            )
            # The people whose profile rows change: those the rewritten identifiers belonged
            # to before, and those they belong to now.
            before = warehouse.table("identity_map").semi_join(gone, keys).select("person_id")
            persons = held.keep(
                before.union(fresh.select("person_id"), distinct=True).filter(
                    lambda t: t.person_id.notnull()
                )
            )
            with warehouse.writer():
                warehouse.replace_rows(
                    "identity_map", fresh, key=("id_type", "id_value"), scope=gone
                )
                warehouse.clear("identity_pending")
                touched = int(persons.count().execute())
                if touched > _PROFILES_REWRITTEN_ABOVE:
                    # Rewriting most people row by row costs more (and holds more of the
                    # transaction in memory) than writing every profile afresh, in order.
                    rebuild_profiles(warehouse, held=held)
                else:
                    refresh_profiles(warehouse, persons=persons, held=held)
        recomputed = 0 if not (full or changed) else int(fresh.count().execute())
    return _summary(warehouse, recomputed=recomputed)


def _stamped(rows: ir.Table) -> ir.Table:
    from c360.warehouse.schema import IDENTITY_MAP

    now = ibis.literal(datetime.now(UTC), type="timestamp('UTC')")
    return rows.mutate(computed_at=now).select(*IDENTITY_MAP.names).cast(IDENTITY_MAP)


def _scope_nodes(
    warehouse: Warehouse, seeds: ir.Table, rules: MergeRules, held: Scratch
) -> ir.Table:
    """Every identifier connected to a changed one, before the merge rules and after them.

    Starts from the changed identifiers and the people they belonged to, then follows records
    until nothing new is found. Blocked values link nothing, so the search never passes
    through them (a test e-mail on every record would otherwise reach everyone).
    """
    keys = ["id_type", "id_value"]
    identifiers = warehouse.table("identifiers")
    identity_map = warehouse.table("identity_map")

    def open_only(rows: ir.Table) -> ir.Table:
        return rows.filter(~blocked(rules, rows.id_type, rows.id_value))

    def with_their_people(found: ir.Table) -> ir.Table:
        mapped = identity_map.semi_join(found, keys)
        persons = mapped.filter(mapped.person_id.notnull()).select("person_id").distinct()
        members = identity_map.semi_join(persons, "person_id").select(*keys)
        return found.union(members, distinct=True)

    nodes = held.keep(with_their_people(open_only(seeds)))
    frontier = nodes
    record = ["record_table", "record_id"]
    for _ in range(1000):
        records = identifiers.semi_join(frontier, keys).select(*record).distinct()
        found = open_only(identifiers.semi_join(records, record).select(*keys).distinct())
        new = held.keep(with_their_people(found.anti_join(nodes, keys)).anti_join(nodes, keys))
        if int(new.count().execute()) == 0:
            return nodes
        nodes = held.keep(nodes.union(new, distinct=True))
        frontier = new
    raise RuntimeError("the search for the people a change touches did not settle")


def _scope_rows(warehouse: Warehouse, nodes: ir.Table, seeds: ir.Table) -> ir.Table:
    """The identifier rows to stitch again: whole records of the touched people, and every
    row of a changed blocked value (its records may belong to untouched people)."""
    keys = ["id_type", "id_value"]
    record = ["record_table", "record_id"]
    identifiers = warehouse.table("identifiers")
    records = identifiers.semi_join(nodes, keys).select(*record).distinct()
    whole = identifiers.semi_join(records, record)
    bare = identifiers.semi_join(seeds, keys)
    columns = [*record, *keys]
    return whole.select(*columns).union(bare.select(*columns), distinct=True)


def _recounted(warehouse: Warehouse, fresh: ir.Table) -> ir.Table:
    """`records` counted over the whole `identifiers` table: a blocked value in the scope was
    stitched from some of its rows only."""
    keys = ["id_type", "id_value"]
    identifiers = warehouse.table("identifiers")
    partial = fresh.filter(fresh.person_id.isnull())
    counts = identifiers.semi_join(partial, keys).group_by(keys).agg(total=ibis._.count())
    joined = fresh.left_join(counts, keys)
    return joined.select(
        *[
            (joined.total.fill_null(joined.records) if name == "records" else joined[name]).name(
                name
            )
            for name in fresh.columns
        ]
    )


def _summary(warehouse: Warehouse, *, recomputed: int) -> IdentityUpdate:
    identity_map = warehouse.table("identity_map")
    return IdentityUpdate(
        identifiers=int(identity_map.count().execute()),
        recomputed=recomputed,
        people=int(identity_map.person_id.nunique().execute()),
    )
