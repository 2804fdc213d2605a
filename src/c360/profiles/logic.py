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
from collections import Counter, defaultdict
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

# Activities of the latest-activity panel: normalised event names (lower case, words joined by
# "_", see _word) and the extra condition under which an event counts, where a name alone is
# not enough.
EMAIL_SENT = frozenset(("email_sent", "sent", "send", "email_send", "delivered", "email_delivered"))
EMAIL_OPENED = frozenset(("email_opened", "opened", "open", "email_open"))
EMAIL_CLICKED = frozenset(
    ("email_clicked", "clicked", "click", "email_click", "email_link_clicked")
)
VISITS = frozenset(("visit", "session_start", "page_view", "pageview", "page", "site_visit"))
LOGINS = frozenset(
    ("login", "log_in", "logged_in", "sign_in", "signed_in", "signin", "login_success")
)
CALLS = frozenset(
    ("call", "phone_call", "support_call", "inbound_call", "outbound_call", "call_ended")
)
CALL_CHANNELS = frozenset(
    ("phone", "call", "calls", "call_center", "callcenter", "support", "telephone")
)
EMAIL_CHANNELS = frozenset(("email", "e_mail", "mail", "newsletter"))
IN_STORE_CHANNELS = frozenset(("store", "instore", "shop"))
_NOT_A_WORD = re.compile(r"[^a-z0-9]+")


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
    items: float = 0.0
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
    return warehouse.query_rows(build, params=params, **static)


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
    scope = _Records(person_id=person_id, source_ids=viewer.source_ids).scope
    # Four point reads, one per kind of row, each read once and then made into every part it
    # feeds (the events and orders into the timeline, latest activity, errors and purchases).
    # Three run on the reader threads (DuckDB releases the GIL while it works), each on its
    # thread's own warehouse connection; this thread reads the identifiers meanwhile. For a
    # person the viewer may not see they all come back empty, and the answer is NotFound.
    reads: dict[str, Future[list[dict[str, Any]]]] = {
        "timeline": _READERS.submit(_query, warehouse, queries.timeline_rows, scope),
        "lines": _READERS.submit(_query, warehouse, queries.order_lines, scope),
        "customers": _READERS.submit(_query, warehouse, queries.customer_rows, scope),
    }
    identifier_rows = _query(warehouse, queries.identifier_rows, scope)
    rows = {name: read.result() for name, read in reads.items()}
    identifiers = _identifiers(identifier_rows, viewer, person_id)
    if not identifiers:
        # The same answer as _records gives: nothing of the person in the viewer's sources.
        raise NotFound(f"no person {person_id}")
    activity = _read_timeline(rows["timeline"])
    lines = _lines(rows["lines"], activity)
    purchases = _purchases(activity, lines)
    contributing = sorted(
        {viewer.name_of(s.source_id) for ident in identifiers for s in ident.sources}
    )
    return Profile(
        person_id=person_id,
        who=_who(rows["customers"], identifiers, person_id=person_id),
        purchases=purchases,
        favourites=_favourites(lines),
        latest=_latest(activity, purchases),
        errors=_errors(activity, viewer),
        identifiers=identifiers,
        links=_links(identifier_rows, viewer, person_id),
        sources=contributing,
        timeline=_timeline(activity, viewer, person_id),
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
        _read_timeline(_query(warehouse, queries.timeline_rows, records.scope)),
        viewer,
        person_id,
        page=page,
        channel=channel,
        source=source,
        activity=activity,
        page_size=page_size,
    )


# -- the profile's parts ----------------------------------------------------------------
def _word(text: str | None) -> str | None:
    """A name as one comparable word: 'Call Center' -> 'call_center'."""
    return None if text is None else _NOT_A_WORD.sub("_", text.lower())


def _first_of(*values: Any) -> Any:
    """The first value that is not None (SQL's coalesce)."""
    return next((value for value in values if value is not None), None)


def _read_timeline(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The timeline rows (queries.timeline_rows) with what the profile's parts make of each:
    the page and title it shows, for an event the latest-activity moments it is and whether
    it is an error, for an order its channel as the purchase figures count it."""
    for row in rows:
        if row["kind"] == "order":
            channel = _word(row["channel"])
            row["page"], row["title"] = None, row["order_id"]
            row["moments"], row["error"] = frozenset(), False
            row["order_channel"] = (
                "unknown"
                if channel is None
                else "in_store"
                if channel in IN_STORE_CHANNELS
                else channel
            )
            continue
        activity = (_word(row["activity"]) or "").strip("_")
        channel = _word(row["channel"]) or ""
        is_email = channel in EMAIL_CHANNELS or activity.startswith("email")
        web_page = (row["webpage_url"] or "").lower()
        moments = {
            "email_sent": activity in EMAIL_SENT and is_email,
            "email_opened": activity in EMAIL_OPENED and is_email,
            "email_clicked": activity in EMAIL_CLICKED and is_email,
            "visit": activity in VISITS or row["type"] == "page",
            "login": activity in LOGINS or "login_success" in web_page,
            "call": activity in CALLS or channel in CALL_CHANNELS,
        }
        row["moments"] = frozenset(name for name, applies in moments.items() if applies)
        row["error"] = "error" in activity or row["type"] == "error"
        row["page"] = _first_of(row["webpage_url"], row["app_screen_title"])
        row["title"] = _first_of(row["webpage_title"], row["item_content"])
        row["order_channel"] = None
    return rows


def _text_property(properties: dict[str, Any], key: str) -> str | None:
    """A property's value when it is text (JSON numbers, lists and objects do not count)."""
    value = properties.get(key)
    return value if isinstance(value, str) else None


def _properties(raw: str | None) -> dict[str, Any]:
    """A row's JSON properties as a dict (empty when there are none or they are no object)."""
    try:
        values = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return values if isinstance(values, dict) else {}


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


def _purchases(rows: list[dict[str, Any]], lines: list[dict[str, Any]]) -> Purchases:
    """Per order channel and in all: orders, items, spent, first and last purchase.

    From the orders among the timeline rows and their lines. An order without a total counts
    the sum of its lines; an item line without a quantity counts as one item.
    """
    per_order: dict[str, list[Any]] = {}  # order id -> [items, amount of its lines or None]
    for line in lines:
        counted = per_order.setdefault(line["order_id"], [0.0, None])
        counted[0] += 1.0 if line["quantity"] is None else line["quantity"]
        if line["amount"] is not None:
            counted[1] = (counted[1] or 0.0) + line["amount"]
    channels: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["kind"] != "order":
            continue
        items, lines_amount = per_order.get(row["order_id"], (None, None))
        spent = next((v for v in (row["amount"], lines_amount) if v is not None), 0.0)
        channel = channels.setdefault(
            row["order_channel"],
            {"records": set(), "items": 0.0, "total_spent": 0.0, "at": [], "currencies": []},
        )
        if row["key"] is not None:
            channel["records"].add(row["key"])
        channel["items"] += items or 0.0
        channel["total_spent"] += spent
        if row["at"] is not None:
            channel["at"].append(row["at"])
        if row["currency"] is not None:
            channel["currencies"].append(row["currency"])
    per_channel = [
        {
            "order_channel": name,
            "orders": len(counted["records"]),
            "items": counted["items"],
            "total_spent": counted["total_spent"],
            "first_purchase": min(counted["at"], default=None),
            "last_purchase": max(counted["at"], default=None),
            "currency": max(counted["currencies"], default=None),
        }
        for name, counted in channels.items()
    ]
    return Purchases(
        online=_figures([row for row in per_channel if row["order_channel"] == "online"]),
        in_store=_figures([row for row in per_channel if row["order_channel"] == "in_store"]),
        total=_figures(per_channel),
    )


def _lines(rows: list[dict[str, Any]], timeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The order lines (queries.order_lines) of the orders among the timeline rows, each once,
    with its product's largest name, brand and category. A line whose order is in a source
    the viewer may not see does not count."""
    orders = {row["order_id"] for row in timeline if row["kind"] == "order"}
    catalogue: dict[str, dict[str, Any]] = {}
    lines: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["order_id"] not in orders:
            continue
        lines.setdefault(row["record_id"], row)
        known = catalogue.setdefault(row["product_id"], {})
        for column in ("name", "brand", "category"):
            if row[column] is not None:
                known[column] = max(known.get(column, row[column]), row[column])
    return [
        {**line, **{c: catalogue[line["product_id"]].get(c) for c in ("name", "brand", "category")}}
        for line in lines.values()
    ]


FAVOURITES = 5  # how many products, brands and categories a profile names


def _favourites(lines: list[dict[str, Any]]) -> Favourites:
    """The most bought products, brands and categories: by units (a line without a quantity
    is one), then by how many orders, then by name."""

    def top(by: str) -> list[dict[str, Any]]:
        ranked: dict[str, dict[str, Any]] = {}
        for line in lines:
            if line[by] is None:
                continue
            counted = ranked.setdefault(line[by], {**line, "count": 0.0, "orders": set()})
            counted["count"] += 1.0 if line["quantity"] is None else line["quantity"]
            counted["orders"].add(line["order_id"])
        best = sorted(
            ranked.values(), key=lambda row: (-row["count"], -len(row["orders"]), str(row[by]))
        )
        return [{**row, "orders": len(row["orders"])} for row in best[:FAVOURITES]]

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


def _latest(rows: list[dict[str, Any]], purchases: Purchases) -> LatestActivity:
    """When the person last got, opened and clicked an e-mail, visited, logged in, called,
    and did anything at all (events and purchases)."""
    events = [row for row in rows if row["kind"] == "event"]
    moments = [row["at"] for row in events if row["at"] is not None]

    def last(moment: str) -> datetime | None:
        return max(
            (row["at"] for row in events if moment in row["moments"] and row["at"]), default=None
        )

    last_event, first_event = max(moments, default=None), min(moments, default=None)
    lasts = [last_event, purchases.total.last_purchase]
    firsts = [first_event, purchases.total.first_purchase]
    return LatestActivity(
        last_in_store_order=purchases.in_store.last_purchase,
        last_online_order=purchases.online.last_purchase,
        last_email_sent=last("email_sent"),
        last_email_opened=last("email_opened"),
        last_email_clicked=last("email_clicked"),
        last_visit=last("visit"),
        last_login=last("login"),
        last_call=last("call"),
        last_seen=max((m for m in lasts if m), default=None),
        first_seen=min((m for m in firsts if m), default=None),
        events=len(events),
    )


RECENT_ERRORS = 10  # how many of the person's error events a profile shows
_NEVER = datetime.min.replace(tzinfo=UTC)


def _newest_first(row: dict[str, Any]) -> tuple[Any, ...]:
    """A sort key (with reverse=True) for newest first, then the later row of its batch, then
    the larger key; a row without a time comes last."""
    at, number, key = row["at"], row["row_number"], row["key"]
    return (at is not None, at or _NEVER, number is not None, number or 0, key or "")


def _errors(rows: list[dict[str, Any]], viewer: _Viewer) -> list[ErrorSeen]:
    """The person's error events, newest first: page, message, when."""
    errors = sorted(
        (row for row in rows if row["error"]),
        key=lambda row: (row["at"] is not None, row["at"] or _NEVER, row["key"] or ""),
        reverse=True,
    )
    seen = []
    for row in errors[:RECENT_ERRORS]:
        properties = _properties(row["details"])
        seen.append(
            ErrorSeen(
                at=row["at"],
                page=_first_of(
                    row["webpage_url"],
                    row["webpage_title"],
                    row["app_screen_title"],
                    _text_property(properties, "page"),
                    _text_property(properties, "url"),
                ),
                message=_first_of(
                    *(
                        _text_property(properties, key)
                        for key in ("error_message", "error", "message", "reason")
                    ),
                    row["item_content"],
                ),
                activity=row["activity"],
                source_id=row["source_id"],
                source_name=viewer.name_of(row["source_id"]),
            )
        )
    return seen


def _identifier_sources(rows: list[dict[str, Any]], person_id: str) -> list[dict[str, Any]]:
    """Every identifier on the person's records, per source and table, with its link state.

    Identifiers a merge rule kept out of the person show with linked = false and the rule's
    reason; so does one the identity map gives to someone else.
    """
    counted: dict[tuple[str, str, int, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["id_type"], row["id_value"], row["source_id"], row["record_table"])
        entry = counted.get(key)
        if entry is None:
            entry = counted[key] = {
                "records": set(),
                "first_seen": None,
                "last_seen": None,
                "map_person_id": None,
                "linked": False,
                "reason": None,
            }
        if row["record_id"] is not None:
            entry["records"].add(row["record_id"])
        seen = row["ingested_at"]
        if seen is not None:
            entry["first_seen"] = min(entry["first_seen"] or seen, seen)
            entry["last_seen"] = max(entry["last_seen"] or seen, seen)
        for column in ("map_person_id", "reason"):
            if row[column] is not None:
                entry[column] = max(entry[column] or row[column], row[column])
        entry["linked"] = entry["linked"] or bool(row["linked"])
    return [
        {
            "id_type": id_type,
            "id_value": id_value,
            "source_id": source_id,
            "record_table": record_table,
            "records": len(entry["records"]),
            "first_seen": entry["first_seen"],
            "last_seen": entry["last_seen"],
            "map_person_id": entry["map_person_id"],
            "linked": entry["linked"] and entry["map_person_id"] == person_id,
            "reason": entry["reason"],
        }
        for (id_type, id_value, source_id, record_table), entry in sorted(counted.items())
    ]


def _identifiers(
    identifier_rows: list[dict[str, Any]], viewer: _Viewer, person_id: str
) -> list[Identifier]:
    found: dict[tuple[str, str], Identifier] = {}
    for row in _identifier_sources(identifier_rows, person_id):
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


def _links(identifier_rows: list[dict[str, Any]], viewer: _Viewer, person_id: str) -> list[str]:
    """Why the person's identifiers are one person, and which a merge rule kept out.

    From the viewer's sources only, so an explanation never names a source they may not see.
    """
    from c360.identity.queries import link_sentences

    own = [row for row in identifier_rows if row["map_person_id"] == person_id]
    return link_sentences(own, source_names=viewer.source_names)


def _details(raw: str | None, *, limit: int = 4) -> list[str]:
    """A few readable 'key: value' lines from a row's JSON properties."""
    lines = []
    for key, value in _properties(raw).items():
        if isinstance(value, dict | list) or value in (None, ""):
            continue
        text = str(value)
        lines.append(f"{key.replace('_', ' ')}: {text if len(text) <= 80 else text[:79] + '…'}")
        if len(lines) == limit:
            break
    return lines


def _timeline(
    rows: list[dict[str, Any]],
    viewer: _Viewer,
    person_id: str,
    *,
    page: int = 1,
    channel: str | None = None,
    source: int | None = None,
    activity: str | None = None,
    page_size: int = PAGE_SIZE,
) -> TimelinePage:
    """One page of the timeline rows (queries.timeline_rows), newest first, filtered."""
    if page < 1:
        raise ValueError("page: must be 1 or more")
    facets = [
        {"source_id": source_id, "channel": row_channel, "activity": row_activity, "count": n}
        for (source_id, row_channel, row_activity), n in Counter(
            (row["source_id"], row["channel"], row["activity"]) for row in rows
        ).items()
    ]
    # A source outside the viewer's is simply a filter with no rows: it reveals nothing.
    selected = [
        row
        for row in rows
        if (not channel or row["channel"] == channel)
        and (source is None or row["source_id"] == source)
        and (not activity or row["activity"] == activity)
    ]
    total = len(selected)
    pages = max(1, math.ceil(total / page_size))
    entries: list[TimelineEntry] = []
    if total and page <= pages:
        newest = sorted(selected, key=_newest_first, reverse=True)
        for row in newest[(page - 1) * page_size : page * page_size]:
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
