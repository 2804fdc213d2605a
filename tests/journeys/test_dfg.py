"""The counts of the warehouse against pm4py's on the same log, and the statistics around them."""

from __future__ import annotations

from dataclasses import asdict
from itertools import permutations
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from c360.journeys.eventlog import LogSpec, event_log, ordered_log
from c360.journeys.queries import case_stats, directly_follows, process_map, variants
from journeys.logs import RECEIPT, event, import_receipt, land_events

if TYPE_CHECKING:
    from c360.warehouse import Warehouse

needs_receipt = pytest.mark.skipif(
    not RECEIPT.exists(), reason="shared/data/receipt.parquet is not beside the project"
)


def _pm4py_frame() -> pd.DataFrame:
    frame = pd.read_parquet(RECEIPT)
    frame["time:timestamp"] = frame["time:timestamp"].dt.tz_localize("UTC")
    return frame


@needs_receipt
@pytest.mark.parametrize("case", ["column:customer_id", "person"])
def test_receipt_dfg_equals_pm4py(db: None, warehouse: Warehouse, case: str) -> None:
    import pm4py

    source = import_receipt()
    log = event_log(warehouse, LogSpec(source_ids=(source.pk,), case=case))
    ours = process_map(log)
    dfg, starts, ends = pm4py.discover_dfg(_pm4py_frame())
    assert ours.graph == dict(dfg)
    assert ours.start_activities == dict(starts)
    assert ours.end_activities == dict(ends)
    assert (ours.cases, ours.events) == (1434, 8577)
    assert len(ours.edges) == len(dfg) > 50
    only = directly_follows(log)
    assert (only.graph, only.start_activities, only.end_activities) == (
        dict(dfg),
        dict(starts),
        dict(ends),
    )


@needs_receipt
def test_receipt_variants_and_case_stats_equal_pm4py(db: None, warehouse: Warehouse) -> None:
    import pm4py

    source = import_receipt()
    log = event_log(warehouse, LogSpec(source_ids=(source.pk,), case="column:customer_id"))
    frame = _pm4py_frame()
    theirs = pm4py.get_variants(frame)
    found = variants(log, limit=None)
    assert {tuple(v.activities): v.cases for v in found.variants} == dict(theirs)
    assert found.total_variants == len(theirs)
    assert found.total_cases == 1434
    counts = [v.cases for v in found.variants]
    assert counts == sorted(counts, reverse=True)

    durations = pm4py.get_all_case_durations(frame)
    stats = case_stats(log, bins=10)
    assert stats.cases == 1434 and stats.events == 8577
    assert stats.duration_s["max"] == pytest.approx(max(durations))
    assert stats.duration_s["mean"] == pytest.approx(sum(durations) / len(durations))
    assert sum(b.cases for b in stats.duration_histogram) == 1434
    assert len(stats.duration_histogram) == 10
    assert sum(row["cases"] for row in stats.events_histogram) == 1434


def test_edge_times_and_case_frequency(db: None, warehouse: Warehouse) -> None:
    rows = [
        event("A", "visit", 0),
        event("A", "cart", 10),
        event("A", "visit", 11),
        event("A", "cart", 41),
        event("B", "visit", 0),
        event("B", "cart", 20),
        event("C", "call", 5),
    ]
    land_events(warehouse, rows, source_id=7, batch_id=1, link=False)
    found = process_map(event_log(warehouse, LogSpec(source_ids=(7,), case="column:customer_id")))
    edges = {(e.source, e.target): e for e in found.edges}
    visit_cart = edges[("visit", "cart")]
    assert (visit_cart.frequency, visit_cart.cases) == (3, 2)
    assert visit_cart.mean_s == pytest.approx(20 * 60)
    assert visit_cart.median_s == pytest.approx(20 * 60)
    assert edges[("cart", "visit")].mean_s == pytest.approx(60)
    by_name = {a.name: a for a in found.activities}
    assert (by_name["visit"].events, by_name["visit"].cases, by_name["visit"].starts) == (3, 2, 2)
    assert (by_name["cart"].ends, by_name["call"].starts, by_name["call"].ends) == (2, 1, 1)
    assert (found.cases, found.events) == (3, 7)

    top = variants(event_log(warehouse, LogSpec(source_ids=(7,), case="column:customer_id")))
    assert [(v.activities, v.cases) for v in top.variants] == [
        (["call"], 1),
        (["visit", "cart"], 1),
        (["visit", "cart", "visit", "cart"], 1),
    ]
    assert top.variants[1].mean_s == pytest.approx(20 * 60)


def test_an_empty_log_has_empty_results(db: None, warehouse: Warehouse) -> None:
    log = event_log(warehouse, LogSpec(source_ids=(99,), case="column:customer_id"))
    assert process_map(log).edges == []
    assert variants(log).variants == []
    stats = case_stats(log)
    assert (stats.cases, stats.duration_histogram) == (0, [])


@needs_receipt
def test_an_ordered_log_gives_the_same_results(db: None, warehouse: Warehouse) -> None:
    source = import_receipt()
    log = event_log(warehouse, LogSpec(source_ids=(source.pk,), case="column:customer_id"))
    with ordered_log(log) as ordered:
        assert len(ordered.activities) == 27
        assert asdict(process_map(ordered)) == asdict(process_map(log))
        assert asdict(variants(ordered, limit=None)) == asdict(variants(log, limit=None))
        stats, again = asdict(case_stats(ordered)), asdict(case_stats(log))
        # the same figures; a mean may differ in its last digit with the order of the sum
        assert stats.pop("duration_s") == pytest.approx(again.pop("duration_s"))
        assert stats == again
        assert directly_follows(ordered) == directly_follows(log)


def test_variants_tell_every_order_apart(db: None, warehouse: Warehouse) -> None:
    """Same activities in another order, another length or with a repeat: another variant."""
    rows = []
    expected: dict[tuple[str, ...], int] = {}
    orders = list(permutations("abcd"))
    sequences = [*orders, ("a", "b", "c"), ("a", "a", "b", "c", "d"), ("a", "b", "a", "b")]
    for i, sequence in enumerate(sequences):
        cases = 1 + i % 3
        expected[tuple(sequence)] = cases
        for copy in range(cases):
            case = f"case-{i}-{copy}"
            rows.extend(event(case, name, step) for step, name in enumerate(sequence))
    land_events(warehouse, rows, source_id=3, batch_id=1, link=False)
    log = event_log(warehouse, LogSpec(source_ids=(3,), case="column:customer_id"))
    found = variants(log, limit=None)
    assert {tuple(v.activities): v.cases for v in found.variants} == expected
    assert found.total_variants == len(sequences) == 27
    assert found.total_cases == sum(expected.values())
    # most frequent first; ties fewer events first
    keys = [(-v.cases, len(v.activities)) for v in found.variants]
    assert keys == sorted(keys)
    assert variants(log, limit=2).variants == found.variants[:2]


def test_more_variants_than_are_named_by_number(db: None, warehouse: Warehouse) -> None:
    """Past 1,000 variants their sequences are fetched by query, not by a list of cases."""
    names = [f"step {i}" for i in range(11)]
    sequences = [(a, b, c) for a in names for b in names for c in names]  # 1,331 variants
    rows = [
        event(f"case-{i}", name, minute)
        for i, sequence in enumerate(sequences)
        for minute, name in enumerate(sequence)
    ]
    land_events(warehouse, rows, source_id=4, batch_id=1, link=False)
    log = event_log(warehouse, LogSpec(source_ids=(4,), case="column:customer_id"))
    found = variants(log, limit=None)
    assert found.total_variants == len(found.variants) == 1331
    assert sorted(tuple(v.activities) for v in found.variants) == sorted(sequences)
    # all tie at one case and three events, so they come in case id order (text order)
    assert [tuple(v.activities) for v in variants(log, limit=3).variants] == [
        tuple(sequences[i]) for i in sorted(range(1331), key=lambda i: f"case-{i}")[:3]
    ]
