"""The cases behind a part of a process map: those through an activity or along an edge.

Counted in the warehouse over eventlog.event_log(); only the first `limit` cases (most
passages first) come out, each with its events, start, end and duration.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import ibis
import ibis.expr.types as ir

MAX_LIMIT = 1000


@dataclass
class CaseRow:
    case_id: str
    times: int  # how often the case passes the activity or edge
    events: int  # events of the whole case
    start: datetime
    end: datetime
    duration_s: float


@dataclass
class CaseList:
    cases: int  # how many cases pass, in all
    rows: list[CaseRow]  # the first `limit`, most passages first, then by case id


def _limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit: expected 1 to {MAX_LIMIT} cases, got {limit!r}")
    return limit


def _listed(log: ir.Table, passages: ir.Table, limit: int) -> CaseList:
    """passages: one row per passage with its case_id."""
    per_case = passages.group_by("case_id").agg(times=passages.count())
    total = int(per_case.count().to_pyarrow().as_py() or 0)
    if total == 0:
        return CaseList(cases=0, rows=[])
    whole = log.semi_join(per_case.select("case_id"), "case_id")
    whole = whole.group_by("case_id").agg(
        events=whole.count(), start=whole.timestamp.min(), end=whole.timestamp.max()
    )
    joined = per_case.join(whole, "case_id")
    top = (
        joined.order_by([joined.times.desc(), joined.case_id]).limit(limit).to_pyarrow().to_pylist()
    )
    return CaseList(
        cases=total,
        rows=[
            CaseRow(
                case_id=str(row["case_id"]),
                times=int(row["times"]),
                events=int(row["events"]),
                start=row["start"],
                end=row["end"],
                duration_s=(row["end"] - row["start"]).total_seconds(),
            )
            for row in top
        ],
    )


def cases_through_activity(log: ir.Table, activity: str, *, limit: int = 100) -> CaseList:
    """The cases with at least one event of `activity`."""
    limit = _limit(limit)
    if not isinstance(activity, str) or not activity:
        raise ValueError(f"activity: expected an activity name, got {activity!r}")
    return _listed(log, log.filter(log.activity == activity).select("case_id"), limit)


def cases_through_edge(
    log: ir.Table, source: str | None, target: str | None, *, limit: int = 100
) -> CaseList:
    """The cases where `target` directly follows `source`.

    `source` None: the cases that start with `target`; `target` None: those ending with
    `source` (the map's start and end edges).
    """
    limit = _limit(limit)
    if source is None and target is None:
        raise ValueError("edge: give a source activity, a target activity or both")
    in_case = ibis.window(group_by=log.case_id, order_by=[log.timestamp, log.ord])
    steps = log.select(
        "case_id",
        "activity",
        previous=log.activity.lag().over(in_case),
        next=log.activity.lead().over(in_case),
    )
    if source is None:
        passages = steps.filter((steps.activity == target) & steps.previous.isnull())
    elif target is None:
        passages = steps.filter((steps.activity == source) & steps.next.isnull())
    else:
        passages = steps.filter((steps.activity == source) & (steps.next == target))
    return _listed(log, passages.select("case_id"), limit)
