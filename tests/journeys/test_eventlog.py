"""Cutting event logs from events: cases, activities, filters, order of ties, bad specs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from c360.journeys.eventlog import LogSpec, event_log, traces
from journeys.logs import T0, event, land_events

if TYPE_CHECKING:
    from c360.warehouse import Warehouse


def _cases(warehouse: Warehouse, **spec: Any) -> dict[str, list[str]]:
    spec.setdefault("source_ids", (1,))
    spec.setdefault("case", "column:customer_id")
    found = traces(event_log(warehouse, LogSpec(**spec))).to_pyarrow().to_pylist()
    return {row["case_id"]: list(row["activities"]) for row in found}


@pytest.fixture
def shop(db: None, warehouse: Warehouse) -> Warehouse:
    rows = [
        event("A", "visit", 0, channel="web", session_id="s1", geo_country="NL"),
        event("A", "cart", 5, channel="web", session_id="s1", geo_country="NL"),
        event("A", "call", 60 * 24, channel="phone", session_id="s2", geo_country="NL"),
        event("A", "order", 60 * 24 + 1, channel="phone", session_id="s2", geo_country="NL"),
        event("B", "visit", 2, channel="web", session_id="s3", geo_country="BE"),
        event("B", "cart", 3, channel="app", session_id="s3", geo_country="BE"),
        event(
            "C",
            "visit",
            4,
            channel="web",
            properties=json.dumps({"quote_id": "Q1", "step": 1}),
        ),
        event("C", None, 5, channel="web"),  # no activity: left out
        event(None, "visit", 6, channel="web"),  # no case: left out
    ]
    land_events(warehouse, rows, source_id=1, batch_id=1, link=False)
    land_events(warehouse, [event("Z", "visit", 0)], source_id=2, batch_id=2, link=False)
    return warehouse


def test_cases_and_activities(shop: Warehouse) -> None:
    assert _cases(shop) == {
        "A": ["visit", "cart", "call", "order"],
        "B": ["visit", "cart"],
        "C": ["visit"],
    }
    assert _cases(shop, case="session") == {
        "s1": ["visit", "cart"],
        "s2": ["call", "order"],
        "s3": ["visit", "cart"],
    }
    assert _cases(shop, case="property:quote_id") == {"Q1": ["visit"]}
    assert _cases(shop, case="column:geo_country") == {
        "NL": ["visit", "cart", "call", "order"],
        "BE": ["visit", "cart"],
    }
    combined = _cases(shop, activity=("event", "channel"))
    assert combined["B"] == ["visit · web", "cart · app"]
    assert _cases(shop, source_ids=(1, 2))["Z"] == ["visit"]
    assert "Z" not in _cases(shop)


def test_filters(shop: Warehouse) -> None:
    assert _cases(shop, start=T0.replace(minute=3), end=T0.replace(minute=5)) == {
        "B": ["cart"],
        "C": ["visit"],
    }
    assert _cases(shop, channels=("phone",)) == {"A": ["call", "order"]}
    assert _cases(shop, activities=("visit", "order")) == {
        "A": ["visit", "order"],
        "B": ["visit"],
        "C": ["visit"],
    }
    assert set(_cases(shop, containing=("cart",))) == {"A", "B"}
    assert set(_cases(shop, containing=("cart", "order"))) == {"A"}
    assert set(_cases(shop, not_containing=("order",))) == {"B", "C"}
    # containment is decided before the activity filter
    assert _cases(shop, containing=("order",), activities=("visit",)) == {"A": ["visit"]}
    assert set(_cases(shop, attributes={"geo_country": ("BE",)})) == {"B"}
    assert _cases(shop, attributes={"property:step": ("1",)}) == {"C": ["visit"]}
    assert set(_cases(shop, cases=("A", "C"))) == {"A", "C"}


def test_log_columns_and_trace_figures(shop: Warehouse) -> None:
    log = event_log(shop, LogSpec(source_ids=(1,), case="column:customer_id"))
    assert {"case_id", "activity", "timestamp", "ord", "event_id", "source_id", "channel"} <= set(
        log.columns
    )
    per_case = {row["case_id"]: row for row in traces(log).to_pyarrow().to_pylist()}
    assert per_case["A"]["events"] == 4
    assert per_case["A"]["duration_s"] == pytest.approx((24 * 60 + 1) * 60)
    assert per_case["A"]["start"] == T0


def test_ties_on_time_follow_ingestion_order(db: None, warehouse: Warehouse) -> None:
    same = 10
    # batch 2 lands before batch 3; inside a batch, row order is ingestion order
    land_events(
        warehouse,
        [event("T", "b", same), event("T", "a", same), event("T", "z", 0)],
        source_id=1,
        batch_id=2,
        link=False,
    )
    land_events(warehouse, [event("T", "0-last", same)], source_id=1, batch_id=3, link=False)
    assert _cases(warehouse) == {"T": ["z", "b", "a", "0-last"]}
    from c360.journeys.queries import process_map

    log = event_log(warehouse, LogSpec(source_ids=(1,), case="column:customer_id"))
    assert process_map(log).graph == {("z", "b"): 1, ("b", "a"): 1, ("a", "0-last"): 1}


def test_person_cases_join_through_the_identity_map(db: None, warehouse: Warehouse) -> None:
    rows = [
        event(None, "visit", 0, anonymous_id="anon-1"),
        event("C1", "login", 1, anonymous_id="anon-1", email="Anna@Example.nl"),
        event(None, "newsletter", 2, email="anna@example.nl"),
        event("C2", "visit", 3),
    ]
    land_events(warehouse, rows, source_id=1, batch_id=1, link=True)
    found = _cases(warehouse, case="person")
    assert sorted(found.values()) == [["visit"], ["visit", "login", "newsletter"]]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "source_ids: expected a non-empty list"),
        ({"source_ids": ["1"]}, r"source_ids\[0\]: expected a source id"),
        ({"source_ids": [1], "case": "colour"}, "case: expected 'person'"),
        ({"source_ids": [1], "case": "column:password"}, "case: 'password' is not an event"),
        ({"source_ids": [1], "activity": []}, "activity: name at least one column"),
        ({"source_ids": [1], "activity": ["event", 3]}, r"activity\[1\]: expected a non-empty"),
        ({"source_ids": [1], "start": "yesterday"}, "start: expected an ISO 8601 time"),
        ({"source_ids": [1], "end": "2024-03-01T00:00:00"}, "end: give the time zone"),
        (
            {"source_ids": [1], "start": "2024-03-02T00:00:00Z", "end": "2024-03-01T00:00:00Z"},
            "end: the time range is empty",
        ),
        ({"source_ids": [1], "attributes": {"geo_city": []}}, "attributes.geo_city: list at"),
        ({"source_ids": [1], "attributes": {"secret": ["x"]}}, "attributes.secret: 'secret'"),
        ({"source_ids": [1], "containing": ["a"], "not_containing": ["a"]}, "not_containing"),
        ({"source_ids": [1], "colour": "red"}, r"unknown field\(s\) \['colour'\]"),
        ({"source_ids": [1], "case": "property:a b"}, "case: a property key is"),
    ],
)
def test_bad_specs_say_what_is_wrong(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LogSpec.from_dict(data)


def test_a_spec_survives_json() -> None:
    spec = LogSpec.from_dict(
        {
            "source_ids": [2, 1],
            "case": "session",
            "activity": ["event", "channel"],
            "start": "2024-03-01T00:00:00Z",
            "attributes": {"geo_country": ["NL"]},
            "containing": ["order"],
            "cases": ["s1"],
        }
    )
    assert spec.source_ids == (1, 2) and spec.start == datetime(2024, 3, 1, tzinfo=UTC)
    assert LogSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
