"""POST /api/sources/{id}/events: rows in the journey field format, validated as a file is."""

from __future__ import annotations

from typing import Any

import pytest
from api_helpers import Api, World, assert_error

from c360.warehouse import Warehouse

ROWS = [
    {"customer_id": "c1", "action_type": "visit", "time": "2024-03-01T10:00:00Z", "channel": "web"},
    {"customer_id": "c1", "action_type": "purchase", "time": "2024-03-01T10:05:00Z"},
]


def _events(warehouse: Warehouse) -> list[dict[str, Any]]:
    return list(warehouse.table("events").order_by("row_number").to_pyarrow().to_pylist())


def test_a_token_posts_a_list_of_rows(world: World, warehouse: Warehouse) -> None:
    response = Api(world.shop_token).post(f"/api/sources/{world.shop.pk}/events", json=ROWS)
    assert response.status_code == 201, response.content
    batch = response.json()
    assert (batch["status"], batch["rows_read"], batch["rows_inserted"]) == ("done", 2, 2)
    rows = _events(warehouse)
    assert [(r["customer_id"], r["event"], r["channel"]) for r in rows] == [
        ("c1", "visit", "web"),
        ("c1", "purchase", None),
    ]
    assert {r["batch_id"] for r in rows} == {batch["id"]}
    # Posted again: the same rows, stored once.
    again = Api(world.shop_token).post(f"/api/sources/{world.shop.pk}/events", json=ROWS)
    assert (again.json()["rows_inserted"], again.json()["rows_duplicate"]) == (0, 2)
    assert len(_events(warehouse)) == 2


def test_one_row_may_come_alone(world: World, warehouse: Warehouse) -> None:
    response = Api(world.admin).post(f"/api/sources/{world.shop.pk}/events", json=ROWS[0])
    assert response.status_code == 201, response.content
    assert [r["event"] for r in _events(warehouse)] == ["visit"]


def test_bad_rows_are_rejected_as_in_a_file_import(world: World, warehouse: Warehouse) -> None:
    bad = [*ROWS, {"customer_id": "c2", "action_type": "visit", "time": "yesterday"}]
    strict = Api(world.shop_token).post(f"/api/sources/{world.shop.pk}/events", json=bad)
    assert strict.status_code == 201
    batch = strict.json()
    assert batch["status"] == "rejected"
    assert batch["errors_sample"] == [
        {"row": 3, "column": "time", "reason": '"yesterday" is not a timestamp'}
    ]
    assert _events(warehouse) == []
    lenient = Api(world.shop_token).post(
        f"/api/sources/{world.shop.pk}/events?mode=lenient", json=bad
    )
    assert (lenient.json()["status"], lenient.json()["rows_rejected"]) == ("done", 1)
    assert len(_events(warehouse)) == 2


@pytest.mark.parametrize(
    ("body", "says"),
    [([], "a non-empty list of rows"), ("visit", "rows"), ([1, 2], "rows")],
)
def test_a_body_that_is_not_rows_is_refused(
    world: World, warehouse: Warehouse, body: Any, says: str
) -> None:
    response = Api(world.shop_token).post(f"/api/sources/{world.shop.pk}/events", json=body)
    error = assert_error(response, 422, response.json()["error"]["code"])
    assert says in error["message"]


@pytest.mark.parametrize(
    ("actor", "status"),
    [("anonymous", 401), ("revoked_token", 401), ("crm_token", 404), ("bystander", 403)],
)
def test_only_importers_of_the_source_may_post(
    world: World, warehouse: Warehouse, actor: str, status: int
) -> None:
    response = Api(world.actor(actor)).post(f"/api/sources/{world.shop.pk}/events", json=ROWS)
    assert response.status_code == status, response.content
    assert _events(warehouse) == []
