"""Funnels on a hand-written log whose every figure is counted by hand below."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from c360.journeys.eventlog import LogSpec, event_log
from c360.journeys.funnels import FunnelParams, check_params, funnel
from factories import make_admin, make_source
from journeys.logs import event, land_events

if TYPE_CHECKING:
    from c360.warehouse import Warehouse

pytestmark = pytest.mark.usefixtures("db")

STEPS = ("view", "cart", "checkout", "order")
# (case, activity, minute, channel); list order is import order, which breaks time ties.
EVENTS = [
    ("c1", "view", 0, "web"), ("c1", "cart", 2, "web"), ("c1", "checkout", 5, "web"),
    ("c1", "order", 9, "web"),  # all four steps: 2, 3, 4 minutes apart
    ("c2", "view", 0, "web"), ("c2", "cart", 4, "web"), ("c2", "view", 5, "web"),
    ("c2", "checkout", 10, "web"),  # three steps: 4 then 6 minutes
    ("c3", "cart", 0, "app"), ("c3", "view", 1, "app"), ("c3", "cart", 3, "app"),
    # two steps: the cart before the view does not count, the one after does (2 minutes)
    ("c4", "view", 0, "app"), ("c4", "order", 1, "app"),  # one step: no cart
    ("c5", "cart", 0, "app"), ("c5", "checkout", 1, "app"),  # never entered: no view
    ("c6", "view", 0, "web"), ("c6", "cart", 1, "web"), ("c6", "checkout", 1, "web"),
    ("c6", "order", 6, "web"),  # all four: 1, 0 (a tie, imported after the cart), 5 minutes
    ("c7", "checkout", 0, "web"), ("c7", "view", 1, "web"), ("c7", "cart", 2, "web"),
    ("c7", "order", 3, "web"),  # two steps: its checkout came before the cart
]  # fmt: skip


def shop_log(warehouse: Warehouse) -> Any:
    source = make_source(owner=make_admin())
    rows = [event(case, activity, minute, channel=ch) for case, activity, minute, ch in EVENTS]
    land_events(warehouse, rows, source_id=source.pk, batch_id=source.pk, link=False)
    return event_log(warehouse, LogSpec(source_ids=(source.pk,), case="column:customer_id"))


def test_conversion_drop_off_and_time_per_step(warehouse: Warehouse) -> None:
    result = funnel(shop_log(warehouse), FunnelParams(steps=STEPS))

    steps = result["steps"]
    assert [s["cases"] for s in steps] == [6, 5, 3, 2]
    assert [s["dropped"] for s in steps] == [0, 1, 2, 1]
    assert [s["dropped_case_ids"] for s in steps] == [[], ["c4"], ["c3", "c7"], ["c2"]]
    assert [s["conversion"] for s in steps] == [1.0, round(5 / 6, 4), 0.5, round(2 / 6, 4)]
    assert [s["from_previous"] for s in steps] == [1.0, round(5 / 6, 4), 0.6, round(2 / 3, 4)]
    # cart: 2, 4, 2, 1, 1 minutes; checkout: 3, 6, 0; order: 4, 5.
    assert [s["mean_s_from_previous"] for s in steps] == [None, 120.0, 180.0, 270.0]
    assert [s["median_s_from_previous"] for s in steps] == [None, 120.0, 180.0, 270.0]
    assert (result["entered"], result["converted"], result["cases_total"]) == (6, 2, 7)
    assert result["conversion"] == round(2 / 6, 4)
    assert result["mean_s_to_convert"] == 450.0  # 9 and 6 minutes
    assert result["median_s_to_convert"] == 450.0
    assert result["breakdown"] is None
    assert result["headline"]["cases converted"] == 2


def test_breakdown_by_the_channel_of_the_first_step(warehouse: Warehouse) -> None:
    params = FunnelParams(steps=STEPS, breakdown="channel")

    result = funnel(shop_log(warehouse), params)

    groups = {g["value"]: g for g in result["breakdown"]["groups"]}
    assert [g["value"] for g in result["breakdown"]["groups"]] == ["web", "app"]
    assert [s["cases"] for s in groups["web"]["steps"]] == [4, 4, 3, 2]
    assert [s["cases"] for s in groups["app"]["steps"]] == [2, 1, 0, 0]
    assert (groups["web"]["conversion"], groups["app"]["conversion"]) == (0.5, 0.0)
    assert groups["app"]["steps"][1]["median_s_from_previous"] == 120.0  # c3 only


def test_dropped_case_ids_are_capped_and_say_so(warehouse: Warehouse) -> None:
    result = funnel(shop_log(warehouse), FunnelParams(steps=STEPS, max_case_ids=1))

    checkout = result["steps"][2]
    assert checkout["dropped"] == 2
    assert checkout["dropped_case_ids"] == ["c3"]
    assert checkout["dropped_listed_all"] is False
    assert result["steps"][1]["dropped_listed_all"] is True


def test_a_repeated_step_needs_a_second_occurrence(warehouse: Warehouse) -> None:
    result = funnel(shop_log(warehouse), FunnelParams(steps=("view", "view")))
    assert [s["cases"] for s in result["steps"]] == [6, 1]  # only c2 viewed twice


def test_an_unknown_breakdown_column_is_refused(warehouse: Warehouse) -> None:
    with pytest.raises(ValueError, match="no column 'shoe_size'"):
        funnel(shop_log(warehouse), FunnelParams(steps=STEPS, breakdown="shoe_size"))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"steps": ["view"]}, "2 to 20"),
        ({"steps": "view,cart"}, "2 to 20"),
        ({"steps": ["view", ""]}, r"params.steps\[1\]"),
        ({"steps": ["a", "b"], "breakdown": "timestamp"}, "params.breakdown"),
        ({"steps": ["a", "b"], "max_case_ids": -1}, "params.max_case_ids"),
        ({"steps": ["a", "b"], "window": 3}, "unknown"),
    ],
)
def test_bad_parameters_are_refused_clearly(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_params(params)
