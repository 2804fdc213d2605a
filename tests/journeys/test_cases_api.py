"""POST /api/journeys/cases: the cases through an activity or along an edge of the map."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from django.test import Client

from journeys.logs import event, land_events

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from c360.sources.models import DataSource
    from c360.warehouse import Warehouse

ROWS = [
    event("A", "visit", 0),
    event("A", "cart", 5),
    event("A", "order", 9),
    event("B", "visit", 0),
    event("B", "cart", 3),
    event("B", "cart", 3.5),
    event("B", "order", 4),
    event("C", "visit", 1),
    event("C", "order", 30),
]


def _post(actor: User | str | None, body: dict[str, Any], status: int = 200) -> Any:
    client = Client()
    headers = {}
    if isinstance(actor, str):
        headers["HTTP_AUTHORIZATION"] = f"Bearer {actor}"
    elif actor is not None:
        client.force_login(actor)
    response = client.post(
        "/api/journeys/cases", json.dumps(body), content_type="application/json", **headers
    )
    assert response.status_code == status, response.content
    return response.json()


@pytest.fixture
def shop(db: None, warehouse: Warehouse) -> DataSource:
    from factories import make_admin, make_source

    source = make_source(owner=make_admin(), name="Web shop")
    land_events(warehouse, [dict(row) for row in ROWS], source_id=source.pk, batch_id=1)
    return source


def _body(shop: DataSource, case: str = "column:customer_id", **more: Any) -> dict[str, Any]:
    return {"spec": {"source_ids": [shop.pk], "case": case}, **more}


def test_cases_through_an_activity_and_along_edges(shop: DataSource) -> None:
    cart = _post(shop.owner, _body(shop, activity="cart"))
    assert cart["cases"] == 2 and cart["person_cases"] is False
    assert [(r["case_id"], r["times"], r["events"]) for r in cart["rows"]] == [
        ("B", 2, 4),
        ("A", 1, 3),
    ]
    assert cart["rows"][1]["duration_s"] == 540.0
    assert cart["rows"][1]["start"].startswith("2024-03-01T09:00:00")
    direct = _post(shop.owner, _body(shop, source="visit", target="order"))
    assert [r["case_id"] for r in direct["rows"]] == ["C"]
    assert _post(shop.owner, _body(shop, source="visit"))["cases"] == 0  # none ends at visit
    assert _post(shop.owner, _body(shop, target="visit"))["cases"] == 3
    assert _post(shop.owner, _body(shop, activity="order", limit=1))["cases"] == 3
    people = _post(shop.owner, _body(shop, case="person", activity="order"))
    assert people["person_cases"] is True and len(people["rows"]) == 3
    assert all(r["case_id"].startswith("p_") for r in people["rows"])


def test_bad_requests_and_refusals(shop: DataSource) -> None:
    from factories import grant, make_staff

    both = _post(shop.owner, _body(shop, activity="cart", source="visit"), status=422)
    assert "not both" in both["error"]["message"]
    assert "edge" in _post(shop.owner, _body(shop), status=422)["error"]["message"]
    limit = _post(shop.owner, _body(shop, activity="cart", limit=0), status=422)
    assert "limit" in limit["error"]["message"]
    _post(None, _body(shop, activity="cart"), status=401)
    stranger = make_staff()
    _post(stranger, _body(shop, activity="cart"), status=404)
    viewer = make_staff()
    grant(source=shop, user=viewer, can_import=True, can_analyze=False)
    _post(viewer, _body(shop, activity="cart"), status=403)
