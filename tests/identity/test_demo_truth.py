"""Stitching on the demo dataset, against the generator's ground truth.

Every record of the demo (customers, orders, e-mails, web logs, calls; order lines and
products are not people's records) is assigned the person its identifiers resolve to, and the
same-person pairs are compared with the truth: precision and recall, both reported.
"""

from __future__ import annotations

from collections import Counter
from math import comb
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from c360.demo import generate, load
from c360.identity.rules import rank
from c360.sources.models import DataSource
from c360.warehouse import Warehouse
from factories import make_admin

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

PEOPLE_TABLES = {"customers": "record_id", "orders": "record_id", "events": "event_id"}


def _predicted(warehouse: Warehouse) -> dict[tuple[int, int], str]:
    """(source_id, row_number) -> person_id, by each record's highest-priority identifier."""
    identifiers = warehouse.table("identifiers")
    identity = warehouse.table("identity_map").filter(lambda t: t.linked)
    joined = identifiers.join(identity, ["id_type", "id_value"]).select(
        "source_id", "row_number", "record_table", "id_type", "person_id"
    )
    best: dict[tuple[int, int], tuple[int, str]] = {}
    for row in joined.to_pyarrow().to_pylist():
        if row["record_table"] not in PEOPLE_TABLES:
            continue
        key = (row["source_id"], row["row_number"])
        order = rank(row["id_type"])
        if key not in best or order < best[key][0]:
            best[key] = (order, row["person_id"])
    return {key: person for key, (_, person) in best.items()}


def _pairs(labels: list[tuple[object, object]]) -> tuple[int, int, int]:
    """Same-person pairs: (both agree, predicted, true), from the contingency counts."""
    both = Counter(labels)
    predicted = Counter(p for p, _ in labels)
    true = Counter(t for _, t in labels)
    return (
        sum(comb(n, 2) for n in both.values()),
        sum(comb(n, 2) for n in predicted.values()),
        sum(comb(n, 2) for n in true.values()),
    )


def test_demo_people_match_the_ground_truth(warehouse: Warehouse, tmp_path: Path) -> None:
    files = generate(out_dir=tmp_path / "demo", customers=1000, seed=11)
    load(actor=make_admin(), out_dir=files.out_dir)
    source_ids = {s.name: s.pk for s in DataSource.objects.all()}
    predicted = _predicted(warehouse)

    truth = pq.read_table(files.out_dir / "ground_truth.parquet").to_pylist()
    labels: list[tuple[object, object]] = []
    for row in truth:
        if row["source"] in {"Order lines", "Products"}:
            continue
        key = (source_ids[row["source"]], row["row_number"])
        # a record no identifier resolves, and a record of nobody, are each a person alone
        person = predicted.get(key, ("alone", key))
        true = row["person"] if row["person"] >= 0 else ("nobody", key)
        labels.append((person, true))

    agree, predicted_pairs, true_pairs = _pairs(labels)
    precision = agree / predicted_pairs
    recall = agree / true_pairs
    print(f"\nrecords {len(labels)}: precision {precision:.4f}, recall {recall:.4f}")
    assert precision >= 0.99, precision
    assert recall >= 0.99, recall

    # No person holds the records of two different real customers: the household phones
    # and the test values did not fuse anyone.
    customers_of: dict[object, set[object]] = {}
    for person, true in labels:
        if isinstance(true, int):
            customers_of.setdefault(person, set()).add(true)
    assert max(len(found) for found in customers_of.values()) == 1

    identity = warehouse.table("identity_map").to_pyarrow().to_pylist()
    refused = {(r["id_type"], r["id_value"]): r["reason"] for r in identity if not r["linked"]}
    assert ("email", "test@example.com") in refused
    shared = [reason for (kind, _), reason in refused.items() if kind == "phone" and reason]
    assert any("shared by" in reason for reason in shared), shared

    # A web visitor who browsed anonymously before logging in is one person with their
    # anonymous history: the cookie's rows before the first login resolve to the customer.
    db = warehouse.ibis()
    events = db.table("events")
    web = events.filter(events.source_id == source_ids["Web logs"])
    logged_in = web.filter(web.customer_id.notnull())
    logins = logged_in.group_by("anonymous_id").agg(
        first_login=logged_in.timestamp.min(), login_customer=logged_in.customer_id.max()
    )
    before = web.filter(web.customer_id.isnull()).join(logins, "anonymous_id")
    before = before.filter(before.timestamp < before.first_login).select(
        "source_id", "row_number", "login_customer"
    )
    rows = before.to_pyarrow().to_pylist()
    assert rows, "the demo has visitors who browse before logging in"
    person_of_customer = {
        r["id_value"]: r["person_id"]
        for r in identity
        if r["id_type"] == "customer_id" and r["linked"]
    }
    joined = [
        predicted.get((r["source_id"], r["row_number"])) == person_of_customer[r["login_customer"]]
        for r in rows
    ]
    assert sum(joined) / len(joined) >= 0.99, (sum(joined), len(joined))
