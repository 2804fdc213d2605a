"""Counting over an event log, in the warehouse: the directly-follows graph, start and end
activities, activity counts, variants and case statistics.

Each function takes the Ibis table of eventlog.event_log() and returns small results (one row
per edge, activity or variant); the log itself is never read into Python. The same expressions
run on DuckDB and on PySpark (tests/journeys/test_spark_dfg.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir

from c360.journeys.eventlog import traces


@dataclass
class Edge:
    source: str
    target: str
    frequency: int  # how often target directly follows source
    cases: int  # in how many cases it does
    mean_s: float  # time between the two events, in seconds
    median_s: float


@dataclass
class Activity:
    name: str
    events: int
    cases: int
    starts: int  # cases that begin with it
    ends: int  # cases that end with it


@dataclass
class ProcessMap:
    """The directly-follows graph of a log with its activities (a Disco-style process map)."""

    cases: int
    events: int
    activities: list[Activity]
    edges: list[Edge]

    @property
    def start_activities(self) -> dict[str, int]:
        return {a.name: a.starts for a in self.activities if a.starts}

    @property
    def end_activities(self) -> dict[str, int]:
        return {a.name: a.ends for a in self.activities if a.ends}

    @property
    def graph(self) -> dict[tuple[str, str], int]:
        """Edge frequencies keyed as pm4py keys them: {(source, target): count}."""
        return {(e.source, e.target): e.frequency for e in self.edges}


@dataclass
class Variant:
    activities: list[str]
    cases: int
    share: float  # of all cases
    mean_s: float
    median_s: float


@dataclass
class Variants:
    total_cases: int
    total_variants: int
    variants: list[Variant]  # most frequent first; at most `limit`


@dataclass
class HistogramBin:
    low: float
    high: float
    cases: int


@dataclass
class CaseStats:
    cases: int
    events: int
    events_per_case: dict[str, float]  # min, mean, median, max
    duration_s: dict[str, float]  # min, mean, median, p90, max
    duration_histogram: list[HistogramBin] = field(default_factory=list)
    events_histogram: list[dict[str, int]] = field(default_factory=list)  # events -> cases


def _seconds(later: ir.TimestampValue, earlier: ir.TimestampValue) -> ir.FloatingValue:
    return later.delta(earlier, unit="microsecond").cast("float64") / 1e6


def _steps(log: ir.Table) -> ir.Table:
    """Each event with the activity and time of the next event of its case."""
    in_case = ibis.window(group_by=log.case_id, order_by=[log.timestamp, log.ord])
    return log.select(
        "case_id",
        "activity",
        "timestamp",
        next_activity=log.activity.lead().over(in_case),
        next_timestamp=log.timestamp.lead().over(in_case),
        first=(ibis.row_number().over(in_case) == 0).cast("int64"),
    )


def _float(value: Any) -> float:
    if value is None:
        return 0.0
    number = float(value)
    return 0.0 if math.isnan(number) else number


def process_map(log: ir.Table) -> ProcessMap:
    """The directly-follows graph, start/end activities and activity counts, in two queries.

    One pass over the log's window (the expensive part) groups events by (activity, next
    activity); a case's last event has no next activity, so those groups are the end counts.
    """
    steps = _steps(log)
    pairs = (
        steps.group_by(["activity", "next_activity"])
        .agg(
            frequency=steps.count(),
            cases=steps.case_id.nunique(),
            starts=steps.first.sum(),
            mean_s=_seconds(steps.next_timestamp, steps.timestamp).mean(),
            median_s=_seconds(steps.next_timestamp, steps.timestamp).median(),
        )
        .to_pyarrow()
        .to_pylist()
    )
    per_activity = (
        log.group_by("activity").agg(cases=log.case_id.nunique()).to_pyarrow().to_pylist()
    )
    activity_cases = {row["activity"]: int(row["cases"]) for row in per_activity}
    events: dict[str, int] = {}
    starts: dict[str, int] = {}
    ends: dict[str, int] = {}
    edges = []
    for row in pairs:  # one row per edge: activities squared at most
        name = row["activity"]
        events[name] = events.get(name, 0) + int(row["frequency"])
        starts[name] = starts.get(name, 0) + int(row["starts"] or 0)
        if row["next_activity"] is None:
            ends[name] = int(row["frequency"])
            continue
        edges.append(
            Edge(
                source=name,
                target=row["next_activity"],
                frequency=int(row["frequency"]),
                cases=int(row["cases"]),
                mean_s=_float(row["mean_s"]),
                median_s=_float(row["median_s"]),
            )
        )
    activities = [
        Activity(
            name=name,
            events=count,
            cases=activity_cases.get(name, 0),
            starts=starts.get(name, 0),
            ends=ends.get(name, 0),
        )
        for name, count in events.items()
    ]
    activities.sort(key=lambda a: (-a.events, a.name))
    edges.sort(key=lambda e: (-e.frequency, e.source, e.target))
    return ProcessMap(
        cases=sum(ends.values()),
        events=sum(events.values()),
        activities=activities,
        edges=edges,
    )


def follows_at(log: ir.Table, distance: int) -> dict[tuple[str, str], int]:
    """How often b comes `distance` events after a in a case (distance 2 for loops a-b-a)."""
    in_case = ibis.window(group_by=log.case_id, order_by=[log.timestamp, log.ord])
    later = log.select("activity", after=log.activity.lead(distance).over(in_case))
    later = later.filter(later.after.notnull())
    rows = later.group_by(["activity", "after"]).agg(n=later.count()).to_pyarrow().to_pylist()
    return {(row["activity"], row["after"]): int(row["n"]) for row in rows}


def triples(log: ir.Table) -> dict[tuple[str, str, str], int]:
    """How often a, b, c follow each other directly (the heuristics miner's and-measure)."""
    in_case = ibis.window(group_by=log.case_id, order_by=[log.timestamp, log.ord])
    three = log.select(
        "activity",
        second=log.activity.lead(1).over(in_case),
        third=log.activity.lead(2).over(in_case),
    )
    three = three.filter(three.third.notnull())
    rows = (
        three.group_by(["activity", "second", "third"])
        .agg(n=three.count())
        .to_pyarrow()
        .to_pylist()
    )
    return {(row["activity"], row["second"], row["third"]): int(row["n"]) for row in rows}


def variant_table(log: ir.Table) -> ir.Table:
    """One row per variant (the sequence of activities): cases, mean_s and median_s."""
    per_case = traces(log)
    return per_case.group_by("activities").agg(
        cases=per_case.count(),
        mean_s=per_case.duration_s.mean(),
        median_s=per_case.duration_s.median(),
    )


def variants(log: ir.Table, *, limit: int | None = 100) -> Variants:
    """The variants, most frequent first (ties by sequence), at most `limit` of them."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit: expected a positive number of variants, got {limit}")
    table = variant_table(log)
    totals = table.aggregate(cases=table.cases.sum(), variants=table.count()).to_pyarrow()
    total_cases = int(totals["cases"][0].as_py() or 0)
    total_variants = int(totals["variants"][0].as_py() or 0)
    ordered = table.order_by([table.cases.desc(), table.activities])
    if limit is not None:
        ordered = ordered.limit(limit)
    rows = ordered.to_pyarrow().to_pylist()
    return Variants(
        total_cases=total_cases,
        total_variants=total_variants,
        variants=[
            Variant(
                activities=list(row["activities"]),
                cases=int(row["cases"]),
                share=int(row["cases"]) / total_cases if total_cases else 0.0,
                mean_s=_float(row["mean_s"]),
                median_s=_float(row["median_s"]),
            )
            for row in rows
        ],
    )


def case_stats(log: ir.Table, *, bins: int = 20) -> CaseStats:
    """How many cases, how long they take and how many events they hold, with histograms."""
    if not 1 <= bins <= 200:
        raise ValueError(f"bins: expected 1 to 200 histogram bins, got {bins}")
    per_case = traces(log)
    summary = (
        per_case.aggregate(
            cases=per_case.count(),
            events=per_case.events.sum(),
            ev_min=per_case.events.min(),
            ev_mean=per_case.events.mean(),
            ev_median=per_case.events.median(),
            ev_max=per_case.events.max(),
            d_min=per_case.duration_s.min(),
            d_mean=per_case.duration_s.mean(),
            d_median=per_case.duration_s.median(),
            d_p90=per_case.duration_s.quantile(0.9),
            d_max=per_case.duration_s.max(),
        )
        .to_pyarrow()
        .to_pylist()[0]
    )
    cases = int(summary["cases"] or 0)
    stats = CaseStats(
        cases=cases,
        events=int(summary["events"] or 0),
        events_per_case={
            key: _float(summary[f"ev_{key}"]) for key in ("min", "mean", "median", "max")
        },
        duration_s={
            key: _float(summary[f"d_{key}"]) for key in ("min", "mean", "median", "p90", "max")
        },
    )
    if cases == 0:
        return stats
    low, high = stats.duration_s["min"], stats.duration_s["max"]
    width = (high - low) / bins if high > low else 1.0
    bucket = ((per_case.duration_s - low) / width).floor().cast("int64")
    bucket = ibis.least(bucket, bins - 1)
    rows = per_case.group_by(bucket=bucket).agg(n=per_case.count()).to_pyarrow().to_pylist()
    counted = {int(row["bucket"]): int(row["n"]) for row in rows}
    stats.duration_histogram = [
        HistogramBin(low=low + i * width, high=low + (i + 1) * width, cases=counted.get(i, 0))
        for i in range(bins if high > low else 1)
    ]
    per_count = (
        per_case.group_by("events")
        .agg(n=per_case.count())
        .order_by("events")
        .to_pyarrow()
        .to_pylist()
    )
    stats.events_histogram = [{"events": int(r["events"]), "cases": int(r["n"])} for r in per_count]
    return stats
