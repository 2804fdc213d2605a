"""The 360 profile: search, the profile itself and its timeline, for one viewer.

Every function takes the actor (a user or an API token) and reads only rows of the sources
that actor may see (sources.permissions.visible_sources): a staff member without access to
the calls source gets profiles without calls, and a person known only from sources the
viewer may not see is not found at all.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from c360.accounts.models import ApiToken
from c360.profiles import queries
from c360.sources.logic import NotAllowed, NotFound
from c360.sources.permissions import Actor, visible_sources
from c360.warehouse import Warehouse, get_warehouse

# Threads that read a profile's parts side by side (see profile()).
_READERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="c360-profile")
PAGE_SIZE = 25
SEARCH_LIMIT = 8
MIN_SEARCH_LENGTH = 2
ID_TYPE_LABELS = {
    "customer_id": "customer id",
    "user_id": "user id",
    "email": "e-mail",
    "phone": "phone",
    "anonymous_id": "anonymous id",
    "session_id": "session id",
    "device_id": "device id",
}
_PHONE_LIKE = re.compile(r"^[\d\s()+./-]+$")


# -- results ----------------------------------------------------------------------------
@dataclass
class PersonHit:
    person_id: str
    name: str
    email: str | None
    phone: str | None
    city: str | None
    customer_since: datetime | None
    orders: int
    identifiers: list[str]


@dataclass
class Who:
    name: str
    first_name: str | None = None
    last_name: str | None = None
    gender: str | None = None
    birth_date: date | None = None
    age: int | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    customer_ids: list[str] = field(default_factory=list)
    address: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country: str | None = None
    customer_since: datetime | None = None


@dataclass
class PurchaseFigures:
    orders: int = 0
    items: float = 0
    items_per_order: float | None = None
    total_spent: float = 0.0
    average_order_value: float | None = None
    first_purchase: datetime | None = None
    last_purchase: datetime | None = None
    currency: str | None = None


@dataclass
class Purchases:
    online: PurchaseFigures
    in_store: PurchaseFigures
    total: PurchaseFigures


@dataclass
class FavouriteProduct:
    product_id: str
    name: str | None
    brand: str | None
    category: str | None
    count: float
    orders: int


@dataclass
class Ranked:
    name: str
    count: float
    orders: int


@dataclass
class Favourites:
    products: list[FavouriteProduct]
    brands: list[Ranked]
    categories: list[Ranked]


@dataclass
class LatestActivity:
    last_in_store_order: datetime | None = None
    last_online_order: datetime | None = None
    last_email_sent: datetime | None = None
    last_email_opened: datetime | None = None
    last_email_clicked: datetime | None = None
    last_visit: datetime | None = None
    last_login: datetime | None = None
    last_call: datetime | None = None
    last_seen: datetime | None = None
    first_seen: datetime | None = None
    events: int = 0


@dataclass
class ErrorSeen:
    at: datetime | None
    page: str | None
    message: str | None
    activity: str | None
    source_id: int
    source_name: str


@dataclass
class IdentifierSource:
    source_id: int
    source_name: str
    record_table: str
    records: int
    first_seen: datetime | None
    last_seen: datetime | None


@dataclass
class Identifier:
    id_type: str
    id_value: str
    linked: bool
    reason: str
    person_id: str | None  # when not linked: the person the identity map gives it, if any
    sources: list[IdentifierSource]


@dataclass
class Facet:
    value: str
    label: str
    count: int


@dataclass
class TimelineEntry:
    at: datetime | None
    kind: str  # event | order
    activity: str | None
    channel: str | None
    source_id: int
    source_name: str
    page: str | None
    title: str | None
    store: str | None
    employee: str | None
    amount: float | None
    currency: str | None
    details: list[str]


@dataclass
class TimelinePage:
    person_id: str
    page: int
    page_size: int
    total: int
    pages: int
    channel: str | None
    source: int | None
    activity: str | None
    entries: list[TimelineEntry]
    channels: list[Facet]
    sources: list[Facet]
    activities: list[Facet]


@dataclass
class Profile:
    person_id: str
    who: Who
    purchases: Purchases
    favourites: Favourites
    latest: LatestActivity
    errors: list[ErrorSeen]
    identifiers: list[Identifier]
    links: list[str]
    sources: list[str]  # names of the sources this profile has data from
    timeline: TimelinePage


# -- who may read profiles --------------------------------------------------------------
@dataclass(frozen=True)
class _Viewer:
    source_ids: list[int]
    source_names: dict[int, str]

    def name_of(self, source_id: int) -> str:
        return self.source_names.get(source_id, f"source {source_id}")


def _viewer(actor: Actor) -> _Viewer:
    """The sources the actor may read profiles from; tokens need the analyze permission."""
    if isinstance(actor, ApiToken) and "analyze" not in actor.permissions:
        raise NotAllowed(
            "this API token may not read customer profiles: it needs the analyze permission"
        )
    names = dict(visible_sources(actor).values_list("pk", "name"))
    return _Viewer(source_ids=sorted(names), source_names=names)


def _rows(expr: Any) -> list[dict[str, Any]]:
    return list(expr.to_pyarrow().to_pylist())


def _query(
    warehouse: Warehouse, build: Any, params: dict[str, Any], **static: Any
) -> list[dict[str, Any]]:
    """Rows of a query run for every profile: compiled once, then only bound (see
    Warehouse.query)."""
    return list(warehouse.query(build, params=params, **static).to_pylist())


# -- search -----------------------------------------------------------------------------
def search(actor: Actor, *, q: str, limit: int = SEARCH_LIMIT) -> list[PersonHit]:
    """People whose name, e-mail, phone, any identifier or person id matches `q`."""
    viewer = _viewer(actor)
    text = " ".join(q.split()).lower()
    if len(text) < MIN_SEARCH_LENGTH or not viewer.source_ids:
        return []
    digits = re.sub(r"\D", "", text).lstrip("0")
    phone_digits = digits if _PHONE_LIKE.match(text) and len(digits) >= 6 else None
    warehouse = get_warehouse()
    found = _rows(
        queries.matching_people(
            warehouse,
            text=text,
            terms=[term for term in text.split() if term],
            phone_digits=phone_digits,
            source_ids=viewer.source_ids,
            limit=limit,
        )
    )
    person_ids = [row["person_id"] for row in found]
    return people(warehouse, person_ids=person_ids, source_ids=viewer.source_ids)


def people(
    warehouse: Warehouse, *, person_ids: list[str], source_ids: list[int]
) -> list[PersonHit]:
    """Enough about each person to pick the right one from a list, in the given order."""
    if not person_ids:
        return []
    facts = {
        row["person_id"]: row
        for row in _rows(
            queries.people_customer_facts(warehouse, person_ids=person_ids, source_ids=source_ids)
        )
    }
    orders = {
        row["person_id"]: int(row["orders"])
        for row in _rows(
            queries.people_order_counts(warehouse, person_ids=person_ids, source_ids=source_ids)
        )
    }
    identifiers: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in _rows(
        queries.people_identifiers(warehouse, person_ids=person_ids, source_ids=source_ids)
    ):
        identifiers[row["person_id"]].append((row["id_type"], row["id_value"]))
    hits = []
    for person_id in person_ids:
        fact = facts.get(person_id, {})
        ids = sorted(identifiers.get(person_id, []), key=lambda pair: _id_priority(pair[0]))
        email = fact.get("email") or _first(ids, "email")
        phone = fact.get("phone") or _first(ids, "phone")
        hits.append(
            PersonHit(
                person_id=person_id,
                name=_full_name(fact.get("first_name"), fact.get("last_name")) or _unnamed(ids),
                email=email,
                phone=phone,
                city=fact.get("city"),
                customer_since=fact.get("since"),
                orders=orders.get(person_id, 0),
                identifiers=[f"{ID_TYPE_LABELS.get(t, t)} {v}" for t, v in ids[:4]],
            )
        )
    return hits


def _first(ids: list[tuple[str, str]], id_type: str) -> str | None:
    return next((value for kind, value in ids if kind == id_type), None)


_PRIORITY = ("customer_id", "user_id", "email", "phone", "device_id", "anonymous_id", "session_id")


def _id_priority(id_type: str) -> int:
    return _PRIORITY.index(id_type) if id_type in _PRIORITY else len(_PRIORITY)


def _full_name(first: str | None, last: str | None) -> str:
    return " ".join(part.strip() for part in (first, last) if part and part.strip())


def _unnamed(ids: list[tuple[str, str]]) -> str:
    """A person with no customer record: named by what is known of them."""
    if any(kind in {"email", "customer_id", "user_id", "phone"} for kind, _ in ids):
        return "Unnamed customer"
    return "Anonymous visitor"


# -- the profile ------------------------------------------------------------------------
@dataclass(frozen=True)
class _Records:
    """Whose records, in which sources: what every profile query filters on."""

    person_id: str
    source_ids: list[int]

    @property
    def scope(self) -> dict[str, Any]:
        return {"person_id": self.person_id, "source_ids": self.source_ids}


def _records(warehouse: Warehouse, viewer: _Viewer, person_id: str) -> _Records:
    """The person in the viewer's sources; NotFound when none of their records is there."""
    found = False
    if viewer.source_ids:
        scope = {"person_id": person_id, "source_ids": viewer.source_ids}
        found = bool(_query(warehouse, queries.person_found, scope))
    if not found:
        # Same answer whether the person does not exist or lives only in sources the viewer
        # may not see: a profile never reveals that such data exists.
        raise NotFound(f"no person {person_id}")
    return _Records(person_id=person_id, source_ids=viewer.source_ids)


def profile(actor: Actor, *, person_id: str) -> Profile:
    """Everything about one person the actor may see."""
    viewer = _viewer(actor)
    warehouse = get_warehouse()
    records = _Records(person_id=person_id, source_ids=viewer.source_ids)
    # The parts are independent point reads, run side by side (DuckDB releases the GIL while
    # it works), each on its thread's own warehouse connection. For a person the viewer may
    # not see they all come back empty, and the answer is NotFound.
    parts: dict[str, Future[Any]] = {
        "identifiers": _READERS.submit(_identifiers, warehouse, viewer, person_id),
        "customers": _READERS.submit(_query, warehouse, queries.customer_rows, records.scope),
        "purchases": _READERS.submit(_purchases, warehouse, viewer, records),
        "latest": _READERS.submit(_query, warehouse, queries.latest_activity, records.scope),
        "favourites": _READERS.submit(_favourites, warehouse, viewer, records),
        "errors": _READERS.submit(_errors, warehouse, viewer, records),
        "links": _READERS.submit(_links, viewer, person_id),
        "timeline": _READERS.submit(_timeline, warehouse, viewer, person_id, records),
    }
    results = {name: future.result() for name, future in parts.items()}
    identifiers = results["identifiers"]
    if not identifiers:
        # The same answer as _records gives: nothing of the person in the viewer's sources.
        raise NotFound(f"no person {person_id}")
    purchases = results["purchases"]
    contributing = sorted(
        {viewer.name_of(s.source_id) for ident in identifiers for s in ident.sources}
    )
    return Profile(
        person_id=person_id,
        who=_who(results["customers"], identifiers, person_id=person_id),
        purchases=purchases,
        favourites=results["favourites"],
        latest=_latest(results["latest"][0], purchases),
        errors=results["errors"],
        identifiers=identifiers,
        links=results["links"],
        sources=contributing,
        timeline=results["timeline"],
    )


def lookup(actor: Actor, *, id_type: str, value: str) -> str:
    """The person id of an identifier, if the actor may see that person."""
    viewer = _viewer(actor)
    warehouse = get_warehouse()
    from c360.identity.queries import person_of

    person_id = person_of(id_type, value, warehouse=warehouse)
    if person_id is None:
        raise NotFound(f"no person with {ID_TYPE_LABELS.get(id_type, id_type)} {value.strip()}")
    _records(warehouse, viewer, person_id)  # NotFound when none of it is the actor's to see
    return person_id


def timeline(
    actor: Actor,
    *,
    person_id: str,
    page: int = 1,
    channel: str | None = None,
    source: int | None = None,
    activity: str | None = None,
    page_size: int = PAGE_SIZE,
) -> TimelinePage:
    """One page of the person's timeline, newest first, optionally filtered."""
    viewer = _viewer(actor)
    warehouse = get_warehouse()
    records = _records(warehouse, viewer, person_id)
    return _timeline(
        warehouse,
        viewer,
        person_id,
        records,
        page=page,
        channel=channel,
        source=source,
        activity=activity,
        page_size=page_size,
    )


# -- the profile's parts ----------------------------------------------------------------
def _who(rows: list[dict[str, Any]], identifiers: list[Identifier], *, person_id: str) -> Who:
    """Who the person is, from their customer records (newest first) and identifiers."""

    def latest(column: str) -> Any:
        # Rows come newest first: the latest import that says something wins.
        return next((row[column] for row in rows if row[column] not in (None, "")), None)

    # The person's own identifiers: those linked to it, and one a merge rule left on its own.
    linked = [i for i in identifiers if i.linked or i.person_id == person_id]
    birth_date = latest("birth_date")
    signed_up = [row["signed_up_at"] for row in rows if row["signed_up_at"] is not None]
    first_name, last_name = latest("first_name"), latest("last_name")
    customer_ids = [i.id_value for i in linked if i.id_type == "customer_id"]
    return Who(
        name=_full_name(first_name, last_name)
        or _unnamed([(i.id_type, i.id_value) for i in linked]),
        first_name=first_name,
        last_name=last_name,
        gender=latest("gender"),
        birth_date=birth_date,
        age=_age(birth_date),
        emails=[i.id_value for i in linked if i.id_type == "email"],
        phones=[i.id_value for i in linked if i.id_type == "phone"],
        customer_ids=customer_ids,
        address=latest("address"),
        postal_code=latest("postal_code"),
        city=latest("city"),
        country=latest("country"),
        customer_since=min(signed_up) if signed_up else None,
    )


def _age(birth_date: date | None, *, today: date | None = None) -> int | None:
    if birth_date is None:
        return None
    today = today or datetime.now(UTC).date()
    before_birthday = (today.month, today.day) < (birth_date.month, birth_date.day)
    return today.year - birth_date.year - int(before_birthday)


def _figures(rows: list[dict[str, Any]]) -> PurchaseFigures:
    if not rows:
        return PurchaseFigures()
    orders = sum(int(row["orders"]) for row in rows)
    items = float(sum(row["items"] or 0 for row in rows))
    spent = float(sum(row["total_spent"] or 0 for row in rows))
    firsts = [row["first_purchase"] for row in rows if row["first_purchase"]]
    lasts = [row["last_purchase"] for row in rows if row["last_purchase"]]
    currencies = {row["currency"] for row in rows if row["currency"]}
    return PurchaseFigures(
        orders=orders,
        items=items,
        items_per_order=round(items / orders, 2) if orders else None,
        total_spent=round(spent, 2),
        average_order_value=round(spent / orders, 2) if orders else None,
        first_purchase=min(firsts) if firsts else None,
        last_purchase=max(lasts) if lasts else None,
        currency=currencies.pop() if len(currencies) == 1 else None,
    )


def _purchases(warehouse: Warehouse, viewer: _Viewer, records: _Records) -> Purchases:
    rows = _query(warehouse, queries.purchases_by_channel, records.scope)
    return Purchases(
        online=_figures([row for row in rows if row["order_channel"] == "online"]),
        in_store=_figures([row for row in rows if row["order_channel"] == "in_store"]),
        total=_figures(rows),
    )


def _favourites(warehouse: Warehouse, viewer: _Viewer, records: _Records) -> Favourites:
    rows = _query(warehouse, queries.favourites, records.scope)

    def top(by: str) -> list[dict[str, Any]]:
        # A union keeps no order: each ranking is sorted again as top_products sorts it.
        ranked = [row for row in rows if row["ranking"] == by]
        return sorted(ranked, key=lambda row: (-row["count"], -row["orders"], str(row[by])))

    return Favourites(
        products=[
            FavouriteProduct(
                product_id=row["product_id"],
                name=row["name"],
                brand=row["brand"],
                category=row["category"],
                count=float(row["count"]),
                orders=int(row["orders"]),
            )
            for row in top("product_id")
        ],
        brands=[
            Ranked(name=row["brand"], count=float(row["count"]), orders=int(row["orders"]))
            for row in top("brand")
        ],
        categories=[
            Ranked(name=row["category"], count=float(row["count"]), orders=int(row["orders"]))
            for row in top("category")
        ],
    )


def _latest(row: dict[str, Any], purchases: Purchases) -> LatestActivity:
    moments = [row["last_event"], purchases.total.last_purchase]
    firsts = [row["first_event"], purchases.total.first_purchase]
    return LatestActivity(
        last_in_store_order=purchases.in_store.last_purchase,
        last_online_order=purchases.online.last_purchase,
        last_email_sent=row["last_email_sent"],
        last_email_opened=row["last_email_opened"],
        last_email_clicked=row["last_email_clicked"],
        last_visit=row["last_visit"],
        last_login=row["last_login"],
        last_call=row["last_call"],
        last_seen=max((m for m in moments if m), default=None),
        first_seen=min((m for m in firsts if m), default=None),
        events=int(row["events"]),
    )


def _errors(warehouse: Warehouse, viewer: _Viewer, records: _Records) -> list[ErrorSeen]:
    return [
        ErrorSeen(
            at=row["timestamp"],
            page=row["page"],
            message=row["message"],
            activity=row["event"],
            source_id=row["source_id"],
            source_name=viewer.name_of(row["source_id"]),
        )
        for row in _query(warehouse, queries.recent_errors, records.scope)
    ]


def _identifiers(warehouse: Warehouse, viewer: _Viewer, person_id: str) -> list[Identifier]:
    scope = {"person_id": person_id, "source_ids": viewer.source_ids}
    rows = _query(warehouse, queries.identifier_sources, scope)
    found: dict[tuple[str, str], Identifier] = {}
    for row in rows:
        key = (row["id_type"], row["id_value"])
        ident = found.get(key)
        if ident is None:
            linked = bool(row["linked"])
            other = row["map_person_id"]
            ident = found[key] = Identifier(
                id_type=row["id_type"],
                id_value=row["id_value"],
                linked=linked,
                reason="" if linked else _unlinked_reason(row["reason"], other),
                person_id=None if linked else other,
                sources=[],
            )
        ident.sources.append(
            IdentifierSource(
                source_id=row["source_id"],
                source_name=viewer.name_of(row["source_id"]),
                record_table=row["record_table"],
                records=int(row["records"]),
                first_seen=row["first_seen"],
                last_seen=row["last_seen"],
            )
        )
    return sorted(found.values(), key=lambda i: (not i.linked, _id_priority(i.id_type), i.id_value))


def _unlinked_reason(reason: str | None, other_person: str | None) -> str:
    if reason:
        return reason
    if other_person:
        return f"belongs to another person ({other_person})"
    return "not linked to any person (a blocked value)"


def _links(viewer: _Viewer, person_id: str) -> list[str]:
    """Why the person's identifiers are one person, and which a merge rule kept out.

    From the viewer's sources only, so an explanation never names a source they may not see.
    """
    from c360.identity.queries import explain_links

    return explain_links(person_id, source_ids=viewer.source_ids, source_names=viewer.source_names)


def _details(raw: str | None, *, limit: int = 4) -> list[str]:
    """A few readable 'key: value' lines from a row's JSON properties."""
    if not raw:
        return []
    try:
        values = json.loads(raw)
    except ValueError:
        return []
    if not isinstance(values, dict):
        return []
    lines = []
    for key, value in values.items():
        if isinstance(value, dict | list) or value in (None, ""):
            continue
        text = str(value)
        lines.append(f"{key.replace('_', ' ')}: {text if len(text) <= 80 else text[:79] + '…'}")
        if len(lines) == limit:
            break
    return lines


def _timeline(
    warehouse: Warehouse,
    viewer: _Viewer,
    person_id: str,
    records: _Records,
    *,
    page: int = 1,
    channel: str | None = None,
    source: int | None = None,
    activity: str | None = None,
    page_size: int = PAGE_SIZE,
) -> TimelinePage:
    if page < 1:
        raise ValueError("page: must be 1 or more")
    ids = records.scope
    facets = _query(warehouse, queries.timeline_facets, ids)
    # A source outside the viewer's is simply a filter with no rows: it reveals nothing.
    selected = [
        row
        for row in facets
        if (not channel or row["channel"] == channel)
        and (source is None or row["source_id"] == source)
        and (not activity or row["activity"] == activity)
    ]
    total = sum(int(row["count"]) for row in selected)
    pages = max(1, math.ceil(total / page_size))
    entries: list[TimelineEntry] = []
    if total and page <= pages:
        rows = _query(
            warehouse,
            queries.timeline_page,
            ids,
            channel=channel,
            source_id=source,
            activity=activity,
            limit=page_size,
            offset=(page - 1) * page_size,
        )
        for row in rows:
            entries.append(
                TimelineEntry(
                    at=row["at"],
                    kind=row["kind"],
                    activity=row["activity"],
                    channel=row["channel"],
                    source_id=row["source_id"],
                    source_name=viewer.name_of(row["source_id"]),
                    page=row["page"],
                    title=row["title"],
                    store=row["store"],
                    employee=row["employee"],
                    amount=row["amount"],
                    currency=row["currency"],
                    details=_details(row["details"]),
                )
            )
    return TimelinePage(
        person_id=person_id,
        page=page,
        page_size=page_size,
        total=total,
        pages=pages,
        channel=channel,
        source=source,
        activity=activity,
        entries=entries,
        channels=_facet(facets, "channel", lambda value: str(value).replace("_", " ")),
        sources=_facet(facets, "source_id", lambda value: viewer.name_of(int(value))),
        activities=_facet(facets, "activity", lambda value: str(value).replace("_", " ")),
    )


def _facet(rows: list[dict[str, Any]], column: str, label: Any) -> list[Facet]:
    counts: dict[Any, int] = defaultdict(int)
    for row in rows:
        if row[column] not in (None, ""):
            counts[row[column]] += int(row["count"])
    return [
        Facet(value=str(value), label=label(value), count=count)
        for value, count in sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))
    ]
