"""Landing rows in the warehouse the way the importer does, and a synthetic population."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from c360.identity.logic import identifiers_of
from c360.warehouse import Warehouse
from c360.warehouse.schema import TABLES

_INGESTED = datetime(2025, 3, 1, 12, tzinfo=UTC)


def chunk_of(table: str, rows: list[dict[str, Any]], *, source_id: int, batch_id: int) -> pa.Table:
    """An Arrow chunk shaped like the importer's: key, lineage and canonical columns."""
    schema = TABLES[table][0].to_pyarrow()
    columns = [name for name in schema.names if any(name in row for row in rows)]
    lineage = {
        "source_id": [source_id] * len(rows),
        "batch_id": [batch_id] * len(rows),
        "row_number": list(range(1, len(rows) + 1)),
        "ingested_at": [_INGESTED] * len(rows),
    }
    data = {name: [row.get(name) for row in rows] for name in columns}
    data.update(lineage)
    names = [name for name in schema.names if name in data]
    return pa.table({name: pa.array(data[name], schema.field(name).type) for name in names})


def land(
    warehouse: Warehouse, table: str, rows: list[dict[str, Any]], *, source_id: int, batch_id: int
) -> None:
    """Write a batch and its identifiers in one transaction, as an import does."""
    chunk = chunk_of(table, rows, source_id=source_id, batch_id=batch_id)
    with warehouse.writer() as writer:
        writer.append(table, chunk)
        writer.append("identifiers", identifiers_of(table=table, rows=chunk))


@dataclass
class Population:
    """Rows per source plus the truth: which customer index each identifier belongs to."""

    customers: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    web: list[dict[str, Any]] = field(default_factory=list)
    mails: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    truth: dict[tuple[str, str], int] = field(default_factory=dict)  # normalised id -> person
    shared_phones: set[str] = field(default_factory=set)
    shared_email: str = "qa@shop.example"


def _phone_written(rng: random.Random, national: str) -> str:
    """One NL mobile number written the ways people write it."""
    return rng.choice(
        [
            f"0{national[:1]} {national[1:5]} {national[5:]}",
            f"0{national}",
            f"0031{national}",
            f"+31 {national[:1]} {national[1:5]} {national[5:]}",
        ]
    )


def population(customers: int = 60, seed: int = 11) -> Population:
    rng = random.Random(seed)
    pop = Population()
    phones = [f"6{10000000 + i:08d}" for i in range(customers)]
    # households: customers 2k and 2k+1 share a phone for every fourth k
    for k in range(0, customers - 1, 8):
        phones[k + 1] = phones[k]
        pop.shared_phones.add("+31" + phones[k])
    for i in range(customers):
        cid, email, phone = f"C{i:04d}", f"person{i}@mail.example", phones[i]
        pop.truth[("customer_id", cid)] = i
        pop.truth[("email", email)] = i
        if "+31" + phone not in pop.shared_phones:
            pop.truth[("phone", "+31" + phone)] = i
        pop.customers.append(
            {
                "record_id": f"cu{i}",
                "customer_id": cid,
                "email": email,
                "phone": phone and "0" + phone,
            }
        )
        for n in range(rng.randint(0, 3)):
            pop.orders.append(
                {"record_id": f"o{i}-{n}", "order_id": f"{i}-{n}", "customer_id": cid}
            )
        # web: an anonymous cookie; a login (page login_success.html) ties it to the customer
        for visit in range(rng.randint(1, 2)):
            anon = f"anon-{i}-{visit}"
            pop.truth[("anonymous_id", anon)] = i
            logs_in = rng.random() < 0.8 or visit == 0
            for step in range(3):
                pop.web.append(
                    {
                        "event_id": f"w{i}-{visit}-{step}",
                        "event": "page_view",
                        "anonymous_id": anon,
                        "customer_id": cid if logs_in and step == 2 else None,
                    }
                )
            if not logs_in:
                pop.truth.pop(("anonymous_id", anon))  # never logged in: nobody can know
        written = rng.choice([email, email.upper(), f"  {email} "])
        pop.mails.append({"event_id": f"m{i}", "event": "email_opened", "email": written})
        pop.calls.append(
            {"event_id": f"k{i}", "event": "call", "phone": _phone_written(rng, phones[i])}
        )
    # test records: a blocked e-mail and phone, and a shop's own test address on 4 customers
    for j in range(5):
        pop.customers.append(
            {
                "record_id": f"t{j}",
                "customer_id": f"T{j}",
                "email": "test@example.com",
                "phone": "0000000000",
            }
        )
        pop.truth[("customer_id", f"T{j}")] = customers + j
    for j in range(4):
        pop.orders.append(
            {
                "record_id": f"qa{j}",
                "order_id": f"qa{j}",
                "customer_id": f"C{j:04d}",
                "email": pop.shared_email,
            }
        )
    return pop


def land_population(warehouse: Warehouse, pop: Population) -> dict[int, str]:
    """Each source as one batch; returns source id -> name."""
    land(warehouse, "customers", pop.customers, source_id=1, batch_id=1)
    land(warehouse, "orders", pop.orders, source_id=2, batch_id=2)
    land(warehouse, "events", pop.web, source_id=3, batch_id=3)
    land(warehouse, "events", pop.mails, source_id=4, batch_id=4)
    land(warehouse, "events", pop.calls, source_id=5, batch_id=5)
    return {1: "Customers (CRM)", 2: "Orders", 3: "Web logs", 4: "Marketing e-mails", 5: "Calls"}
