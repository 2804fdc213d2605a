"""Decision mining on logs where the attribute behind the choice is known."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import pytest

from c360.journeys.decisions import DecisionParams, check_params, decision_points, mine_decision
from c360.journeys.eventlog import LogSpec, event_log
from factories import make_admin, make_source
from journeys.logs import event, land_events

if TYPE_CHECKING:
    from c360.warehouse import Warehouse

pytestmark = pytest.mark.usefixtures("db")


def landed(warehouse: Warehouse, rows: list[dict[str, Any]]) -> Any:
    source = make_source(owner=make_admin())
    land_events(warehouse, rows, source_id=source.pk, batch_id=source.pk, link=False)
    return event_log(warehouse, LogSpec(source_ids=(source.pk,), case="column:customer_id"))


def device_decides(cases: int = 200) -> list[dict[str, Any]]:
    """After 'product', desktop visitors buy and mobile ones leave; channel, country and
    traffic source are random and say nothing."""
    rng = random.Random(11)
    rows = []
    for i in range(cases):
        device = rng.choice(["desktop", "mobile"])
        noise = {
            "channel": rng.choice(["web", "app", "email"]),
            "geo_country": rng.choice(["NL", "DE", "FR", "BE"]),
            "traffic_source": rng.choice(["ads", "search", "direct"]),
        }
        case = f"c{i:03d}"
        start = i * 60
        rows.append(event(case, "home", start, device_category=device, **noise))
        rows.append(event(case, "product", start + 1, device_category=device, **noise))
        rows.append(event(case, "buy" if device == "desktop" else "leave", start + 2))
    return rows


def test_device_drives_the_choice(warehouse: Warehouse) -> None:
    log = landed(warehouse, device_decides())

    result = mine_decision(log, DecisionParams(activity="product"))

    assert result["activity"] == "product"
    assert result["decisions"] == result["samples"] == 200
    assert result["attribute_importances"][0] == {"attribute": "device_category", "importance": 1.0}
    assert result["accuracy"] == 1.0
    assert result["baseline_accuracy"] < 0.7
    assert result["holdout_samples"] == 60 and result["train_samples"] == 140
    assert {c["activity"] for c in result["class_balance"]} == {"buy", "leave"}
    assert sum(c["count"] for c in result["class_balance"]) == 200
    root = result["tree"]
    assert root["attribute"] == "device_category" and root["samples"] == 140
    assert sum(root["counts"].values()) == 140
    assert {root["left"]["predicted"], root["right"]["predicted"]} == {"buy", "leave"}
    assert "left" not in root["left"]  # one split explains it all
    assert "device_category = " in result["tree_text"]
    assert result["headline"]["top attribute"] == "device_category"


def test_the_busiest_decision_point_is_chosen_by_default(warehouse: Warehouse) -> None:
    rows = device_decides(cases=40)
    rows += [event("x1", "product", 10_000), event("x1", "home", 10_001)]  # product -> home
    result = mine_decision(landed(warehouse, rows), DecisionParams())
    assert result["activity"] == "product"
    assert [p["activity"] for p in result["decision_points"]] == ["product"]


def test_decision_points_with_their_ways_out(warehouse: Warehouse) -> None:
    rows = [
        event("a", "start", 0), event("a", "pay", 1), event("a", "ship", 2),
        event("b", "start", 0), event("b", "pay", 1), event("b", "refund", 2),
        event("c", "start", 0), event("c", "cancel", 1),
        event("d", "start", 0), event("d", "pay", 1), event("d", "ship", 2),
    ]  # fmt: skip
    points = decision_points(landed(warehouse, rows))
    assert points == [
        {
            "activity": "start",
            "decisions": 4,
            "next": [
                {"activity": "pay", "count": 3, "share": 0.75},
                {"activity": "cancel", "count": 1, "share": 0.25},
            ],
        },
        {
            "activity": "pay",
            "decisions": 3,
            "next": [
                {"activity": "ship", "count": 2, "share": round(2 / 3, 4)},
                {"activity": "refund", "count": 1, "share": round(1 / 3, 4)},
            ],
        },
    ]


def test_a_point_that_is_no_decision_is_refused(warehouse: Warehouse) -> None:
    with pytest.raises(ValueError, match="'home' is not a decision point"):
        mine_decision(landed(warehouse, device_decides(20)), DecisionParams(activity="home"))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"max_depth": 0}, "params.max_depth"),
        ({"holdout": 1.5}, "params.holdout"),
        ({"attributes": "channel"}, "params.attributes"),
        ({"attributes": ["case_id"]}, "params.attributes"),
        ({"depth": 3}, "unknown"),
    ],
)
def test_bad_parameters_are_refused_clearly(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_params(params)
