"""The canonical warehouse schema and its versioned migrations.

Tables are declared as Ibis schemas so the same declaration creates them on every engine.
Each migration is applied once, in order, and recorded in `c360_schema_migrations`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import ibis
import ibis.expr.datatypes as dt
import pyarrow as pa

STR = dt.string
INT = dt.int64
FLOAT = dt.float64
TS = dt.Timestamp(timezone="UTC")
JSON = dt.json

# Columns every warehouse row carries: where it came from and in which order it arrived.
_LINEAGE = {
    "source_id": INT,
    "batch_id": INT,
    "row_number": INT,  # position in its batch: ties on timestamp are ordered by it
    "ingested_at": TS,
}

# The promoted customer-journey columns of the classic journey format.
JOURNEY_COLUMNS = (
    "channel",
    "device_category",
    "device_os",
    "device_browser",
    "geo_country",
    "geo_city",
    "traffic_source",
    "store",
    "employee",
    "webpage_hostname",
    "webpage_url",
    "webpage_title",
    "app_name",
    "app_screen_title",
    "item_type",
    "item_url",
    "item_content",
    "experience_emotion",
)

EVENTS = ibis.schema(
    {
        "event_id": STR,  # stable: the message id, else a hash of source and row content
        **_LINEAGE,
        # Segment-spec columns
        "type": STR,
        "event": STR,  # the activity
        "message_id": STR,
        "user_id": STR,
        "anonymous_id": STR,
        "timestamp": TS,
        "sent_at": TS,
        "received_at": TS,
        # further identifiers a journey row may carry
        "customer_id": STR,
        "email": STR,
        "phone": STR,
        "session_id": STR,
        "device_id": STR,
        # promoted journey columns
        **{name: STR for name in JOURNEY_COLUMNS},
        "experience_score": FLOAT,
        "properties": JSON,
        "traits": JSON,
        "context": JSON,
    }
)

CUSTOMERS = ibis.schema(
    {
        "record_id": STR,
        **_LINEAGE,
        "customer_id": STR,
        "email": STR,
        "phone": STR,
        "first_name": STR,
        "last_name": STR,
        "gender": STR,
        "birth_date": dt.date,
        "address": STR,
        "postal_code": STR,
        "city": STR,
        "country": STR,
        "signed_up_at": TS,
        "traits": JSON,
    }
)

ORDERS = ibis.schema(
    {
        "record_id": STR,
        **_LINEAGE,
        "order_id": STR,
        "customer_id": STR,
        "email": STR,
        "phone": STR,
        "ordered_at": TS,
        "channel": STR,  # online or in_store
        "store": STR,
        "status": STR,
        "total_amount": FLOAT,
        "currency": STR,
        "delivery_address": STR,
        "delivery_city": STR,
        "delivery_country": STR,
        "properties": JSON,
    }
)

ORDER_ITEMS = ibis.schema(
    {
        "record_id": STR,
        **_LINEAGE,
        "order_id": STR,
        "line_number": INT,
        "product_id": STR,
        "quantity": FLOAT,
        "unit_price": FLOAT,
        "amount": FLOAT,
        "properties": JSON,
    }
)

PRODUCTS = ibis.schema(
    {
        "record_id": STR,
        **_LINEAGE,
        "product_id": STR,
        "name": STR,
        "brand": STR,
        "category": STR,
        "season": STR,
        "gender": STR,
        "price": FLOAT,
        "currency": STR,
        "properties": JSON,
    }
)

IDENTIFIERS = ibis.schema(
    {
        **_LINEAGE,
        "record_table": STR,
        "record_id": STR,
        "id_type": STR,
        "id_value": STR,  # normalised
        "raw_value": STR,  # as written, when normalising changed it (else NULL)
    }
)

# table name -> (schema, the column that identifies a row for de-duplication)
TABLES: dict[str, tuple[ibis.Schema, str | tuple[str, ...] | None]] = {
    "events": (EVENTS, "event_id"),
    "customers": (CUSTOMERS, "record_id"),
    "orders": (ORDERS, "record_id"),
    "order_items": (ORDER_ITEMS, "record_id"),
    "products": (PRODUCTS, "record_id"),
    # one row per identifier of a record: a record imported again adds none
    "identifiers": (IDENTIFIERS, ("record_id", "id_type")),
}


# The identity map: every known identifier with its person. It is computed from `identifiers`
# (c360.identity.logic.update_identity) and carries no lineage, so it is not in TABLES: rolling
# back a batch leaves it to the next update, which recomputes the components the batch touched.
IDENTITY_MAP = ibis.schema(
    {
        "id_type": STR,
        "id_value": STR,  # normalised
        "person_id": STR,  # NULL for a blocked value
        "linked": dt.boolean,  # false when a merge rule kept it out of a person
        "reason": STR,  # why it is not linked
        "records": INT,  # rows of `identifiers` it was computed from; a change marks it stale
        "computed_at": TS,
    }
)

# Identifiers whose rows changed since the identity map was last brought up to date: the
# writers journal them in the same transaction as the change (see JOURNALS), and the next
# identity update recomputes the people they touch, then empties the journal. A crash between
# an import and its identity update loses nothing: the journal still says what to redo.
IDENTITY_PENDING = ibis.schema({"id_type": STR, "id_value": STR})


def _per_person(schema: ibis.Schema, **extra: dt.DataType) -> ibis.Schema:
    return ibis.schema({"person_id": STR, **dict(schema.items()), **extra})


# The profile tables: each person's records, copied with their person id and stored in person
# order, so that reading one profile touches a few blocks (DuckDB skips the rest by min/max)
# instead of scanning every event. Kept up to date by the identity update, which rewrites the
# rows of exactly the people it recomputed (c360.identity.serving).
PROFILE_TABLES: dict[str, ibis.Schema] = {
    # every identifier row of the person's records, with the state of its identifier
    "profile_identifiers": _per_person(
        IDENTIFIERS, linked=dt.boolean, map_person_id=STR, reason=STR
    ),
    "profile_customers": _per_person(CUSTOMERS),
    "profile_orders": _per_person(ORDERS),
    "profile_order_items": _per_person(ORDER_ITEMS),
    "profile_events": _per_person(EVENTS),
}

# Tables derived from the batch tables: created by migrations, never touched by delete_batches.
DERIVED_TABLES: dict[str, ibis.Schema] = {
    "identity_map": IDENTITY_MAP,
    "identity_pending": IDENTITY_PENDING,
    **PROFILE_TABLES,
}

# table -> (journal table, key columns): every row appended to or deleted from the table puts
# its key columns in the journal, inside the same transaction.
JOURNALS: dict[str, tuple[str, tuple[str, ...]]] = {
    "identifiers": ("identity_pending", ("id_type", "id_value")),
}


def table_schema(name: str) -> ibis.Schema:
    """The schema of a batch table or a derived table."""
    if name in TABLES:
        return TABLES[name][0]
    return DERIVED_TABLES[name]


@functools.cache
def arrow_schema(name: str) -> pa.Schema:
    """table_schema() as an Arrow schema, converted once (the streaming writer asks on every
    commit)."""
    return table_schema(name).to_pyarrow()


def table_key(name: str) -> tuple[str, ...]:
    """The columns that identify a row of a lineage table for de-duplication (may be none)."""
    key = TABLES[name][1]
    if key is None:
        return ()
    return (key,) if isinstance(key, str) else key


# The single-column keys migration 1 indexed (kept as they were when it was written).
_FIRST_KEYS = {
    "events": "event_id",
    "customers": "record_id",
    "orders": "record_id",
    "order_items": "record_id",
    "products": "record_id",
}


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    create_tables: tuple[str, ...] = ()
    # (table, column): a unique index on engines whose de-duplication relies on one
    unique_keys: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # (table, column): plain indexes for lookups and rollback, on engines that use them
    indexes: tuple[tuple[str, str], ...] = field(default=())
    # (table, column): plain indexes an engine that does without them drops
    unindexed: tuple[tuple[str, str], ...] = field(default=())
    # tables that become, on engines that keep segments, a view over their stored rows and
    # the Parquet segments file imports landed (see SEGMENTED)
    segmented: tuple[str, ...] = ()


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        version=1,
        name="canonical schema",
        create_tables=tuple(TABLES),
        unique_keys=tuple((name, (key,)) for name, key in _FIRST_KEYS.items()),
        indexes=tuple((name, "batch_id") for name in TABLES),
    ),
    Migration(
        version=2,
        name="identity map",
        create_tables=("identity_map",),
    ),
    Migration(
        version=3,
        name="identifiers keyed by record and type",
        unique_keys=(("identifiers", ("record_id", "id_type")),),
    ),
    Migration(
        version=4,
        name="journal of changed identifiers",
        create_tables=("identity_pending",),
    ),
    Migration(
        version=5,
        name="profile tables in person order",
        create_tables=tuple(PROFILE_TABLES),
    ),
    Migration(
        version=6,
        name="no batch indexes where zonemaps serve",
        unindexed=tuple((name, "batch_id") for name in TABLES),
    ),
    Migration(
        version=7,
        name="file imports land as segments",
        segmented=("events", "identifiers"),
    ),
)

# The tables whose file imports land, on DuckDB, as Parquet segments: one immutable file per
# batch and table beside the database, which the table (a view there) reads with its stored
# rows. Writing a million events and their identifiers as Parquet takes about a third of the
# CPU of appending them to DuckDB's own storage (bench/bench_landing.py).
SEGMENTED = frozenset(name for m in MIGRATIONS for name in m.segmented)
