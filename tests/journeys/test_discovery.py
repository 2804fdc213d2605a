"""Alpha, Heuristic and Inductive models of the receipt log, and their quality figures."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import pytest

from c360.journeys.discovery import DiscoveryParams, Model, discover, measure
from c360.journeys.eventlog import LogSpec, event_log
from journeys.logs import RECEIPT, event, import_receipt, land_events

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from c360.warehouse import Warehouse

pytestmark = [
    pytest.mark.skipif(
        not RECEIPT.exists(), reason="shared/data/receipt.parquet is not beside the project"
    ),
    # Without PuLP, pm4py's soundness check (Woflan) solves place invariants with scipy and
    # warns that the solution "may be unstable"; the tests check the verdicts themselves.
    pytest.mark.filterwarnings("ignore:solution from scipy may be unstable:UserWarning"),
    # ... and builds its incidence matrices with numpy's matrix class, which numpy deprecates.
    pytest.mark.filterwarnings("ignore:the matrix subclass is not:PendingDeprecationWarning"),
    # ... and asks scipy's linprog for its old 'revised simplex' method.
    pytest.mark.filterwarnings(
        "ignore:`method='revised simplex'` is deprecated:DeprecationWarning"
    ),
]


def _frame() -> pd.DataFrame:
    frame = pd.read_parquet(RECEIPT)
    frame["time:timestamp"] = frame["time:timestamp"].dt.tz_localize("UTC")
    return frame


def _receipt(warehouse: Warehouse) -> ir.Table:
    source = import_receipt()
    return event_log(warehouse, LogSpec(source_ids=(source.pk,), case="column:customer_id"))


def _labels(model: Model) -> set[str]:
    return {t["label"] for t in model.transitions if t["label"] is not None}


def test_receipt_models_and_their_quality(db: None, warehouse: Warehouse) -> None:
    import pm4py

    log = _receipt(warehouse)
    frame = _frame()
    activities = set(frame["concept:name"])

    inductive = discover(log, DiscoveryParams(algorithm="inductive"))
    assert inductive.variant == "IMd"  # from the warehouse's DFG
    assert inductive.quality is not None and not inductive.quality.cut_short
    assert inductive.quality.fitness == 1.0
    assert inductive.quality.fitting_cases == 1.0
    assert inductive.sound is True
    assert inductive.process_tree and _labels(inductive) == activities
    # replaying each variant once, weighted, gives pm4py's figures over the whole log
    theirs = pm4py.precision_token_based_replay(frame, *inductive.net)
    assert inductive.quality.precision == pytest.approx(theirs, abs=1e-12)
    assert 0 < theirs < 1
    assert pm4py.fitness_token_based_replay(frame, *inductive.net)["log_fitness"] == 1.0

    # IMf on the 116 variants: noise filtered away, so fewer cases fit
    imf = discover(log, DiscoveryParams(algorithm="inductive", noise_threshold=0.2))
    assert imf.variant == "IMf" and imf.input == "116 variants with their case counts"
    assert imf.quality is not None and imf.quality.fitness is not None
    assert 0.5 < imf.quality.fitness < 1.0 and imf.sound is True
    reference = pm4py.discover_petri_net_inductive(frame, noise_threshold=0.2)
    assert imf.quality.fitness == pytest.approx(
        pm4py.fitness_token_based_replay(frame, *reference)["log_fitness"], abs=1e-12
    )

    alpha = discover(log, DiscoveryParams(algorithm="alpha"))
    assert alpha.sound is False  # Woflan's verdict on the alpha net of this log
    assert alpha.variant == "alpha" and alpha.places and alpha.transitions
    assert alpha.quality is not None and alpha.quality.fitness is not None
    assert alpha.quality.precision is not None
    pm4py_fitness = pm4py.fitness_token_based_replay(frame, *alpha.net)["log_fitness"]
    assert alpha.quality.fitness == pytest.approx(pm4py_fitness, abs=1e-12)
    assert alpha.quality.fitness < 1.0

    heuristics = discover(log, DiscoveryParams(algorithm="heuristics"))
    assert heuristics.soundness_note
    assert heuristics.quality is not None
    assert heuristics.quality.fitness is not None and heuristics.quality.precision is not None
    reference = pm4py.discover_petri_net_heuristics(frame)
    assert len(heuristics.net[0].transitions) == len(reference[0].transitions)
    assert len(heuristics.net[0].places) == len(reference[0].places)
    stricter = discover(
        log,
        DiscoveryParams(algorithm="heuristics", dependency_threshold=0.99, min_edge_frequency=50),
    )
    assert len(stricter.arcs) < len(heuristics.arcs)


def test_replay_stops_at_the_time_limit(db: None, warehouse: Warehouse) -> None:
    log = _receipt(warehouse)
    model = discover(log, DiscoveryParams(algorithm="inductive", quality=False))
    assert model.quality is None
    quality = measure(log, model.net, time_limit_s=1e-9)
    assert quality.cut_short and quality.replayed_variants == 0
    assert quality.fitness is None and "cut short" in quality.note


def test_discovery_refuses_bad_parameters_and_empty_logs(db: None, warehouse: Warehouse) -> None:
    with pytest.raises(ValueError, match="algorithm: expected one of alpha"):
        DiscoveryParams.from_dict({"algorithm": "genetic"})
    with pytest.raises(ValueError, match="dependency_threshold: expected a number"):
        DiscoveryParams.from_dict({"algorithm": "heuristics", "dependency_threshold": 2})
    with pytest.raises(ValueError, match="unknown field"):
        DiscoveryParams.from_dict({"algoritm": "alpha"})
    land_events(warehouse, [event("A", "visit", 0)], source_id=3, batch_id=1, link=False)
    empty = event_log(warehouse, LogSpec(source_ids=(4,), case="column:customer_id"))
    with pytest.raises(ValueError, match="the event log is empty"):
        discover(empty)
