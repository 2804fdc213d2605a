"""The demo generator: deterministic, sized by --customers, complete ground truth, and the
messy parts of real exports (households, test values, numbers and addresses written variously)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from c360.demo import SOURCES, DemoFiles, generate
from c360.demo.catalogue import (
    CALLS,
    CUSTOMERS,
    EMAILS,
    ORDERS,
    PRODUCTS,
    WEB_LOGS,
    DemoSource,
)

CUSTOMER_COUNT = 200


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoFiles:
    return generate(out_dir=tmp_path_factory.mktemp("demo"), customers=CUSTOMER_COUNT)


def _read(files: DemoFiles, source: DemoSource) -> pa.Table:
    """A demo file as written, every CSV cell as text (as the importer reads it)."""
    path = str(files.path(source))
    reader = {
        ".csv": f"read_csv('{path}', header = true, all_varchar = true)",
        ".jsonl": f"read_json('{path}', format = 'newline_delimited')",
        ".parquet": f"read_parquet('{path}')",
    }[files.path(source).suffix]
    with duckdb.connect() as db:
        return db.sql(f"SELECT * FROM {reader}").to_arrow_table()  # noqa: S608


def _rows(files: DemoFiles, source: DemoSource) -> list[dict[str, Any]]:
    return _read(files, source).to_pylist()


def _national(phone: str) -> str:
    """A Dutch number in any notation, as its 9-digit national significant number."""
    digits = re.sub(r"\D", "", phone)
    for prefix in ("0031", "31", "0"):
        if digits.startswith(prefix):
            return digits[len(prefix) :]
    return digits


# -- determinism and size ---------------------------------------------------------------------
def test_the_same_seed_writes_the_same_bytes(demo: DemoFiles, tmp_path: Path) -> None:
    again = generate(out_dir=tmp_path, customers=CUSTOMER_COUNT)
    names = [s.file_name for s in SOURCES] + ["ground_truth.parquet"]
    for name in names:
        assert (demo.out_dir / name).read_bytes() == (tmp_path / name).read_bytes(), name
    assert again.rows == demo.rows


def test_another_seed_writes_other_data(demo: DemoFiles, tmp_path: Path) -> None:
    other = generate(out_dir=tmp_path, customers=CUSTOMER_COUNT, seed=8)
    for source in SOURCES:
        assert other.path(source).read_bytes() != demo.path(source).read_bytes(), source.name
    first = _rows(demo, CUSTOMERS)[:20]
    assert [r["email"] for r in _rows(other, CUSTOMERS)[:20]] != [r["email"] for r in first]


def test_sizes_scale_with_the_number_of_customers(demo: DemoFiles, tmp_path: Path) -> None:
    double = generate(out_dir=tmp_path, customers=2 * CUSTOMER_COUNT)
    # Customer records: the customers plus a few test accounts.
    assert demo.rows[CUSTOMERS.file_name] == CUSTOMER_COUNT + 3
    assert double.rows[CUSTOMERS.file_name] == 2 * CUSTOMER_COUNT + 3
    # The catalogue grows slowly (150 products at least); everything else in proportion.
    assert double.rows[PRODUCTS.file_name] > demo.rows[PRODUCTS.file_name]
    for source in SOURCES:
        if source in (CUSTOMERS, PRODUCTS):
            continue
        ratio = double.rows[source.file_name] / demo.rows[source.file_name]
        assert 1.1 < ratio < 3.0, (source.file_name, ratio)
    for name in (ORDERS, EMAILS, WEB_LOGS):
        assert demo.rows[name.file_name] > CUSTOMER_COUNT  # more than one row per customer


def test_generate_refuses_no_customers(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="customers"):
        generate(out_dir=tmp_path, customers=0)


# -- ground truth -----------------------------------------------------------------------------
def test_ground_truth_names_the_person_of_every_record(demo: DemoFiles) -> None:
    truth = pq.read_table(demo.ground_truth).to_pylist()
    people_files = [s for s in SOURCES if s.identifies_people]
    assert {r["file"] for r in truth} == {s.file_name for s in people_files}
    for source in people_files:
        rows = _rows(demo, source)
        mine = [r for r in truth if r["file"] == source.file_name]
        assert [r["row_number"] for r in mine] == list(range(1, len(rows) + 1)), source.name
        assert [r["record_key"] for r in mine] == [row[source.record_key] for row in rows]
        assert {r["source"] for r in mine} == {source.name}
    persons = {r["person"] for r in truth}
    assert set(range(CUSTOMER_COUNT)) <= persons  # every customer has at least their record
    assert -1 in persons  # test and withheld values belong to nobody


def test_ground_truth_agrees_with_the_identifiers_in_the_files(demo: DemoFiles) -> None:
    truth = {
        (r["file"], r["record_key"]): r["person"]
        for r in pq.read_table(demo.ground_truth).to_pylist()
    }
    customers = {r["customer_number"]: r for r in _rows(demo, CUSTOMERS)}
    number_of = {
        truth[(CUSTOMERS.file_name, number)]: number
        for number in customers
        if truth[(CUSTOMERS.file_name, number)] >= 0
    }
    for order in _rows(demo, ORDERS):
        person = truth[(ORDERS.file_name, order["order_id"])]
        assert number_of[person] == order["customer_number"]
    for hit in _rows(demo, WEB_LOGS):
        person = truth[(WEB_LOGS.file_name, hit["hit_id"])]
        if hit["customer_number"] is not None:
            assert number_of[person] == hit["customer_number"]
    for mail in _rows(demo, EMAILS):
        person = truth[(EMAILS.file_name, mail["id"])]
        if person >= 0:
            assert customers[number_of[person]]["email"] == mail["email"].strip().lower()
    for call in _rows(demo, CALLS):
        person = truth[(CALLS.file_name, call["call_id"])]
        if person >= 0:
            crm_phone = customers[number_of[person]]["phone"]
            assert _national(crm_phone) == _national(call["caller_phone"])


# -- the messy parts --------------------------------------------------------------------------
def test_households_share_one_phone(demo: DemoFiles) -> None:
    by_phone: dict[str, list[dict[str, Any]]] = {}
    for row in _rows(demo, CUSTOMERS):
        if row["phone"] and row["phone"] != "0000000000":
            by_phone.setdefault(_national(row["phone"]), []).append(row)
    households = [rows for rows in by_phone.values() if len(rows) > 1]
    assert len(households) >= 2
    for members in households:
        assert len({m["customer_number"] for m in members}) == len(members)
        assert len({(m["last_name"], m["street_address"], m["postal_code"]) for m in members}) == 1
    # ... and their calls come from that shared number.
    shared = {phone for phone, rows in by_phone.items() if len(rows) > 1}
    assert any(_national(c["caller_phone"]) in shared for c in _rows(demo, CALLS))


def test_test_records_carry_test_values(demo: DemoFiles) -> None:
    truth = pq.read_table(demo.ground_truth).to_pylist()
    nobody = {(r["file"], r["record_key"]) for r in truth if r["person"] == -1}
    tests = [r for r in _rows(demo, CUSTOMERS) if (r["email"] or "").lower() == "test@example.com"]
    assert len(tests) == 3
    assert {r["phone"] for r in tests} == {"0000000000"}
    assert all((CUSTOMERS.file_name, r["customer_number"]) in nobody for r in tests)
    seeds = [m for m in _rows(demo, EMAILS) if m["email"].lower() == "test@example.com"]
    assert seeds and all((EMAILS.file_name, m["id"]) in nobody for m in seeds)
    withheld = [c for c in _rows(demo, CALLS) if c["caller_phone"] == "0000000000"]
    assert withheld and all((CALLS.file_name, c["call_id"]) in nobody for c in withheld)


def test_emails_are_written_differently_in_the_email_service(demo: DemoFiles) -> None:
    crm = {r["email"] for r in _rows(demo, CUSTOMERS) if r["email"]}
    assert all(e == e.strip().lower() for e in crm if "example.com" not in e.lower())
    sent = [m["email"] for m in _rows(demo, EMAILS) if "example.com" not in m["email"].lower()]
    assert any(e != e.strip() for e in sent)  # spaces around
    assert any(e.strip() == e.strip().upper() for e in sent)  # all upper case
    assert any(e.strip()[0].isupper() and e.strip() != e.strip().upper() for e in sent)
    assert {e.strip().lower() for e in sent} <= crm


def test_phone_numbers_come_in_several_notations(demo: DemoFiles) -> None:
    calls = [c["caller_phone"] for c in _rows(demo, CALLS) if c["caller_phone"] != "0000000000"]
    patterns = {
        "+31612345678": r"^\+31\d{9}$",
        "+31 6 1234 5678": r"^\+31 \d{1,2} \d{3,4} \d{4}$",
        "0612345678": r"^0\d{9}$",
        "06-12345678": r"^0\d{1,2}-\d{7,8}$",
        "0031612345678": r"^0031\d{9}$",
        "06 1234 5678": r"^0\d{1,2} \d{3,4} \d{4}$",
    }
    for example, pattern in patterns.items():
        assert any(re.match(pattern, c) for c in calls), example
    crm = {_national(r["phone"]) for r in _rows(demo, CUSTOMERS) if r["phone"]}
    assert {_national(c) for c in calls} <= crm


def test_web_visitors_are_anonymous_until_they_log_in(demo: DemoFiles) -> None:
    hits = _rows(demo, WEB_LOGS)
    assert all(h["cookie_id"] for h in hits)
    logins = [h for h in hits if h["event"] == "login"]
    assert logins and all(h["page"] == "/login_success.html" for h in logins)
    assert all(h["customer_number"] for h in logins)
    by_cookie: dict[str, list[dict[str, Any]]] = {}
    for hit in hits:  # the file is in time order
        by_cookie.setdefault(hit["cookie_id"], []).append(hit)
    anonymous_first = [
        rows
        for rows in by_cookie.values()
        if rows[0]["customer_number"] is None and any(r["customer_number"] for r in rows)
    ]
    assert anonymous_first  # visitors who browsed anonymously, then logged in
    never = [rows for rows in by_cookie.values() if not any(r["customer_number"] for r in rows)]
    assert never  # prospects who never log in
    for rows in by_cookie.values():  # one cookie, one person
        assert len({r["customer_number"] for r in rows if r["customer_number"]}) <= 1
    events = {h["event"] for h in hits}
    assert events == {
        "visit",
        "page_view",
        "login",
        "search",
        "product_view",
        "add_to_cart",
        "remove_from_cart",
        "checkout",
        "error",
    }
    errors = [h for h in hits if h["event"] == "error"]
    assert all(h["page"] and h["error_message"] for h in errors)
    assert all(h["search_query"] for h in hits if h["event"] == "search")


def test_orders_are_online_with_an_address_or_in_store_with_a_store(demo: DemoFiles) -> None:
    orders = _rows(demo, ORDERS)
    online = [o for o in orders if o["channel"] == "online"]
    in_store = [o for o in orders if o["channel"] == "in_store"]
    assert online and in_store and len(online) + len(in_store) == len(orders)
    assert all(o["delivery_street_address"] and o["store"] is None for o in online)
    assert all(o["store"] and o["delivery_street_address"] is None for o in in_store)
    assert all(str(o["ordered_at"].tzinfo) == "UTC" for o in orders[:10])
