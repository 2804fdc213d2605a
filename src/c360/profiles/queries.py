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

# Activities of the latest-activity panel: normalised event names (lower case, words joined by
# "_") and the extra condition under which an event counts, where a name alone is not enough.
EMAIL_SENT = ("email_sent", "sent", "send", "email_send", "delivered", "email_delivered")
EMAIL_OPENED = ("email_opened", "opened", "open", "email_open")
EMAIL_CLICKED = ("email_clicked", "clicked", "click", "email_click", "email_link_clicked")
VISITS = ("visit", "session_start", "page_view", "pageview", "page", "site_visit")
LOGINS = ("login", "log_in", "logged_in", "sign_in", "signed_in", "signin", "login_success")
CALLS = ("call", "phone_call", "support_call", "inbound_call", "outbound_call", "call_ended")
CALL_CHANNELS = ("phone", "call", "calls", "call_center", "callcenter", "support", "telephone")
EMAIL_CHANNELS = ("email", "e_mail", "mail", "newsletter")


def activity_of(events: ir.Table) -> ir.StringValue:
    """An event's activity as one comparable word: 'Email Opened' -> 'email_opened'."""
    return events.event.lower().re_replace(r"[^a-z0-9]+", "_").re_replace(r"^_+|_+$", "")


def _channel_of(events: ir.Table) -> ir.StringValue:
    return events.channel.lower().re_replace(r"[^a-z0-9]+", "_")


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


def customer_rows(warehouse: Warehouse, *, person_id: str, source_ids: Sequence[int]) -> ir.Table:
    """The person's customer records, the most recently imported first."""
    customers = _mine(warehouse, "profile_customers", person_id, source_ids)
    return customers.order_by([ibis.desc("ingested_at"), ibis.desc("row_number")])


# -- purchases --------------------------------------------------------------------------
def _orders(warehouse: Warehouse, person_id: str, source_ids: Sequence[int]) -> ir.Table:
    return _mine(warehouse, "profile_orders", person_id, source_ids)


def _order_lines(
    warehouse: Warehouse, orders: ir.Table, person_id: str, source_ids: Sequence[int]
) -> ir.Table:
    items = _mine(warehouse, "profile_order_items", person_id, source_ids)
    return items.semi_join(orders.select("order_id"), "order_id")


def purchases_by_channel(
    warehouse: Warehouse, *, person_id: str, source_ids: Sequence[int]
) -> ir.Table:
    """Per order channel: orders, items, total spent, first and last purchase.

    An order without a total counts the sum of its lines; an item line without a quantity
    counts as one item.
    """
    orders = _orders(warehouse, person_id, source_ids)
    lines = _order_lines(warehouse, orders, person_id, source_ids)
    per_order = lines.group_by("order_id").aggregate(
        items=lines.quantity.fill_null(1).sum(), lines_amount=lines.amount.sum()
    )
    joined = orders.left_join(per_order, orders.order_id == per_order.order_id)
    channel = joined.channel.lower().re_replace(r"[^a-z0-9]+", "_").fill_null("unknown")
    joined = joined.mutate(
        order_channel=ibis.ifelse(channel.isin(["store", "instore", "shop"]), "in_store", channel),
        spent=ibis.coalesce(joined.total_amount, joined.lines_amount, 0.0),
    )
    return joined.group_by("order_channel").aggregate(
        orders=joined.record_id.nunique(),
        items=joined["items"].fill_null(0).sum(),
        total_spent=joined.spent.sum(),
        first_purchase=joined.ordered_at.min(),
        last_purchase=joined.ordered_at.max(),
        currency=joined.currency.max(),
    )


def _bought_products(
    warehouse: Warehouse, *, person_id: str, source_ids: Sequence[int]
) -> ir.Table:
    orders = _orders(warehouse, person_id, source_ids)
    lines = _order_lines(warehouse, orders, person_id, source_ids)
    products = _visible(warehouse.table("products"), source_ids)
    catalogue = products.group_by("product_id").aggregate(
        name=products.name.max(), brand=products.brand.max(), category=products.category.max()
    )
    joined = lines.left_join(catalogue, lines.product_id == catalogue.product_id)
    return joined.mutate(units=joined.quantity.fill_null(1))


def top_products(
    warehouse: Warehouse,
    *,
    person_id: str,
    source_ids: Sequence[int],
    by: str,
    limit: int = 5,
) -> ir.Table:
    """The most bought products, brands or categories (by = product_id | brand | category)."""
    bought = _bought_products(warehouse, person_id=person_id, source_ids=source_ids)
    bought = bought.filter(bought[by].notnull())
    keys = ["product_id", "name", "brand", "category"] if by == "product_id" else [by]
    return (
        bought.group_by(keys)
        .aggregate(count=bought.units.sum(), orders=bought.order_id.nunique())
        .order_by([ibis.desc("count"), ibis.desc("orders"), keys[0]])
        .limit(limit)
    )


def favourites(
    warehouse: Warehouse, *, person_id: str, source_ids: Sequence[int], limit: int = 5
) -> ir.Table:
    """top_products by product, brand and category in one query; `ranking` says which."""
    columns = ["product_id", "name", "brand", "category", "count", "orders"]
    parts = []
    for by in ("product_id", "brand", "category"):
        top = top_products(
            warehouse, person_id=person_id, source_ids=source_ids, by=by, limit=limit
        )
        parts.append(
            top.select(
                ranking=ibis.literal(by),
                **{
                    name: (top[name] if name in top.columns else ibis.null("string"))
                    for name in columns
                },
            )
        )
    return ibis.union(*parts, distinct=False)


# -- events -----------------------------------------------------------------------------
def _events(warehouse: Warehouse, person_id: str, source_ids: Sequence[int]) -> ir.Table:
    return _mine(warehouse, "profile_events", person_id, source_ids)


def latest_activity(warehouse: Warehouse, *, person_id: str, source_ids: Sequence[int]) -> ir.Table:
    """One row: when the person last got, opened and clicked an e-mail, visited, logged in,
    called, and did anything at all."""
    events = _events(warehouse, person_id, source_ids)
    activity = activity_of(events)
    channel = _channel_of(events)
    is_email = channel.isin(list(EMAIL_CHANNELS)) | activity.startswith("email")
    web_page = events.webpage_url.lower().fill_null("")
    is_login = activity.isin(list(LOGINS)) | web_page.contains("login_success")
    is_call = activity.isin(list(CALLS)) | channel.isin(list(CALL_CHANNELS))
    when = events.timestamp
    return events.aggregate(
        last_email_sent=when.max(where=activity.isin(list(EMAIL_SENT)) & is_email),
        last_email_opened=when.max(where=activity.isin(list(EMAIL_OPENED)) & is_email),
        last_email_clicked=when.max(where=activity.isin(list(EMAIL_CLICKED)) & is_email),
        last_visit=when.max(where=activity.isin(list(VISITS)) | (events.type == "page")),
        last_login=when.max(where=is_login),
        last_call=when.max(where=is_call),
        last_event=when.max(),
        first_event=when.min(),
        events=events.count(),
    )


def recent_errors(
    warehouse: Warehouse, *, person_id: str, source_ids: Sequence[int], limit: int = 10
) -> ir.Table:
    """The person's error events, newest first: page, message, when."""
    events = _events(warehouse, person_id, source_ids)
    activity = activity_of(events)
    errors = events.filter(activity.contains("error") | (events.type == "error"))
    props = errors.properties
    return (
        errors.select(
            "event_id",
            "source_id",
            "timestamp",
            "event",
            page=ibis.coalesce(
                errors.webpage_url,
                errors.webpage_title,
                errors.app_screen_title,
                props["page"].str,
                props["url"].str,
            ),
            message=ibis.coalesce(
                props["error_message"].str,
                props["error"].str,
                props["message"].str,
                props["reason"].str,
                errors.item_content,
            ),
        )
        .order_by([ibis.desc("timestamp"), ibis.desc("event_id")])
        .limit(limit)
    )


def _timeline_rows(warehouse: Warehouse, *, person_id: str, source_ids: Sequence[int]) -> ir.Table:
    """Events and orders as one stream of the same columns."""
    events = _events(warehouse, person_id, source_ids)
    event_rows = events.select(
        at=events.timestamp,
        kind=ibis.literal("event"),
        key=events.event_id,
        source_id=events.source_id,
        row_number=events.row_number,
        activity=events.event,
        channel=events.channel,
        page=ibis.coalesce(events.webpage_url, events.app_screen_title),
        title=ibis.coalesce(events.webpage_title, events.item_content),
        store=events.store,
        employee=events.employee,
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
        channel=orders.channel,
        page=ibis.null("string"),
        title=orders.order_id,
        store=orders.store,
        employee=ibis.null("string"),
        amount=orders.total_amount,
        currency=orders.currency,
        details=orders.properties.cast("string"),
    )
    return event_rows.union(order_rows)


def timeline(
    warehouse: Warehouse,
    *,
    person_id: str,
    source_ids: Sequence[int],
    channel: str | None = None,
    source_id: int | None = None,
    activity: str | None = None,
) -> ir.Table:
    """Every event and order of the person, newest first, optionally filtered."""
    rows = _timeline_rows(warehouse, person_id=person_id, source_ids=source_ids)
    if channel:
        rows = rows.filter(rows.channel == channel)
    if source_id is not None:
        rows = rows.filter(rows.source_id == source_id)
    if activity:
        rows = rows.filter(rows.activity == activity)
    return rows.order_by([ibis.desc("at"), ibis.desc("row_number"), ibis.desc("key")])


def timeline_page(
    warehouse: Warehouse,
    *,
    person_id: str,
    source_ids: Sequence[int],
    channel: str | None,
    source_id: int | None,
    activity: str | None,
    limit: int,
    offset: int,
) -> ir.Table:
    """One page of timeline()."""
    rows = timeline(
        warehouse,
        person_id=person_id,
        source_ids=source_ids,
        channel=channel,
        source_id=source_id,
        activity=activity,
    )
    return rows.limit(limit, offset=offset)


def timeline_facets(warehouse: Warehouse, *, person_id: str, source_ids: Sequence[int]) -> ir.Table:
    """How many timeline rows each (source, channel, activity) has: the filter choices."""
    rows = _timeline_rows(warehouse, person_id=person_id, source_ids=source_ids)
    return rows.group_by(["source_id", "channel", "activity"]).aggregate(count=rows.count())


# -- identifiers ------------------------------------------------------------------------
def identifier_sources(
    warehouse: Warehouse, *, person_id: str, source_ids: Sequence[int]
) -> ir.Table:
    """Every identifier on the person's records, per source and table, with its link state.

    Identifiers a merge rule kept out of the person show with linked = false and the rule's
    reason.
    """
    mine = _mine(warehouse, "profile_identifiers", person_id, source_ids)
    counted = mine.group_by(["id_type", "id_value", "source_id", "record_table"]).aggregate(
        records=mine.record_id.nunique(),
        first_seen=mine.ingested_at.min(),
        last_seen=mine.ingested_at.max(),
        raw_value=mine.raw_value.max(),
        map_person_id=mine.map_person_id.max(),
        linked=mine.linked.fill_null(False).max(),
        reason=mine.reason.max(),
    )
    return counted.select(
        "id_type",
        "id_value",
        "raw_value",
        "source_id",
        "record_table",
        "records",
        "first_seen",
        "last_seen",
        "map_person_id",
        linked=counted.linked & (counted.map_person_id == person_id),
        reason=counted.reason,
    ).order_by(["id_type", "id_value", "source_id", "record_table"])


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
