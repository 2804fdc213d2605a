"""Journey analyses as runs of the analyses app: process map, variants and discovery.

Each compute function takes the run's log spec and parameters (already checked) and a
progress callback, and returns the JSON result the run stores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from c360.journeys import discovery, exports, queries
from c360.journeys.eventlog import LogSpec, event_log

Progress = Callable[[float, str], None]


def _log(spec: dict[str, Any]) -> Any:
    from c360.warehouse import get_warehouse

    return event_log(get_warehouse(), LogSpec.from_dict(spec))


def check_map_params(params: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(params) - {"measure", "bins"})
    if unknown:
        raise ValueError(f"params: unknown field(s) {unknown}; expected measure, bins")
    measure = params.get("measure", "cases")
    if measure not in exports.MAP_MEASURES:
        raise ValueError(
            f"measure: expected one of {', '.join(exports.MAP_MEASURES)}, got {measure!r}"
        )
    bins = params.get("bins", 20)
    if isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= 200:
        raise ValueError(f"bins: expected 1 to 200 histogram bins, got {bins!r}")
    return {"measure": measure, "bins": bins}


def compute_process_map(
    spec: dict[str, Any], params: dict[str, Any], progress: Progress
) -> dict[str, Any]:
    """The directly-follows graph with its DOT drawing, and the case statistics."""
    log = _log(spec)
    progress(0.1, "counting directly-follows pairs")
    pmap = queries.process_map(log)
    progress(0.6, "case statistics")
    stats = queries.case_stats(log, bins=params.get("bins", 20))
    return {
        **asdict(pmap),
        "start_activities": pmap.start_activities,
        "end_activities": pmap.end_activities,
        "dot": exports.dfg_dot(pmap, measure=params.get("measure", "cases")),
        "case_stats": asdict(stats),
    }


def check_variants_params(params: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(params) - {"limit"})
    if unknown:
        raise ValueError(f"params: unknown field(s) {unknown}; expected limit")
    limit = params.get("limit", 100)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
        raise ValueError(f"limit: expected 1 to 10000 variants, got {limit!r}")
    return {"limit": limit}


def compute_variants(
    spec: dict[str, Any], params: dict[str, Any], progress: Progress
) -> dict[str, Any]:
    progress(0.1, "grouping cases into variants")
    return asdict(queries.variants(_log(spec), limit=params.get("limit", 100)))


def check_discovery_params(params: dict[str, Any]) -> dict[str, Any]:
    return asdict(discovery.DiscoveryParams.from_dict(params))


def compute_discovery(
    spec: dict[str, Any], params: dict[str, Any], progress: Progress
) -> dict[str, Any]:
    log = _log(spec)
    progress(0.1, "counting directly-follows pairs")
    pmap = queries.process_map(log)
    progress(0.4, f"discovering with {params.get('algorithm', 'inductive')}")
    model = discovery.discover(log, discovery.DiscoveryParams(**params), process_map=pmap)
    return model.to_dict()


def register_kinds() -> None:
    """Make the journey analyses runnable (and kept in the history) by the analyses app."""
    from c360.analyses.logic import register

    register(
        "process_map",
        compute_process_map,
        label="Process map",
        check_params=check_map_params,
    )
    register("variants", compute_variants, label="Variants", check_params=check_variants_params)
    register(
        "discovery",
        compute_discovery,
        label="Process discovery",
        check_params=check_discovery_params,
    )
