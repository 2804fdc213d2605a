"""A small shop's warehouse rows for the profile tests: two customers across six sources.

Rows are written straight into the warehouse tables, identifiers and identity map included, so
each test knows exactly which person owns which record, whatever the stitching would decide.

Anna de Vries (p_anna): customer C1 in the CRM, three orders (two online, one in store), web
logs as an anonymous visitor (cookie a-123) before and after logging in, marketing e-mails
sent to her e-mail written in upper case, two web errors, and one support call by phone.
Bram Jansen (p_bram): customer C2 with one order; his CRM record carries the household phone
+31600000001 (shared with customer C3, so not linked) and the blocked test@example.com.
A call from the household phone belongs to the phone's own person (p_household).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

import ibis
import pyarrow as pa

from c360.identity.serving import build_profiles
from c360.warehouse import Warehouse

ANNA, BRAM, HOUSEHOLD = "p_anna", "p_bram", "p_household"
ANNA_PHONE = "+31612345678"
HOUSEHOLD_PHONE = "+31600000001"
IDENTITY_MAP_SCHEMA = ibis.schema(
    {
        "id_type": "string",
        "id_value": "string",
        "person_id": "string",
        "linked": "boolean",
        "reason": "string",
        "computed_at": "timestamp('UTC')",
    }
)
# canonical field -> id type, per record table
_ID_FIELDS = {
    "events": ("customer_id", "user_id", "email", "phone", "anonymous_id", "session_id"),
    "customers": ("customer_id", "email", "phone"),
    "orders": ("customer_id", "email", "phone"),
}


def at(day: str, time: str = "12:00") -> datetime:
    return datetime.fromisoformat(f"2024-{day}T{time}:00").replace(tzinfo=UTC)


def _lineage(source_id: int, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "source_id": source_id,
            "batch_id": 1000 + source_id,
            "row_number": number,
            "ingested_at": at("04-01"),
            **row,
        }
        for number, row in enumerate(rows, start=1)
    ]


def customers(source_id: int) -> list[dict[str, Any]]:
    return _lineage(
        source_id,
        [
            {
                "record_id": "crm-1",
                "customer_id": "C1",
                "email": "anna@example.nl",
                "phone": ANNA_PHONE,
                "first_name": "Anna",
                "last_name": "de Vries",
                "gender": "female",
                "birth_date": date(1990, 5, 17),
                "address": "Oudegracht 12",
                "postal_code": "3511 AB",
                "city": "Utrecht",
                "country": "NL",
                "signed_up_at": at("01-02"),
            },
            {
                "record_id": "crm-2",
                "customer_id": "C2",
                "email": "test@example.com",
                "phone": HOUSEHOLD_PHONE,
                "first_name": "Bram",
                "last_name": "Jansen",
                "gender": "male",
                "birth_date": date(1985, 11, 2),
                "address": "Damrak 1",
                "postal_code": "1012 LG",
                "city": "Amsterdam",
                "country": "NL",
                "signed_up_at": at("02-15"),
            },
        ],
    )


def orders(source_id: int) -> list[dict[str, Any]]:
    def order(record_id: str, customer: str, when: datetime, channel: str, total: float) -> dict:
        return {
            "record_id": record_id,
            "order_id": record_id.upper(),
            "customer_id": customer,
            "ordered_at": when,
            "channel": channel,
            "store": "Utrecht Centrum" if channel == "in_store" else None,
            "status": "completed",
            "total_amount": total,
            "currency": "EUR",
        }

    return _lineage(
        source_id,
        [
            order("o-1", "C1", at("01-10"), "online", 100.0),
            order("o-2", "C1", at("02-01"), "in_store", 50.0),
            order("o-3", "C1", at("03-05"), "online", 150.0),
            order("o-4", "C2", at("03-06"), "online", 20.0),
        ],
    )


def order_items(source_id: int) -> list[dict[str, Any]]:
    def line(order_id: str, number: int, product: str, quantity: float, amount: float) -> dict:
        return {
            "record_id": f"{order_id}-{number}",
            "order_id": order_id,
            "line_number": number,
            "product_id": product,
            "quantity": quantity,
            "unit_price": amount / quantity,
            "amount": amount,
        }

    return _lineage(
        source_id,
        [
            line("O-1", 1, "P1", 2, 60.0),
            line("O-1", 2, "P2", 1, 40.0),
            line("O-2", 1, "P1", 1, 50.0),
            line("O-3", 1, "P3", 3, 150.0),
            line("O-4", 1, "P2", 1, 20.0),
        ],
    )


def products(source_id: int) -> list[dict[str, Any]]:
    def product(product_id: str, name: str, brand: str, category: str) -> dict:
        return {
            "record_id": f"prod-{product_id}",
            "product_id": product_id,
            "name": name,
            "brand": brand,
            "category": category,
            "price": 30.0,
            "currency": "EUR",
        }

    return _lineage(
        source_id,
        [
            product("P1", "Linen shirt", "Nordic", "Shirts"),
            product("P2", "Wool coat", "Alpine", "Coats"),
            product("P3", "Merino socks", "Nordic", "Accessories"),
        ],
    )


def _event(event_id: str, event: str, when: datetime, **fields: Any) -> dict[str, Any]:
    return {"event_id": event_id, "type": "track", "event": event, "timestamp": when, **fields}


def web_events(source_id: int) -> list[dict[str, Any]]:
    web = {"channel": "web", "anonymous_id": "a-123"}
    return _lineage(
        source_id,
        [
            _event("w-1", "visit", at("03-01", "09:00"), webpage_url="/", **web),
            _event("w-2", "product_view", at("03-01", "09:02"), webpage_url="/p/P1", **web),
            _event(
                "w-3",
                "login",
                at("03-02", "10:00"),
                customer_id="C1",
                webpage_url="/login_success.html",
                **web,
            ),
            _event(
                "w-4",
                "error",
                at("03-03", "11:00"),
                customer_id="C1",
                webpage_url="/checkout",
                properties='{"error_message": "Payment failed"}',
                **web,
            ),
            _event(
                "w-5",
                "error",
                at("03-04", "08:30"),
                webpage_url="/cart",
                properties='{"error_message": "Timeout"}',
                **web,
            ),
            _event("w-6", "visit", at("03-04", "08:00"), webpage_url="/", **web),
        ],
    )


def email_events(source_id: int) -> list[dict[str, Any]]:
    mail = {"channel": "email", "email": "ANNA@example.nl"}
    return _lineage(
        source_id,
        [
            _event("m-1", "email_sent", at("03-06"), properties='{"campaign": "Spring"}', **mail),
            _event("m-2", "email_opened", at("03-07"), properties='{"campaign": "Spring"}', **mail),
            _event(
                "m-3", "email_clicked", at("03-08"), properties='{"campaign": "Spring"}', **mail
            ),
        ],
    )


def call_events(source_id: int) -> list[dict[str, Any]]:
    call = {"channel": "phone", "employee": "agent Kim"}
    return _lineage(
        source_id,
        [
            _event(
                "c-1",
                "call",
                at("03-09"),
                phone="06 1234 5678",
                properties='{"reason": "delivery", "outcome": "solved"}',
                **call,
            ),
            _event("c-2", "call", at("03-10"), phone="0600000001", **call),
        ],
    )


def _normalise(id_type: str, value: str) -> str:
    value = value.strip()
    if id_type == "email":
        return value.lower()
    if id_type == "phone":
        digits = "".join(ch for ch in value if ch.isdigit())
        if value.startswith("+"):
            return "+" + digits
        return "+31" + digits.lstrip("0")
    return value


def identifiers(table: str, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    key = "event_id" if table == "events" else "record_id"
    found = []
    for row in rows:
        for id_type in _ID_FIELDS[table]:
            raw = row.get(id_type)
            if raw:
                found.append(
                    {
                        "source_id": row["source_id"],
                        "batch_id": row["batch_id"],
                        "row_number": row["row_number"],
                        "ingested_at": row["ingested_at"],
                        "record_table": table,
                        "record_id": row[key],
                        "id_type": id_type,
                        "id_value": _normalise(id_type, raw),
                        "raw_value": raw,
                    }
                )
    return found


IDENTITY = [
    ("customer_id", "C1", ANNA, True, None),
    ("email", "anna@example.nl", ANNA, True, None),
    ("phone", ANNA_PHONE, ANNA, True, None),
    ("anonymous_id", "a-123", ANNA, True, None),
    ("customer_id", "C2", BRAM, True, None),
    (
        "phone",
        HOUSEHOLD_PHONE,
        HOUSEHOLD,
        False,
        f"phone {HOUSEHOLD_PHONE} is shared by 2 customer ids; the limit is 1 per person",
    ),
    ("email", "test@example.com", None, False, "test@example.com is a blocked value"),
]


def _arrow(rows: list[dict[str, Any]]) -> pa.Table:
    # Every row gets every column, so pyarrow infers one type per column.
    columns = sorted({name for row in rows for name in row})
    return pa.Table.from_pylist([{name: row.get(name) for name in columns} for row in rows])


def ensure_identity_map(warehouse: Warehouse) -> None:
    """Create identity_map with the contract's columns when no warehouse migration has."""
    backend = warehouse.ibis()
    try:
        backend.table("identity_map")
    except Exception:  # ibis raises TableNotFound; its class differs between versions
        backend.create_table("identity_map", schema=IDENTITY_MAP_SCHEMA)


def write_identity_map(warehouse: Warehouse, entries: list[tuple[Any, ...]]) -> None:
    ensure_identity_map(warehouse)
    backend = warehouse.ibis()
    rows = [
        {
            "id_type": id_type,
            "id_value": value,
            "person_id": person,
            "linked": linked,
            "reason": reason,
            "computed_at": at("04-02"),
        }
        for id_type, value, person, linked, reason in entries
    ]
    backend.insert("identity_map", ibis.memtable(_arrow(rows)).cast(IDENTITY_MAP_SCHEMA))


def load(warehouse: Warehouse, source_ids: dict[str, int]) -> None:
    """Write the shop into the warehouse; source_ids maps crm/orders/lines/products/web/email/
    calls to the data source ids."""
    records = {
        "customers": customers(source_ids["crm"]),
        "orders": orders(source_ids["orders"]),
        "order_items": order_items(source_ids["lines"]),
        "products": products(source_ids["products"]),
        "events": web_events(source_ids["web"])
        + email_events(source_ids["email"])
        + call_events(source_ids["calls"]),
    }
    with warehouse.writer() as writer:
        for table, rows in records.items():
            writer.append(table, _arrow(rows))
            if table in _ID_FIELDS:
                writer.append("identifiers", _arrow(identifiers(table, rows)))
    write_identity_map(warehouse, IDENTITY)
    # The profile tables follow the map, as the identity update leaves them.
    build_profiles(warehouse)
