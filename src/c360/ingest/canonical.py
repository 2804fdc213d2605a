"""The canonical fields each source kind maps onto, and mapping suggestions from headers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from c360.warehouse.schema import JOURNEY_COLUMNS

# Field types a mapping casts to.
STRING, TIMESTAMP, NUMBER, INTEGER, BOOLEAN, DATE = (
    "string",
    "timestamp",
    "number",
    "integer",
    "boolean",
    "date",
)
CASTS = (STRING, TIMESTAMP, NUMBER, INTEGER, BOOLEAN, DATE)


@dataclass(frozen=True)
class Kind:
    table: str
    fields: dict[str, str]  # canonical field -> type
    required: tuple[str, ...] = ()
    # at least one of these must be present on every row
    one_of: tuple[str, ...] = ()
    json_column: str = "properties"  # where unmapped columns go
    defaults: dict[str, str] = field(default_factory=dict)
    synonyms: dict[str, str] = field(default_factory=dict)  # normalised header -> field


EVENT_IDENTIFIERS = (
    "customer_id",
    "user_id",
    "anonymous_id",
    "email",
    "phone",
    "session_id",
    "device_id",
)

_ID_SYNONYMS = {
    "customerid": "customer_id",
    "customer": "customer_id",
    "customernumber": "customer_id",
    "clientid": "customer_id",
    "userid": "user_id",
    "anonymousid": "anonymous_id",
    "cookieid": "anonymous_id",
    "visitorid": "anonymous_id",
    "email": "email",
    "emailaddress": "email",
    "mail": "email",
    "phone": "phone",
    "phonenumber": "phone",
    "telephone": "phone",
    "mobile": "phone",
    "sessionid": "session_id",
    "deviceid": "device_id",
}

KINDS: dict[str, Kind] = {
    "events": Kind(
        table="events",
        fields={
            "event": STRING,
            "timestamp": TIMESTAMP,
            "type": STRING,
            "message_id": STRING,
            **{name: STRING for name in EVENT_IDENTIFIERS},
            "sent_at": TIMESTAMP,
            "received_at": TIMESTAMP,
            **{name: STRING for name in JOURNEY_COLUMNS},
            "experience_score": NUMBER,
        },
        required=("event", "timestamp"),
        one_of=EVENT_IDENTIFIERS,
        defaults={"type": "track"},
        synonyms={
            **_ID_SYNONYMS,
            # the classic customer-journey format
            "actiontype": "event",
            "action": "event",
            "activity": "event",
            "eventname": "event",
            "event": "event",
            "time": "timestamp",
            "timestamp": "timestamp",
            "eventtime": "timestamp",
            "datetime": "timestamp",
            "messageid": "message_id",
            "sentat": "sent_at",
            "receivedat": "received_at",
            # XES, as process-mining tools export logs
            "conceptname": "event",
            "timetimestamp": "timestamp",
            "caseconceptname": "customer_id",
            **{name.replace("_", ""): name for name in JOURNEY_COLUMNS},
            "experiencescore": "experience_score",
        },
    ),
    "customers": Kind(
        table="customers",
        fields={
            "customer_id": STRING,
            "email": STRING,
            "phone": STRING,
            "first_name": STRING,
            "last_name": STRING,
            "gender": STRING,
            "birth_date": DATE,
            "address": STRING,
            "postal_code": STRING,
            "city": STRING,
            "country": STRING,
            "signed_up_at": TIMESTAMP,
        },
        one_of=("customer_id", "email", "phone"),
        json_column="traits",
        synonyms={
            **_ID_SYNONYMS,
            "firstname": "first_name",
            "givenname": "first_name",
            "lastname": "last_name",
            "surname": "last_name",
            "familyname": "last_name",
            "gender": "gender",
            "sex": "gender",
            "birthdate": "birth_date",
            "dateofbirth": "birth_date",
            "dob": "birth_date",
            "address": "address",
            "street": "address",
            "postalcode": "postal_code",
            "zipcode": "postal_code",
            "zip": "postal_code",
            "postcode": "postal_code",
            "city": "city",
            "country": "country",
            "signedupat": "signed_up_at",
            "signupdate": "signed_up_at",
            "createdat": "signed_up_at",
            "customersince": "signed_up_at",
        },
    ),
    "orders": Kind(
        table="orders",
        fields={
            "order_id": STRING,
            "customer_id": STRING,
            "email": STRING,
            "phone": STRING,
            "ordered_at": TIMESTAMP,
            "channel": STRING,
            "store": STRING,
            "status": STRING,
            "total_amount": NUMBER,
            "currency": STRING,
            "delivery_address": STRING,
            "delivery_city": STRING,
            "delivery_country": STRING,
        },
        required=("order_id", "ordered_at"),
        one_of=("customer_id", "email", "phone"),
        synonyms={
            **_ID_SYNONYMS,
            "orderid": "order_id",
            "ordernumber": "order_id",
            "orderedat": "ordered_at",
            "orderdate": "ordered_at",
            "date": "ordered_at",
            "channel": "channel",
            "store": "store",
            "status": "status",
            "total": "total_amount",
            "totalamount": "total_amount",
            "amount": "total_amount",
            "currency": "currency",
            "deliveryaddress": "delivery_address",
            "deliverycity": "delivery_city",
            "deliverycountry": "delivery_country",
        },
    ),
    "order_items": Kind(
        table="order_items",
        fields={
            "order_id": STRING,
            "line_number": INTEGER,
            "product_id": STRING,
            "quantity": NUMBER,
            "unit_price": NUMBER,
            "amount": NUMBER,
        },
        required=("order_id", "product_id"),
        synonyms={
            "orderid": "order_id",
            "linenumber": "line_number",
            "line": "line_number",
            "productid": "product_id",
            "sku": "product_id",
            "quantity": "quantity",
            "qty": "quantity",
            "unitprice": "unit_price",
            "price": "unit_price",
            "amount": "amount",
            "lineamount": "amount",
        },
    ),
    "products": Kind(
        table="products",
        fields={
            "product_id": STRING,
            "name": STRING,
            "brand": STRING,
            "category": STRING,
            "season": STRING,
            "gender": STRING,
            "price": NUMBER,
            "currency": STRING,
        },
        required=("product_id",),
        synonyms={
            "productid": "product_id",
            "sku": "product_id",
            "name": "name",
            "productname": "name",
            "title": "name",
            "brand": "brand",
            "category": "category",
            "season": "season",
            "gender": "gender",
            "price": "price",
            "currency": "currency",
        },
    ),
}


def kind_of(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"kind: expected one of {sorted(KINDS)}, got {name!r}") from None


def _normalise(header: str) -> str:
    return re.sub(r"[^a-z0-9]", "", header.lower())


def suggest_mapping(kind: str, columns: list[str]) -> dict[str, object]:
    """A mapping spec from the file's headers: known names map, everything else is kept."""
    spec_kind = kind_of(kind)
    fields: dict[str, dict[str, str]] = {}
    for column in columns:
        target = spec_kind.synonyms.get(_normalise(column))
        if target is None and column in spec_kind.fields:
            target = column
        if target is not None and target not in fields:
            fields[target] = {"column": column}
    return {"fields": fields, "properties": "rest"}
