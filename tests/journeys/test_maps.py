"""Map simplification (activity and path sliders), the DOT the pages draw, and the cases
behind an activity or an edge."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from c360.journeys import maps
from c360.journeys.drilldown import cases_through_activity, cases_through_edge
from c360.journeys.eventlog import LogSpec, event_log
from c360.journeys.queries import process_map
from journeys.logs import RECEIPT, event, import_receipt, land_events

if TYPE_CHECKING:
    from c360.warehouse import Warehouse


def _shop_rows() -> list[dict[str, object]]:
    """c1..c6 home → product → cart → order; c7..c8 home → faq → product → leave;
    c9 home → product → leave; c10 goes back home once; c11 skips the product."""
    rows = []
    for i in range(1, 7):
        for n, activity in enumerate(["home", "product", "cart", "order"]):
            rows.append(event(f"c{i}", activity, i * 100 + n * (i + 1)))
    for i in (7, 8):
        for n, activity in enumerate(["home", "faq", "product", "leave"]):
            rows.append(event(f"c{i}", activity, i * 100 + n))
    for n, activity in enumerate(["home", "product", "leave"]):
        rows.append(event("c9", activity, 900 + n * 10))
    for n, activity in enumerate(["home", "product", "home", "product", "leave"]):
        rows.append(event("c10", activity, 1000 + n))
    for n, activity in enumerate(["home", "cart", "order"]):
        rows.append(event("c11", activity, 1100 + n))
    return rows


@pytest.fixture
def shop_log(db: None, warehouse: Warehouse) -> LogSpec:
    land_events(warehouse, _shop_rows(), source_id=1, batch_id=1, link=False)
    return LogSpec(source_ids=(1,), case="column:customer_id")


def _edges(drawn: maps.DrawnMap) -> set[tuple[str, str]]:
    return {(e.source, e.target) for e in drawn.edges}


def test_both_sliders_at_100_show_the_full_map(warehouse: Warehouse, shop_log: LogSpec) -> None:
    pmap = process_map(event_log(warehouse, shop_log))
    assert maps.top_activities(pmap, 100) == ["home", "product", "cart", "order", "leave", "faq"]
    drawn = maps.simplify(pmap, total_activities=6, paths=100)
    assert drawn.added_for_connection == 0
    expected = {(e.source, e.target) for e in pmap.edges} | {
        (maps.START, "home"),
        ("order", maps.END),
        ("leave", maps.END),
    }
    assert _edges(drawn) == expected
    assert drawn.total_edges == len(expected) == 11


def test_the_activity_slider_keeps_the_most_frequent_and_reconnects(
    warehouse: Warehouse, shop_log: LogSpec
) -> None:
    full = process_map(event_log(warehouse, shop_log))
    kept = maps.top_activities(full, 50)
    assert kept == ["home", "product", "cart"]
    assert maps.top_activities(full, 0) == ["home"]
    projected = process_map(
        event_log(warehouse, LogSpec(**{**shop_log.__dict__, "activities": tuple(kept)}))
    )
    drawn = maps.simplify(projected, total_activities=len(full.activities), paths=100)
    assert {a.name for a in drawn.activities} == {"home", "product", "cart"}
    # faq left out: c7 and c8 now go home → product directly; leave left out: they end there.
    home_product = next(e for e in drawn.edges if (e.source, e.target) == ("home", "product"))
    assert home_product.frequency == 11
    assert ("product", maps.END) in _edges(drawn)


def test_the_path_slider_keeps_significant_edges_and_every_activity_connected(
    warehouse: Warehouse, shop_log: LogSpec
) -> None:
    pmap = process_map(event_log(warehouse, shop_log))
    drawn = maps.simplify(pmap, total_activities=6, paths=0)
    edges = _edges(drawn)
    # The fewest edges that put each activity on a start-to-end path: a tree both ways.
    names = {a.name for a in pmap.activities}
    assert names <= maps._reach(maps.START, drawn.edges, forward=True)
    assert names <= maps._reach(maps.END, drawn.edges, forward=False)
    assert drawn.added_for_connection == len(edges) == 9
    assert ("product", "home") not in edges and ("home", "cart") not in edges
    assert (maps.START, "home") in edges and ("home", "product") in edges
    # The rarer way round (home → faq, 2 cases) only where faq needs it.
    assert ("home", "faq") in edges and ("faq", "product") in edges
    half = maps.simplify(pmap, total_activities=6, paths=50)
    assert len(edges) <= len(_edges(half)) <= 11
    assert {(maps.START, "home"), ("home", "product"), ("product", "cart")} <= _edges(half)


def test_the_dot_labels_follow_the_measure(warehouse: Warehouse, shop_log: LogSpec) -> None:
    pmap = process_map(event_log(warehouse, shop_log))
    drawn = maps.simplify(pmap, total_activities=6, paths=100)
    cases = maps.map_dot(drawn, measure="cases")
    assert cases.startswith("digraph") and "shape=circle" in cases
    home_product = next(k for k, v in drawn.elements.items() if v.get("source") == "home")
    assert drawn.elements[home_product]["target"] in {"product", "faq"}
    labels = {
        (v["source"], v["target"]): v["label"]
        for v in drawn.elements.values()
        if v["kind"] == "edge"
    }
    assert labels[("home", "product")] == "8"
    maps.map_dot(drawn, measure="mean")
    labels = {
        (v["source"], v["target"]): v["label"]
        for v in drawn.elements.values()
        if v["kind"] == "edge"
    }
    # c1..c6 take 2..7 minutes from home to product, c9 10 and c10 twice 1: mean 4.3 min.
    assert labels[("home", "product")] == "4 min"
    assert labels[(None, "home")] == ""
    with pytest.raises(ValueError, match="measure"):
        maps.map_dot(drawn, measure="speed")
    with pytest.raises(ValueError, match="paths"):
        maps.simplify(pmap, total_activities=6, paths=120)


def test_cases_through_an_activity_and_an_edge(warehouse: Warehouse, shop_log: LogSpec) -> None:
    log = event_log(warehouse, shop_log)
    faq = cases_through_activity(log, "faq")
    assert faq.cases == 2 and [r.case_id for r in faq.rows] == ["c7", "c8"]
    assert faq.rows[0].events == 4 and faq.rows[0].duration_s == 180
    product_leave = cases_through_edge(log, "product", "leave")
    assert product_leave.cases == 4
    assert [r.case_id for r in cases_through_edge(log, "product", "leave", limit=2).rows] == [
        "c10",
        "c7",
    ]
    product = cases_through_activity(log, "product")
    assert product.cases == 10 and (product.rows[0].case_id, product.rows[0].times) == ("c10", 2)
    assert cases_through_edge(log, "home", "leave").cases == 0
    assert cases_through_edge(log, None, "home").cases == 11
    assert cases_through_edge(log, "order", None).cases == 7
    assert cases_through_edge(log, "product", None).cases == 0
    with pytest.raises(ValueError, match="limit"):
        cases_through_activity(log, "faq", limit=0)
    with pytest.raises(ValueError, match="edge"):
        cases_through_edge(log, None, None)


@pytest.mark.skipif(not RECEIPT.exists(), reason="shared/data/receipt.parquet is missing")
def test_receipt_map_simplifies_and_drills_down(db: None, warehouse: Warehouse) -> None:
    source = import_receipt()
    spec = LogSpec(source_ids=(source.pk,), case="column:customer_id")
    log = event_log(warehouse, spec)
    pmap = process_map(log)
    full = maps.simplify(pmap, total_activities=len(pmap.activities), paths=100)
    assert len(full.edges) == len(pmap.edges) + len(pmap.start_activities) + len(
        pmap.end_activities
    )
    thin = maps.simplify(pmap, total_activities=len(pmap.activities), paths=10)
    names = {a.name for a in pmap.activities}
    assert names <= maps._reach(maps.START, thin.edges, forward=True)
    assert names <= maps._reach(maps.END, thin.edges, forward=False)
    assert len(thin.edges) < len(full.edges) / 2
    top = pmap.activities[0]
    through = cases_through_activity(log, top.name)
    assert through.cases == top.cases
    edge = pmap.edges[0]
    assert cases_through_edge(log, edge.source, edge.target).cases == edge.cases
