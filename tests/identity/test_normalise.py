from __future__ import annotations

import pyarrow as pa
import pytest

from c360.identity.logic import identifiers_of
from c360.identity.normalise import normalise, normalise_one
from identity.landing import chunk_of


@pytest.mark.parametrize(
    "written",
    [
        "06 1234 5678",
        "0612345678",
        "0031 6 1234 5678",
        "+31 6 12345678",
        "+31 (0)6-1234 5678",
        "31612345678",
        " 612345678 ",
    ],
)
def test_dutch_mobile_numbers_become_e164(written: str) -> None:
    assert normalise_one("phone", written, region="NL") == "+31612345678"


def test_the_default_region_decides_the_country_code() -> None:
    assert normalise_one("phone", "(555) 123-4567", region="US") == "+15551234567"
    assert normalise_one("phone", "0612345678", region="BE") == "+32612345678"


def test_emails_are_trimmed_and_lower_case_and_missing_markers_are_null() -> None:
    values = pa.array(["  Anna.B@Mail.NL ", "NULL", "", None, "n/a"], pa.string())
    assert normalise("email", values).to_pylist() == ["anna.b@mail.nl", None, None, None, None]
    assert normalise("customer_id", pa.array([" C 1 "])).to_pylist() == ["C 1"]


def test_identifiers_of_gives_one_row_per_present_identifier_with_lineage() -> None:
    chunk = chunk_of(
        "events",
        [
            {"event_id": "e1", "anonymous_id": "a1", "customer_id": None, "email": " X@Y.NL"},
            {"event_id": "e2", "anonymous_id": "a1", "customer_id": "C1", "phone": "06 1234 5678"},
            {"event_id": "e3", "anonymous_id": "null", "email": "test@example.com"},
        ],
        source_id=7,
        batch_id=9,
    )
    rows = identifiers_of(table="events", rows=chunk).to_pylist()
    found = {(r["record_id"], r["id_type"], r["id_value"], r["raw_value"]) for r in rows}
    # The value as written is kept only where normalising changed it.
    assert found == {
        ("e1", "anonymous_id", "a1", None),
        ("e1", "email", "x@y.nl", " X@Y.NL"),
        ("e2", "anonymous_id", "a1", None),
        ("e2", "customer_id", "C1", None),
        ("e2", "phone", "+31612345678", "06 1234 5678"),
        # blocked values are kept: the merge rules mark them when stitching
        ("e3", "email", "test@example.com", None),
    }
    assert {(r["source_id"], r["batch_id"], r["record_table"]) for r in rows} == {(7, 9, "events")}
    assert [r["row_number"] for r in rows if r["record_id"] == "e2"] == [2, 2, 2]


def test_custom_identifiers_are_read_from_the_json_column() -> None:
    chunk = chunk_of(
        "customers",
        [
            {"record_id": "r1", "customer_id": "C1", "traits": '{"loyalty card": " L-9 "}'},
            {"record_id": "r2", "customer_id": "C2", "traits": '{"other": 1}'},
        ],
        source_id=1,
        batch_id=1,
    )
    rows = identifiers_of(table="customers", rows=chunk, custom={"loyalty card": "loyalty_card"})
    custom = [
        (r["record_id"], r["id_value"]) for r in rows.to_pylist() if r["id_type"] == "loyalty_card"
    ]
    assert custom == [("r1", "L-9")]


def test_tables_without_identifiers_give_none() -> None:
    chunk = chunk_of("products", [{"record_id": "p1", "product_id": "P1"}], source_id=1, batch_id=1)
    assert identifiers_of(table="products", rows=chunk).num_rows == 0
