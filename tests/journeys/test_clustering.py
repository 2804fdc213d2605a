"""Trace clustering on logs whose right grouping is known."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import pytest

from c360.journeys.clustering import ClusteringParams, check_params, cluster_traces
from c360.journeys.eventlog import LogSpec, event_log
from factories import make_admin, make_source
from journeys.logs import event, land_events

if TYPE_CHECKING:
    from c360.warehouse import Warehouse

pytestmark = pytest.mark.usefixtures("db")


def landed_log(warehouse: Warehouse, cases: dict[str, list[str]], *, step: float = 5) -> Any:
    """The event log of a new source holding these cases (one hour apart, `step` minutes
    between events), landed the way an import lands rows; the case is the customer id."""
    source = make_source(owner=make_admin())
    rows = [
        event(case_id, activity, index * 60 + step * position)
        for index, (case_id, activities) in enumerate(cases.items())
        for position, activity in enumerate(activities)
    ]
    land_events(warehouse, rows, source_id=source.pk, batch_id=source.pk, link=False)
    return event_log(warehouse, LogSpec(source_ids=(source.pk,), case="column:customer_id"))


def two_families(per_family: int = 12) -> dict[str, list[str]]:
    """Browsers (view, view, search, view, leave) and buyers (view, cart, checkout, order)."""
    cases: dict[str, list[str]] = {}
    for i in range(per_family):
        cases[f"browse-{i:02d}"] = ["view", "search", "view"] + ["view"] * (i % 3) + ["leave"]
        cases[f"buy-{i:02d}"] = ["view", "cart"] + ["cart"] * (i % 2) + ["checkout", "order"]
    return cases


def _families(result: dict[str, Any]) -> list[set[str]]:
    return [{case.split("-")[0] for case in c["case_ids"]} for c in result["clusters"]]


@pytest.mark.parametrize(
    ("algorithm", "encoding"),
    [
        ("kmeans", "bag"),
        ("kmeans", "ngram"),
        ("kmeans", "position"),
        ("kmodes", "bag"),
        ("kmodes", "ngram"),
        ("kmodes", "position"),
    ],
)
def test_two_path_families_land_in_two_clusters(
    warehouse: Warehouse, algorithm: str, encoding: str
) -> None:
    log = landed_log(warehouse, two_families())
    params = ClusteringParams(algorithm=algorithm, encoding=encoding, k=2, k_min=2, k_max=4)

    result = cluster_traces(log, params)

    assert [c["size"] for c in result["clusters"]] == [12, 12]
    assert sorted(map(sorted, _families(result))) == [["browse"], ["buy"]]
    assert result["cases_total"] == result["cases_clustered"] == 24
    assert result["sampled"] is False
    # k stops at the number of distinct vectors (presence of activities: just 2).
    assert [point["k"] for point in result["elbow"]] == list(
        range(2, min(4, result["distinct_vectors"]) + 1)
    )
    assert result["silhouette"] == result["elbow"][0]["silhouette"] > 0.5


def three_families(per_family: int = 15) -> dict[str, list[str]]:
    """Three families of four activities of their own; members repeat some at random."""
    rng = random.Random(3)
    cases: dict[str, list[str]] = {}
    for family in "abc":
        core = [f"{family}{i}" for i in range(4)]
        for i in range(per_family):
            activities = list(core)
            for _ in range(rng.randint(0, 3)):
                activities.insert(rng.randint(1, len(activities)), rng.choice(core))
            cases[f"{family}-{i:02d}"] = activities
    return cases


@pytest.mark.parametrize(("algorithm", "encoding"), [("kmeans", "bag"), ("kmodes", "ngram")])
def test_elbow_and_silhouette_point_at_the_number_of_families(
    warehouse: Warehouse, algorithm: str, encoding: str
) -> None:
    params = ClusteringParams(algorithm=algorithm, encoding=encoding, k=3, k_min=2, k_max=6)
    result = cluster_traces(landed_log(warehouse, three_families()), params)

    assert sorted(map(sorted, _families(result))) == [["a"], ["b"], ["c"]]
    by_k = {point["k"]: point for point in result["elbow"]}
    assert max(by_k, key=lambda k: by_k[k]["silhouette"]) == 3
    # The elbow: going from 2 to 3 clusters gains far more than any step after it.
    drops = [by_k[k - 1]["inertia"] - by_k[k]["inertia"] for k in range(3, 7)]
    assert drops[0] > 5 * max(drops[1:])
    assert result["measure"] == ("inertia" if algorithm == "kmeans" else "cost")


def test_a_cluster_describes_its_cases(warehouse: Warehouse) -> None:
    cases = two_families(per_family=6)
    result = cluster_traces(landed_log(warehouse, cases), ClusteringParams(k=2, k_max=3))

    buyers = next(c for c in result["clusters"] if c["case_ids"][0].startswith("buy"))
    # Hand count: buy-00, -02, -04 have one cart, -01, -03, -05 two.
    assert buyers["top_variants"] == [
        {"variant": "view → cart → checkout → order", "count": 3, "share": 0.5},
        {"variant": "view → cart → cart → checkout → order", "count": 3, "share": 0.5},
    ] or buyers["top_variants"] == [
        {"variant": "view → cart → cart → checkout → order", "count": 3, "share": 0.5},
        {"variant": "view → cart → checkout → order", "count": 3, "share": 0.5},
    ]
    # 3 cases of 3 steps (15 min) and 3 of 4 steps (20 min), 5 minutes apart.
    assert buyers["mean_duration_s"] == pytest.approx(17.5 * 60)
    assert buyers["mean_events"] == pytest.approx(4.5)
    assert buyers["variants"] == 2
    assert {p["feature"] for p in buyers["profile"]} >= {"cart", "checkout", "order"}


def test_ties_on_timestamp_follow_ingestion_order(warehouse: Warehouse) -> None:
    """Events at the same instant keep the order they were imported in, as process-mining
    tools order them."""
    source = make_source(owner=make_admin())
    rows = [event("c", "first", 0), event("c", "second", 0), event("c", "third", 0)]
    rows += [event("d", "other", 0)]
    land_events(warehouse, rows, source_id=source.pk, batch_id=source.pk, link=False)
    log = event_log(warehouse, LogSpec(source_ids=(source.pk,), case="column:customer_id"))

    result = cluster_traces(log, ClusteringParams(k=2, k_max=2))

    variants = {v["variant"] for c in result["clusters"] for v in c["top_variants"]}
    assert variants == {"first → second → third", "other"}


def test_big_logs_are_sampled_with_a_seed(warehouse: Warehouse) -> None:
    log = landed_log(warehouse, two_families(per_family=30))
    params = ClusteringParams(k=2, k_max=3, max_cases=20, seed=7)

    first = cluster_traces(log, params)
    again = cluster_traces(log, params)
    other_seed = cluster_traces(log, ClusteringParams(k=2, k_max=3, max_cases=20, seed=8))

    assert first["cases_total"] == 60 and first["cases_clustered"] == 20
    assert first["sampled"] is True
    assert "60 cases" in first["sample_note"] and "20" in first["sample_note"]
    assert sum(c["size"] for c in first["clusters"]) == 20
    clustered = sorted(i for c in first["clusters"] for i in c["case_ids"])
    assert clustered == sorted(i for c in again["clusters"] for i in c["case_ids"])
    assert clustered != sorted(i for c in other_seed["clusters"] for i in c["case_ids"])


def test_k_above_the_distinct_cases_is_refused(warehouse: Warehouse) -> None:
    log = landed_log(warehouse, {"a": ["x", "y"], "b": ["x", "y"], "c": ["z"]})
    with pytest.raises(ValueError, match="only 2 distinct"):
        cluster_traces(log, ClusteringParams(k=3, k_max=3))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"algorithm": "dbscan"}, "params.algorithm"),
        ({"encoding": "words"}, "params.encoding"),
        ({"k": 1}, "params.k: expected 2..50"),
        ({"k": "3"}, "params.k: expected an integer"),
        ({"k_min": 6, "k_max": 3}, "k_min"),
        ({"colour": "red"}, "unknown"),
    ],
)
def test_bad_parameters_are_refused_clearly(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_params(params)
