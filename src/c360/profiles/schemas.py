"""What the profiles API answers: the shapes of logic.py's results."""

from __future__ import annotations

from datetime import date, datetime

from ninja import Field, Schema


class PersonHitOut(Schema):
    person_id: str
    name: str
    email: str | None
    phone: str | None
    city: str | None
    customer_since: datetime | None
    orders: int
    identifiers: list[str] = Field(description="A few of the person's identifiers, as shown.")


class WhoOut(Schema):
    name: str
    first_name: str | None
    last_name: str | None
    gender: str | None
    birth_date: date | None
    age: int | None
    emails: list[str]
    phones: list[str]
    customer_ids: list[str]
    address: str | None
    postal_code: str | None
    city: str | None
    country: str | None
    customer_since: datetime | None


class PurchaseFiguresOut(Schema):
    orders: int
    items: float
    items_per_order: float | None
    total_spent: float
    average_order_value: float | None
    first_purchase: datetime | None
    last_purchase: datetime | None
    currency: str | None


class PurchasesOut(Schema):
    online: PurchaseFiguresOut
    in_store: PurchaseFiguresOut
    total: PurchaseFiguresOut


class FavouriteProductOut(Schema):
    product_id: str
    name: str | None
    brand: str | None
    category: str | None
    count: float
    orders: int


class RankedOut(Schema):
    name: str
    count: float
    orders: int


class FavouritesOut(Schema):
    products: list[FavouriteProductOut]
    brands: list[RankedOut]
    categories: list[RankedOut]


class LatestActivityOut(Schema):
    last_in_store_order: datetime | None
    last_online_order: datetime | None
    last_email_sent: datetime | None
    last_email_opened: datetime | None
    last_email_clicked: datetime | None
    last_visit: datetime | None
    last_login: datetime | None
    last_call: datetime | None
    last_seen: datetime | None
    first_seen: datetime | None
    events: int


class ErrorSeenOut(Schema):
    at: datetime | None
    page: str | None
    message: str | None
    activity: str | None
    source_id: int
    source_name: str


class IdentifierSourceOut(Schema):
    source_id: int
    source_name: str
    record_table: str
    records: int
    first_seen: datetime | None
    last_seen: datetime | None


class IdentifierOut(Schema):
    id_type: str
    id_value: str
    linked: bool
    reason: str = Field(description="Why a merge rule kept this identifier out, when it did.")
    person_id: str | None = Field(description="The person it belongs to instead, if any.")
    sources: list[IdentifierSourceOut]


class FacetOut(Schema):
    value: str
    label: str
    count: int


class TimelineEntryOut(Schema):
    at: datetime | None
    kind: str
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


class TimelinePageOut(Schema):
    person_id: str
    page: int
    page_size: int
    total: int
    pages: int
    channel: str | None
    source: int | None
    activity: str | None
    entries: list[TimelineEntryOut]
    channels: list[FacetOut]
    sources: list[FacetOut]
    activities: list[FacetOut]


class ProfileOut(Schema):
    person_id: str
    who: WhoOut
    purchases: PurchasesOut
    favourites: FavouritesOut
    latest: LatestActivityOut
    errors: list[ErrorSeenOut]
    identifiers: list[IdentifierOut]
    links: list[str] = Field(description="Why the identifiers are one person.")
    sources: list[str] = Field(description="The sources this profile has data from.")
    timeline: TimelinePageOut = Field(description="The first page of the timeline.")
