"""Ibis expressions over the warehouse for the 360 profile.

Each function builds an expression and runs nothing; logic.py executes them. Every function
takes the ids of the data sources the viewer may see, and reads rows of those sources only.

A person's rows are read from the profile tables (c360.identity.serving): the records of
every person, copied with the person id and stored in person order by the identity update,
so one profile reads a few blocks of each table rather than scanning them all.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir

from c360.warehouse import Warehouse

IDENTITY_MAP = "identity_map"


def _visible(table: ir.Table, source_ids: Sequence[int]) -> ir.Table:
    return table.filter(table.source_id.isin(list(source_ids)))


# -- who the person is ------------------------------------------------------------------
def _mine(warehouse: Warehouse, table: str, person_id: str, source_ids: Sequence[int]) -> ir.Table:
    """The person's rows of a profile table, in the given sources."""
    rows = warehouse.table(table)
    return rows.filter((rows.person_id == person_id) & rows.source_id.isin(list(source_ids)))


def person_found(warehouse: Warehouse, *, person_id: str, source_ids: Sequence[int]) -> ir.Table:
    """One row when the person has a record in the given sources."""
    mine = _mine(warehouse, "profile_identifiers", person_id, source_ids)
    return mine.select("person_id").limit(1)


# The customer columns a profile shows (Who); the rest of a record stays in the warehouse.
_WHO_COLUMNS = (
    "first_name",
    "last_name",
    "gender",
    "birth_date",
    "address",
    "postal_code",
    "city",
    "country",
    "signed_up_at",
)


def customer_rows(warehouse: Warehouse, *, person_id: str, source_ids: Sequence[int]) -> ir.Table:
    """The person's customer records, the most recently imported first."""
    customers = _mine(warehouse, "profile_customers", person_id, source_ids)
    return customers.select(*_WHO_COLUMNS, "ingested_at", "row_number").order_by(
        [ibis.desc("ingested_at"), ibis.desc("row_number")]
    )


def identifier_rows(warehouse: Warehouse, *, person_id: str, source_ids: Sequence[int]) -> ir.Table:
    """Every identifier row of the person's records, with the state of its identifier.

    map_person_id is the person the identity map gives the identifier; linked = false with a
    reason when a merge rule kept it out. The profile's identifiers and the explanations of
    its links are both made of these rows.
    """
    mine = _mine(warehouse, "profile_identifiers", person_id, source_ids)
    return mine.select(
        "id_type",
        "id_value",
        "source_id",
        "record_table",
        "record_id",
        "ingested_at",
        "map_person_id",
        "linked",
        "reason",
    )


# -- purchases --------------------------------------------------------------------------
def _orders(warehouse: Warehouse, person_id: str, source_ids: Sequence[int]) -> ir.Table:
    return _mine(warehouse, "profile_orders", person_id, source_ids)


def order_lines(warehouse: Warehouse, *, person_id: str, source_ids: Sequence[int]) -> ir.Table:
    """The person's order lines, each with the name, brand and category of every product
    record of its product (none: one row with nulls).

    Lines and products of the given sources. A line counts only when its order is visible
    too: the caller keeps the lines of the orders it read (timeline_rows), which saves reading
    the orders twice. A product recorded more than once repeats its lines, and the caller
    takes each line once (by record_id) and each product's largest name, brand and category:
    joining the catalogue as it is costs less than grouping it first.
    """
    lines = _mine(warehouse, "profile_order_items", person_id, source_ids)
    products = _visible(warehouse.table("products"), source_ids).select(
        "product_id", "name", "brand", "category"
    )
    joined = lines.left_join(products, lines.product_id == products.product_id)
    return joined.select(
        "record_id",
        "order_id",
        "quantity",
        "amount",
        product_id=lines.product_id,
        name=joined.name,
        brand=joined.brand,
        category=joined.category,
    )


def _events(warehouse: Warehouse, person_id: str, source_ids: Sequence[int]) -> ir.Table:
    return _mine(warehouse, "profile_events", person_id, source_ids)


# -- events and orders: the timeline ----------------------------------------------------
def timeline_rows(warehouse: Warehouse, *, person_id: str, source_ids: Sequence[int]) -> ir.Table:
    """Every event and order of the person as one stream of the same columns, in no order.

    The columns are read as stored, nothing computed per row: one read of the person's events
    and orders gives the timeline and its filter choices, the latest activity, the recent
    errors and the purchases, which logic.py makes of them (a few dozen rows per person).
    """
    events = _events(warehouse, person_id, source_ids)
    event_rows = events.select(
        at=events.timestamp,
        kind=ibis.literal("event"),
        key=events.event_id,
        source_id=events.source_id,
        row_number=events.row_number,
        activity=events.event,
        type=events.type,
        channel=events.channel,
        webpage_url=events.webpage_url,
        webpage_title=events.webpage_title,
        app_screen_title=events.app_screen_title,
        item_content=events.item_content,
        store=events.store,
        employee=events.employee,
        order_id=ibis.null("string"),
        amount=ibis.null("float64"),
        currency=ibis.null("string"),
        details=events.properties.cast("string"),
    )
    orders = _orders(warehouse, person_id, source_ids)
    order_rows = orders.select(
        at=orders.ordered_at,
        kind=ibis.literal("order"),
        key=orders.record_id,
        source_id=orders.source_id,
        row_number=orders.row_number,
        activity=ibis.literal("order"),
        type=ibis.null("string"),
        channel=orders.channel,
        webpage_url=ibis.null("string"),
        webpage_title=ibis.null("string"),
        app_screen_title=ibis.null("string"),
        item_content=ibis.null("string"),
        store=orders.store,
        employee=ibis.null("string"),
        order_id=orders.order_id,
        amount=orders.total_amount,
        currency=orders.currency,
        details=orders.properties.cast("string"),
    )
    return event_rows.union(order_rows)


# -- search -----------------------------------------------------------------------------
def matching_people(
    warehouse: Warehouse,
    *,
    text: str,
    terms: Sequence[str],
    phone_digits: str | None,
    source_ids: Sequence[int],
    limit: int,
) -> ir.Table:
    """Person ids whose person id, identifier (prefix) or name (every term) matches, best first.

    Only identifiers and customer records of the given sources count, so a search never finds
    a person through a source the viewer may not see. An identifier a merge rule kept out of
    every person (a household phone) finds the people whose records carry it, and its own
    person where it is on records of nobody else.
    """
    identity = warehouse.table(IDENTITY_MAP)
    identifiers = _visible(warehouse.table("identifiers"), source_ids)
    keys = ["record_table", "record_id"]
    value = identity.id_value.lower()
    condition = (identity.person_id == text) | value.startswith(text)
    if phone_digits:
        condition |= (identity.id_type == "phone") & identity.id_value.contains(phone_digits)
    hit_ids = identity.filter(condition).select(
        "id_type",
        "id_value",
        "person_id",
        linked=identity.linked.fill_null(True),
        rank=ibis.ifelse((value == text) | (identity.person_id == text), 0, 1),
    )
    hits = identifiers.join(hit_ids, ["id_type", "id_value"]).select(
        *keys, "person_id", "linked", "rank"
    )
    linked_people = identity.filter(identity.linked.fill_null(True)).select(
        "id_type", "id_value", "person_id"
    )
    loose = hits.filter(~hits.linked)
    carriers = (
        identifiers.semi_join(loose, keys)
        .join(linked_people, ["id_type", "id_value"])
        .select(*keys, "person_id")
    )
    matches = (
        hits.filter(hits.linked)
        .select("person_id", "rank")
        .union(carriers.select("person_id", rank=ibis.literal(1)))
        .union(
            loose.filter(loose.person_id.notnull())
            .anti_join(carriers, keys)
            .select("person_id", "rank")
        )
    )
    if terms:
        customers = _visible(warehouse.table("customers"), source_ids)
        full_name = (
            customers.first_name.fill_null("").lower()
            + " "
            + customers.last_name.fill_null("").lower()
        )
        named = customers
        for term in terms:
            named = named.filter(full_name.contains(term))
        by_name = (
            identifiers.filter(identifiers.record_table == "customers")
            .semi_join(named.select("record_id"), "record_id")
            .join(linked_people, ["id_type", "id_value"])
            .select("person_id", rank=ibis.literal(2))
        )
        matches = matches.union(by_name)
    best = matches.group_by("person_id").aggregate(rank=matches["rank"].min())
    return best.order_by(["rank", "person_id"]).limit(limit)


def people_customer_facts(
    warehouse: Warehouse, *, person_ids: Sequence[str], source_ids: Sequence[int]
) -> ir.Table:
    """Per person: name, e-mail and city of their latest customer record, and customer since."""
    identity = warehouse.table(IDENTITY_MAP)
    linked = identity.filter(
        identity.person_id.isin(list(person_ids)) & identity.linked.fill_null(True)
    ).select("id_type", "id_value", "person_id")
    identifiers = _visible(warehouse.table("identifiers"), source_ids)
    owned = (
        identifiers.filter(identifiers.record_table == "customers")
        .join(linked, ["id_type", "id_value"])
        .select("person_id", "record_id")
        .distinct()
    )
    customers = _visible(warehouse.table("customers"), source_ids)
    rows = owned.join(customers, "record_id")
    latest = ibis.window(
        group_by="person_id", order_by=[ibis.desc("ingested_at"), ibis.desc("row_number")]
    )
    rows = rows.mutate(
        position=ibis.row_number().over(latest),
        since=rows.signed_up_at.min().over(group_by="person_id"),
    )
    return rows.filter(rows.position == 0).select(
        "person_id", "first_name", "last_name", "email", "phone", "city", "since"
    )


def people_identifiers(
    warehouse: Warehouse, *, person_ids: Sequence[str], source_ids: Sequence[int]
) -> ir.Table:
    """Per person, their linked identifiers seen in the given sources."""
    identity = warehouse.table(IDENTITY_MAP)
    identifiers = _visible(warehouse.table("identifiers"), source_ids)
    mine = identity.filter(
        identity.person_id.isin(list(person_ids)) & identity.linked.fill_null(True)
    )
    return mine.semi_join(identifiers, ["id_type", "id_value"]).select(
        "person_id", "id_type", "id_value"
    )


def people_order_counts(
    warehouse: Warehouse, *, person_ids: Sequence[str], source_ids: Sequence[int]
) -> ir.Table:
    """Per person, how many orders of the given sources carry one of their identifiers."""
    identity = warehouse.table(IDENTITY_MAP)
    linked = identity.filter(
        identity.person_id.isin(list(person_ids)) & identity.linked.fill_null(True)
    ).select("id_type", "id_value", "person_id")
    identifiers = _visible(warehouse.table("identifiers"), source_ids)
    owned = identifiers.filter(identifiers.record_table == "orders").join(
        linked, ["id_type", "id_value"]
    )
    return owned.group_by("person_id").aggregate(orders=owned.record_id.nunique())
