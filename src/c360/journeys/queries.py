"""Counting over an event log, in the warehouse: the directly-follows graph, start and end
activities, activity counts, variants and case statistics.

Each function takes the Ibis table of eventlog.event_log(), or that log put in case order once by
eventlog.ordered_log() when several results are wanted from it, and returns small results (one
row per edge, activity or variant); the log itself is never read into Python. The same
expressions run on DuckDB and on PySpark (tests/journeys/test_spark_dfg.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir

from c360.journeys.eventlog import OrderedLog, materialised, ordered_log


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
class DirectlyFollows:
    """The directly-follows graph as pm4py.discover_dfg gives it, keyed the same way."""

    graph: dict[tuple[str, str], int]  # {(source, target): how often target follows source}
    start_activities: dict[str, int]  # activity -> cases that begin with it
    end_activities: dict[str, int]  # activity -> cases that end with it


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


def _float(value: Any) -> float:
    if value is None:
        return 0.0
    number = float(value)
    return 0.0 if math.isnan(number) else number


@contextmanager
def _in_order(log: ir.Table | OrderedLog) -> Iterator[OrderedLog]:
    """The log as an OrderedLog: as given, or ordered (and released) for this one call."""
    if isinstance(log, OrderedLog):
        yield log
    else:
        with ordered_log(log) as ordered:
            yield ordered


def process_map(log: ir.Table | OrderedLog) -> ProcessMap:
    """The directly-follows graph, start/end activities and activity counts.

    Three grouped counts over the ordered log: by (activity, next activity), whose groups
    without a next activity are the end counts; the distinct (case, activity, next activity)
    triples, which give each edge's case frequency; and the distinct (case, activity) pairs.
    """
    with _in_order(log) as ordered:
        steps = ordered.steps
        gap_us = steps.next_timestamp.delta(steps.timestamp, unit="microsecond")
        pairs = (
            steps.group_by(["code", "next_code"])
            .agg(
                frequency=steps.count(),
                starts=(steps.position == 0).cast("int64").sum(),
                # the mean from an exact integer sum: the same figure on every engine
                gap_sum=gap_us.sum(),
                gap_median=gap_us.median(),
            )
            .to_pyarrow()
            .to_pylist()
        )
        in_cases = steps.select("case_no", "code", "next_code").distinct()
        edge_cases = {
            (row["code"], row["next_code"]): int(row["cases"])
            for row in in_cases.group_by(["code", "next_code"])
            .agg(cases=in_cases.count())
            .to_pyarrow()
            .to_pylist()
        }
        with_activity = steps.select("case_no", "code").distinct()
        activity_cases = {
            ordered.activities[row["code"]]: int(row["cases"])
            for row in with_activity.group_by("code")
            .agg(cases=with_activity.count())
            .to_pyarrow()
            .to_pylist()
        }
        names = ordered.activities
    events: dict[str, int] = {}
    starts: dict[str, int] = {}
    ends: dict[str, int] = {}
    edges = []
    for row in pairs:  # one row per edge: activities squared at most
        name = names[row["code"]]
        frequency = int(row["frequency"])
        events[name] = events.get(name, 0) + frequency
        starts[name] = starts.get(name, 0) + int(row["starts"] or 0)
        if row["next_code"] is None:
            ends[name] = frequency
            continue
        edges.append(
            Edge(
                source=name,
                target=names[row["next_code"]],
                frequency=frequency,
                cases=edge_cases[(row["code"], row["next_code"])],
                mean_s=int(row["gap_sum"]) / frequency / 1e6,
                median_s=_float(row["gap_median"]) / 1e6,
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


def directly_follows(log: ir.Table | OrderedLog) -> DirectlyFollows:
    """Only the graph with its start and end activities (what IMd and the Alpha miner read),
    in one grouped count; process_map() adds edge times and case frequencies to it."""
    with _in_order(log) as ordered:
        steps = ordered.steps
        rows = (
            steps.group_by(["code", "next_code"])
            .agg(frequency=steps.count(), starts=(steps.position == 0).cast("int64").sum())
            .to_pyarrow()
            .to_pylist()
        )
        names = ordered.activities
    found = DirectlyFollows(graph={}, start_activities={}, end_activities={})
    for row in rows:
        name = names[row["code"]]
        if row["starts"]:
            found.start_activities[name] = found.start_activities.get(name, 0) + row["starts"]
        if row["next_code"] is None:
            found.end_activities[name] = int(row["frequency"])
        else:
            found.graph[(name, names[row["next_code"]])] = int(row["frequency"])
    return found


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


# Variants are grouped by a fingerprint of their sequence, counted in the warehouse. Each event
# draws a number from its (position, activity) with the engine's own hash (a 64-bit hash on
# DuckDB, 32 bits on PySpark), brought below the prime 2**31 - 1, and a second number from that
# one by squaring modulo another prime (2**31 - 19); a case's fingerprint is its event count and
# the two sums. Squares of numbers below 2**31 stay below 2**62, so no engine overflows. Two
# different sequences share a fingerprint by chance about once in 2**60; an ordered aggregation
# would be exact but has no portable form (PySpark's collect_list keeps no order).
_PRIME = 2**31 - 1
_OTHER_PRIME = 2**31 - 19


def _fingerprints(ordered: OrderedLog) -> ir.Table:
    """One row per case: case_no, events and the two sums of its fingerprint."""
    steps = ordered.steps
    # One number per (position, activity): position * activities + code. 64-bit from the first
    # product on: on PySpark the materialised position and code are 32-bit (row_number()),
    # whatever type Ibis gave them before. `+ 2 * _PRIME`, a literal above 2**31, does the same
    # for PySpark's 32-bit hash() and lifts a negative remainder above zero.
    step = steps.position.cast("int64") * max(len(ordered.activities), 1) + steps.code
    drawn = steps.mutate(drawn=(step.hash() % _PRIME + 2 * _PRIME) % _PRIME)  # hashed once
    return drawn.group_by("case_no").agg(
        events=drawn.count(),
        first=drawn.drawn.sum(),
        second=((drawn.drawn * drawn.drawn + 12_345) % _OTHER_PRIME).sum(),
    )


def _durations(
    ordered: OrderedLog, members: ir.Table
) -> dict[tuple[int, int, int], tuple[int, float | None]]:
    """Total and median case duration (microseconds) per fingerprint of the cases in `members`
    (rows of _fingerprints())."""
    steps = ordered.steps
    key = ["events", "first", "second"]
    per_case = (
        steps.join(members, "case_no")
        .group_by(["case_no", *key])
        .agg(start=steps.timestamp.min(), end=steps.timestamp.max())
    )
    per_case = per_case.mutate(duration_us=per_case.end.delta(per_case.start, unit="microsecond"))
    rows = (
        per_case.group_by(key)
        .agg(total=per_case.duration_us.sum(), median=per_case.duration_us.median())
        .to_pyarrow()
        .to_pylist()
    )
    return {
        (row["events"], row["first"], row["second"]): (int(row["total"]), row["median"])
        for row in rows
    }


def _sequences(ordered: OrderedLog, cases: list[int] | ir.Table) -> dict[int, list[str]]:
    """The activities, in order, of the cases given by number (or as a table of case_no)."""
    steps = ordered.steps
    if isinstance(cases, list):
        steps = steps.filter(steps.case_no.isin(cases))
    else:
        steps = steps.semi_join(cases, "case_no")
    rows = steps.select("case_no", "position", "code").to_pyarrow()
    rows = rows.sort_by([("case_no", "ascending"), ("position", "ascending")])
    found: dict[int, list[str]] = {}
    for case_no, code in zip(rows["case_no"].to_pylist(), rows["code"].to_pylist(), strict=True):
        found.setdefault(case_no, []).append(ordered.activities[code])
    return found


def variants(log: ir.Table | OrderedLog, *, limit: int | None = 100) -> Variants:
    """The variants, most frequent first (ties: fewer events first, then by the smallest case
    id), at most `limit` of them."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit: expected a positive number of variants, got {limit}")
    with _in_order(log) as ordered, materialised(_fingerprints(ordered)) as per_case:
        key = ["events", "first", "second"]
        table = per_case.group_by(key).agg(cases=per_case.count(), case_no=per_case.case_no.min())
        # the totals ride along with the top rows: one pass over the variants
        table = table.mutate(
            total_cases=table.cases.sum().over(), total_variants=table.count().over()
        )
        top = table.order_by([table.cases.desc(), table.events, table.case_no])
        if limit is not None:
            top = top.limit(limit)
        rows = top.to_pyarrow().to_pylist()
        total_cases = int(rows[0]["total_cases"]) if rows else 0
        total_variants = int(rows[0]["total_variants"]) if rows else 0
        # Durations and sequences only for the variants shown. While they are few, their cases
        # are picked by a list of numbers: the first sums of their fingerprints (another
        # variant sharing one only adds a figure nobody reads) and the case numbers; past
        # that, by the query that found them, run again.
        if len(rows) <= 1_000:
            firsts = sorted({row["first"] for row in rows})
            members = per_case.filter(per_case.first.isin(firsts))
            shown: list[int] | ir.Table = [row["case_no"] for row in rows]
        else:
            members = per_case.semi_join(top, key)
            shown = top.select("case_no")
        durations = _durations(ordered, members)
        sequences = _sequences(ordered, shown)
    found = []
    for row in rows:
        cases = int(row["cases"])
        total_us, median_us = durations[(row["events"], row["first"], row["second"])]
        found.append(
            Variant(
                activities=sequences[row["case_no"]],
                cases=cases,
                share=cases / total_cases if total_cases else 0.0,
                mean_s=total_us / cases / 1e6,
                median_s=_float(median_us) / 1e6,
            )
        )
    return Variants(total_cases=total_cases, total_variants=total_variants, variants=found)


def _per_case(log: ir.Table | OrderedLog) -> ir.Table:
    """One row per case: its events and duration_s; no order is needed for either."""
    if isinstance(log, OrderedLog):
        log = log.steps.rename(case_id="case_no")
    return log.group_by("case_id").agg(
        events=log.count(),
        duration_s=_seconds(log.timestamp.max(), log.timestamp.min()),
    )


def case_stats(log: ir.Table | OrderedLog, *, bins: int = 20) -> CaseStats:
    """How many cases, how long they take and how many events they hold, with histograms."""
    if not 1 <= bins <= 200:
        raise ValueError(f"bins: expected 1 to 200 histogram bins, got {bins}")
    per_case = _per_case(log)
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
