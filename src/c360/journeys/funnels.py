"""Funnels: how many cases go through ordered steps, where they drop out, how long it takes.

A case reaches step n when it did steps 1..n in that order (other activities may come in
between). Each step takes the case's first matching event after the previous step's, which
reaches every step that can be reached. Everything is counted in the warehouse; only the
figures and, per step, the ids of the cases that dropped out come back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ibis.expr.types as ir

Progress = Callable[[float, str], None]

NONE = "(none)"  # the breakdown value of cases whose attribute is empty
_LOG_KEYS = ("case_id", "activity", "timestamp", "ord")


def _no_progress(fraction: float, stage: str) -> None:
    return None


@dataclass(frozen=True)
class FunnelParams:
    steps: tuple[str, ...]
    breakdown: str | None = None  # a column of the log, e.g. "channel"
    max_case_ids: int = 1000  # dropped-out case ids listed per step

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FunnelParams:
        if not isinstance(data, dict):
            raise ValueError("params: expected a JSON object")
        unknown = sorted(set(data) - {"steps", "breakdown", "max_case_ids"})
        if unknown:
            raise ValueError(
                f"params: unknown {unknown}; expected steps, breakdown and max_case_ids"
            )
        steps = data.get("steps")
        if not isinstance(steps, list | tuple) or not 2 <= len(steps) <= 20:
            raise ValueError("params.steps: expected a list of 2 to 20 activity names")
        for i, step in enumerate(steps):
            if not isinstance(step, str) or not step.strip():
                raise ValueError(f"params.steps[{i}]: expected an activity name, got {step!r}")
        breakdown = data.get("breakdown") or None
        if breakdown is not None and (not isinstance(breakdown, str) or breakdown in _LOG_KEYS):
            raise ValueError(f"params.breakdown: expected an attribute column, got {breakdown!r}")
        max_ids = data.get("max_case_ids", 1000)
        if isinstance(max_ids, bool) or not isinstance(max_ids, int) or not 0 <= max_ids <= 100_000:
            raise ValueError(f"params.max_case_ids: expected 0..100000, got {max_ids!r}")
        return cls(
            steps=tuple(step.strip() for step in steps), breakdown=breakdown, max_case_ids=max_ids
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": list(self.steps),
            "breakdown": self.breakdown,
            "max_case_ids": self.max_case_ids,
        }


def check_params(params: dict[str, Any]) -> dict[str, Any]:
    return FunnelParams.from_dict(params).to_dict()


def _seconds(later: ir.Value, earlier: ir.Value) -> ir.FloatingValue:
    return later.delta(earlier, unit="millisecond").cast("float64") / 1000.0


def funnel_cases(log: ir.Table, params: FunnelParams) -> ir.Table:
    """One row per case that did step 1: `group` (the breakdown value at its step-1 event),
    and p1..pn / t1..tn, the position and time of each step reached (null from the first
    step it missed on)."""
    import ibis

    window = ibis.window(group_by=log.case_id, order_by=[log.timestamp, log.ord])
    ordered = log.mutate(pos=ibis.row_number().over(window))
    first = ordered.filter(ordered.activity == params.steps[0])
    earliest = ibis.row_number().over(group_by=first.case_id, order_by=first.pos)
    first = first.filter(earliest == 0)
    group = (
        first[params.breakdown].cast("string").fill_null(NONE)
        if params.breakdown
        else ibis.literal(NONE)
    )
    wide = first.select("case_id", group=group, p1=first.pos, t1=first.timestamp)
    for n, step in enumerate(params.steps[1:], start=2):
        before = wide.filter(wide[f"p{n - 1}"].notnull()).select(
            "case_id", previous=wide[f"p{n - 1}"]
        )
        matches = ordered.filter(ordered.activity == step).join(before, "case_id")
        matches = matches.filter(matches.pos > matches.previous)
        reached = matches.group_by("case_id").aggregate(
            **{f"p{n}": matches.pos.min(), f"t{n}": matches.timestamp.min()}
        )
        wide = wide.left_join(reached, "case_id").select(
            *wide.columns, reached[f"p{n}"], reached[f"t{n}"]
        )
    return wide


def _figures(wide: ir.Table, steps: int, by: list[str]) -> ir.Table:
    """Cases reaching each step, and mean/median seconds from the previous step and overall."""
    measures: dict[str, Any] = {"reached_1": wide.p1.count()}
    for n in range(2, steps + 1):
        gap = _seconds(wide[f"t{n}"], wide[f"t{n - 1}"])
        measures[f"reached_{n}"] = wide[f"p{n}"].count()
        measures[f"mean_{n}"] = gap.mean()
        measures[f"median_{n}"] = gap.median()
    total = _seconds(wide[f"t{steps}"], wide.t1)
    measures["mean_total"] = total.mean()
    measures["median_total"] = total.median()
    return wide.group_by(by).aggregate(**measures) if by else wide.aggregate(**measures)


def _number(value: Any, digits: int = 3) -> float | None:
    if value is None or value != value:  # None or NaN
        return None
    return round(float(value), digits)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _steps_of(row: dict[str, Any], params: FunnelParams) -> list[dict[str, Any]]:
    entered = int(row["reached_1"])
    out = []
    for n, activity in enumerate(params.steps, start=1):
        reached = int(row[f"reached_{n}"])
        previous = int(row[f"reached_{n - 1}"]) if n > 1 else reached
        out.append(
            {
                "step": n,
                "activity": activity,
                "cases": reached,
                "conversion": _share(reached, entered),
                "from_previous": _share(reached, previous),
                "dropped": previous - reached,
                "mean_s_from_previous": _number(row.get(f"mean_{n}")),
                "median_s_from_previous": _number(row.get(f"median_{n}")),
            }
        )
    return out


def funnel(
    log: ir.Table, params: FunnelParams, progress: Progress = _no_progress
) -> dict[str, Any]:
    """Conversion and drop-off per step of the funnel over `log`."""
    if params.breakdown and params.breakdown not in log.columns:
        choices = [c for c in log.columns if c not in _LOG_KEYS]
        raise ValueError(
            f"params.breakdown: the event log has no column {params.breakdown!r}; "
            f"expected one of {choices}"
        )
    progress(0.05, "finding each case's steps")
    wide = funnel_cases(log, params)
    count = len(params.steps)
    progress(0.3, "counting conversions")
    cases_total = int(log.case_id.nunique().to_pyarrow().as_py())
    overall = _figures(wide, count, []).to_pyarrow().to_pylist()[0]
    steps = _steps_of(overall, params)

    progress(0.55, "listing dropped-out cases")
    for n in range(2, count + 1):
        dropped = wide.filter(wide[f"p{n - 1}"].notnull() & wide[f"p{n}"].isnull())
        ids = dropped.select("case_id").order_by("case_id").limit(params.max_case_ids).to_pyarrow()
        listed = [str(v) for v in ids.column("case_id").to_pylist()]
        steps[n - 1]["dropped_case_ids"] = listed
        steps[n - 1]["dropped_listed_all"] = len(listed) == steps[n - 1]["dropped"]
    steps[0]["dropped_case_ids"] = []
    steps[0]["dropped_listed_all"] = True

    breakdown: dict[str, Any] | None = None
    if params.breakdown:
        progress(0.8, f"breaking down by {params.breakdown}")
        rows = _figures(wide, count, ["group"]).to_pyarrow().to_pylist()
        groups = [
            {
                "value": row["group"],
                "entered": int(row["reached_1"]),
                "converted": int(row[f"reached_{count}"]),
                "conversion": _share(int(row[f"reached_{count}"]), int(row["reached_1"])),
                "steps": _steps_of(row, params),
            }
            for row in rows
        ]
        groups.sort(key=lambda g: (-g["entered"], str(g["value"])))
        breakdown = {"attribute": params.breakdown, "groups": groups}

    entered = steps[0]["cases"]
    converted = steps[-1]["cases"]
    return {
        "steps": steps,
        "cases_total": cases_total,
        "entered": entered,
        "converted": converted,
        "conversion": _share(converted, entered),
        "mean_s_to_convert": _number(overall["mean_total"]),
        "median_s_to_convert": _number(overall["median_total"]),
        "breakdown": breakdown,
        "headline": {
            "cases entered": entered,
            "cases converted": converted,
            "conversion": _share(converted, entered),
            "median seconds to convert": _number(overall["median_total"]),
        },
    }


def compute(spec: dict[str, Any], params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """The 'funnel' analysis run over the spec's event log."""
    from c360.journeys.eventlog import LogSpec, event_log
    from c360.warehouse import get_warehouse

    log = event_log(get_warehouse(), LogSpec.from_dict(spec))
    return funnel(log, FunnelParams.from_dict(params), progress)
