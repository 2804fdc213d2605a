"""Event logs: which events of which sources form the cases and activities of an analysis.

A LogSpec says how to cut the warehouse's `events` into a process-mining event log; event_log()
turns it into an Ibis expression (nothing is read until a query runs it), ordered_log() puts it
in case order once for the counts of queries.py, and traces() folds it into one row per case.
All run on any Ibis backend: DuckDB embedded, PySpark at scale.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import ibis
import ibis.expr.types as ir

from c360.warehouse.schema import JOURNEY_COLUMNS

# The identifiers a person is found by, strongest first: an event's person is the one of its
# strongest identifier the identity map links to someone.
PERSON_ID_TYPES = (
    "customer_id",
    "user_id",
    "email",
    "phone",
    "anonymous_id",
    "device_id",
    "session_id",
)

# Columns of `events` that can name a case, an activity or a filter attribute.
TEXT_COLUMNS = (
    "type",
    "event",
    "message_id",
    "user_id",
    "anonymous_id",
    "customer_id",
    "email",
    "phone",
    "session_id",
    "device_id",
    *JOURNEY_COLUMNS,
)
# The event columns every log carries besides case, activity, timestamp and order.
LOG_COLUMNS = ("type", *JOURNEY_COLUMNS, "experience_score")

ACTIVITY_SEPARATOR = " · "
# A missing part of a combined activity ("visit · (none)"); an event missing every part has no
# activity and is left out.
MISSING_PART = "(none)"

# Ingestion order as one int64: batch ids are metadata primary keys, and a batch holds far
# fewer than 2**32 rows, so batch_id * 2**32 + row_number sorts exactly like the pair.
_ROWS_PER_BATCH = 2**32

# traces(): events are ordered through text keys. Times are counted from 1800 (journeys are
# later), in 18 digits (enough until the year 3000); the two control characters separate keys
# and steps and so cannot occur in an activity name.
_ORIGIN = ibis.literal(datetime(1800, 1, 1, tzinfo=UTC), type="timestamp('UTC')")
_TIME_DIGITS = 18
_ORD_DIGITS = 20
_KEY_END = "\x1f"
_STEP = "\x1e"


class TableSource(Protocol):
    """Anything with warehouse tables by name: a Warehouse, or a test's PySpark catalogue."""

    def table(self, name: str) -> ir.Table: ...


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ValueError(f"{where}: expected a list of strings, got {value!r}")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"{where}[{i}]: expected a non-empty string, got {item!r}")
        out.append(item.strip())
    return tuple(out)


def _field_name(name: str, where: str) -> str:
    """A column of `events` or "property:<key>"; anything else is refused."""
    if name.startswith("property:"):
        key = name.removeprefix("property:")
        if not key or not key.replace("_", "").replace("-", "").replace(".", "").isalnum():
            raise ValueError(
                f"{where}: a property key is letters, digits, '_', '-' or '.', got {key!r}"
            )
        return name
    if name not in TEXT_COLUMNS:
        raise ValueError(
            f"{where}: {name!r} is not an event column; expected one of "
            f"{', '.join(TEXT_COLUMNS)} or property:<key>"
        )
    return name


def _time(value: Any, where: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"{where}: expected an ISO 8601 time such as 2024-03-01T00:00:00Z, got {value!r}"
            ) from None
    if not isinstance(value, datetime):
        raise ValueError(f"{where}: expected an ISO 8601 time, got {value!r}")
    if value.tzinfo is None:
        raise ValueError(f"{where}: give the time zone (e.g. a trailing Z for UTC): {value!r}")
    return value.astimezone(UTC)


@dataclass(frozen=True)
class LogSpec:
    """How an event log is cut from the events of some sources (see docs/journeys.md)."""

    source_ids: tuple[int, ...]
    case: str = "person"
    activity: tuple[str, ...] = ("event",)
    start: datetime | None = None
    end: datetime | None = None
    channels: tuple[str, ...] = ()
    activities: tuple[str, ...] = ()
    attributes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    containing: tuple[str, ...] = ()
    not_containing: tuple[str, ...] = ()
    cases: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not self.source_ids:
            raise ValueError("source_ids: an event log needs at least one event source")
        if self.case not in ("person", "session"):
            prefix, sep, rest = self.case.partition(":")
            if not sep or prefix not in ("column", "property") or not rest:
                raise ValueError(
                    "case: expected 'person', 'session', 'column:<events column>' or "
                    f"'property:<key>', got {self.case!r}"
                )
            _field_name(rest if prefix == "column" else self.case, "case")
        if not self.activity:
            raise ValueError("activity: name at least one column the activity is made of")
        for i, name in enumerate(self.activity):
            _field_name(name, f"activity[{i}]")
        for name in self.attributes:
            _field_name(name, f"attributes.{name}")
        if self.start and self.end and self.start >= self.end:
            raise ValueError(
                f"end: the time range is empty ({self.start.isoformat()} is not before "
                f"{self.end.isoformat()})"
            )
        clash = set(self.containing) & set(self.not_containing)
        if clash:
            raise ValueError(
                f"not_containing: {sorted(clash)} is also in containing, so no case can match"
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LogSpec:
        """A spec from JSON-like data; a ValueError names the field that is wrong and why."""
        if not isinstance(data, Mapping):
            raise ValueError(f"log spec: expected an object, got {type(data).__name__}")
        known = {
            "source_ids",
            "case",
            "activity",
            "start",
            "end",
            "channels",
            "activities",
            "attributes",
            "containing",
            "not_containing",
            "cases",
        }
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"log spec: unknown field(s) {unknown}; expected {sorted(known)}")
        raw_sources = data.get("source_ids")
        if not isinstance(raw_sources, list | tuple) or not raw_sources:
            raise ValueError("source_ids: expected a non-empty list of event source ids")
        for i, source_id in enumerate(raw_sources):
            if isinstance(source_id, bool) or not isinstance(source_id, int):
                raise ValueError(
                    f"source_ids[{i}]: expected a source id (integer), got {source_id!r}"
                )
        case = data.get("case", "person")
        if not isinstance(case, str):
            raise ValueError(f"case: expected a string, got {case!r}")
        activity = data.get("activity", ["event"])
        if isinstance(activity, str):
            activity = [activity]
        raw_attributes = data.get("attributes") or {}
        if not isinstance(raw_attributes, Mapping):
            raise ValueError(
                f"attributes: expected an object of column -> values, got {raw_attributes!r}"
            )
        attributes = {
            str(name): _strings(values, f"attributes.{name}")
            for name, values in raw_attributes.items()
        }
        for name, values in attributes.items():
            if not values:
                raise ValueError(f"attributes.{name}: list at least one allowed value")
        cases = data.get("cases")
        return cls(
            source_ids=tuple(sorted(set(raw_sources))),
            case=case.strip(),
            activity=_strings(activity, "activity"),
            start=_time(data.get("start"), "start"),
            end=_time(data.get("end"), "end"),
            channels=_strings(data.get("channels"), "channels"),
            activities=_strings(data.get("activities"), "activities"),
            attributes=attributes,
            containing=_strings(data.get("containing"), "containing"),
            not_containing=_strings(data.get("not_containing"), "not_containing"),
            cases=None if cases is None else _strings(cases, "cases"),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able; from_dict(to_dict()) gives the same spec back."""
        return {
            "source_ids": list(self.source_ids),
            "case": self.case,
            "activity": list(self.activity),
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "channels": list(self.channels),
            "activities": list(self.activities),
            "attributes": {name: list(values) for name, values in self.attributes.items()},
            "containing": list(self.containing),
            "not_containing": list(self.not_containing),
            "cases": None if self.cases is None else list(self.cases),
        }


def _value(events: ir.Table, name: str) -> ir.StringValue:
    """A text column of `events`, or a key of its JSON properties as text."""
    if name.startswith("property:"):
        value = events.properties[name.removeprefix("property:")]
        # a string property as itself, a number or boolean as its JSON text
        text = value.str.fill_null(value.cast("string"))
        return ibis.cases((text == "null", ibis.null("string")), else_=text)
    return events[name].cast("string")


def _activity(events: ir.Table, names: tuple[str, ...]) -> ir.StringValue:
    parts = [_value(events, name) for name in names]
    if len(parts) == 1:
        return parts[0]
    joined = parts[0].fill_null(MISSING_PART)
    for part in parts[1:]:
        joined = joined.concat(ACTIVITY_SEPARATOR, part.fill_null(MISSING_PART))
    return ibis.cases((ibis.coalesce(*parts).isnull(), ibis.null("string")), else_=joined)


def _persons(source: TableSource, events: ir.Table) -> ir.Table:
    """event_id -> person_id through the identity map, by the events' strongest identifier."""
    identifiers = source.table("identifiers")
    identity_map = source.table("identity_map")
    rank = ibis.cases(
        *((identifiers.id_type == id_type, i) for i, id_type in enumerate(PERSON_ID_TYPES)),
        else_=len(PERSON_ID_TYPES),
    )
    mine = identifiers.filter(
        (identifiers.record_table == "events") & identifiers.id_type.isin(PERSON_ID_TYPES)
    ).select(
        event_id=identifiers.record_id,
        id_type=identifiers.id_type,
        id_value=identifiers.id_value,
        rank=rank,
    )
    mine = mine.semi_join(events.select("event_id"), "event_id")
    found = mine.join(
        identity_map.filter(identity_map.person_id.notnull()).select(
            "id_type", "id_value", "person_id", "linked"
        ),
        ["id_type", "id_value"],
    )
    # A linked identifier beats one a merge rule kept apart, whatever their types.
    strongest = ibis.row_number().over(
        group_by=found.event_id,
        order_by=[found.linked.fill_null(False).desc(), found.rank, found.id_value],
    )
    return found.filter(strongest == 0).select("event_id", "person_id")


def event_log(source: TableSource, spec: LogSpec) -> ir.Table:
    """The event log of `spec`: case_id, activity, timestamp, ord, event_id, source_id and the
    promoted journey columns. Events without a case, activity or time are left out."""
    events = source.table("events")
    events = events.filter(events.source_id.isin(list(spec.source_ids)))
    events = events.filter(events.timestamp.notnull())
    if spec.start is not None:
        events = events.filter(events.timestamp >= spec.start)
    if spec.end is not None:
        events = events.filter(events.timestamp < spec.end)
    if spec.channels:
        events = events.filter(events.channel.isin(list(spec.channels)))
    for name, allowed in spec.attributes.items():
        events = events.filter(_value(events, name).isin(list(allowed)))

    if spec.case == "person":
        events = events.join(_persons(source, events), "event_id")
        case_id = events.person_id
    elif spec.case == "session":
        case_id = events.session_id
    elif spec.case.startswith("column:"):
        case_id = events[spec.case.removeprefix("column:")]
    else:
        case_id = _value(events, spec.case)

    log = events.select(
        case_id=case_id.cast("string"),
        activity=_activity(events, spec.activity),
        timestamp=events.timestamp,
        ord=events.batch_id.cast("int64") * _ROWS_PER_BATCH + events.row_number.cast("int64"),
        event_id=events.event_id,
        source_id=events.source_id,
        **{name: events[name] for name in LOG_COLUMNS},
    )
    log = log.filter(log.case_id.notnull() & log.activity.notnull())

    if spec.cases is not None:
        log = log.filter(log.case_id.isin(list(spec.cases)))
    for wanted in spec.containing:
        having = log.filter(log.activity == wanted).select("case_id").distinct()
        log = log.semi_join(having, "case_id")
    if spec.not_containing:
        unwanted = log.filter(log.activity.isin(list(spec.not_containing)))
        log = log.anti_join(unwanted.select("case_id").distinct(), "case_id")
    # The activity filter comes last, so "cases containing X" still sees X when only other
    # activities are kept for the map.
    if spec.activities:
        log = log.filter(log.activity.isin(list(spec.activities)))
    return log


def traces(log: ir.Table) -> ir.Table:
    """One row per case: case_id, activities (in order), start, end, duration_s, events."""
    # Ordered aggregation is not portable (PySpark's collect_list has no ORDER BY) and DuckDB
    # refuses the lambda syntax Ibis writes for ArrayMap, so each event becomes a text key that
    # sorts in case order: microseconds since _ORIGIN, ingestion order, a separator and the
    # activity. The sorted keys are joined, stripped of their prefixes and split again.
    key = (
        log.timestamp.delta(_ORIGIN, unit="microsecond")
        .cast("string")
        .lpad(_TIME_DIGITS, "0")
        .concat(log.ord.cast("string").lpad(_ORD_DIGITS, "0"), _KEY_END, log.activity)
    )
    per_case = log.group_by("case_id").agg(
        keys=key.collect(),
        start=log.timestamp.min(),
        end=log.timestamp.max(),
        events=log.count(),
    )
    in_order = (
        per_case.keys.sort()
        .join(_STEP)
        .re_replace(f"[0-9]{{{_TIME_DIGITS + _ORD_DIGITS}}}{_KEY_END}", "")
        .split(_STEP)
    )
    return per_case.select(
        "case_id",
        activities=in_order,
        start=per_case.start,
        end=per_case.end,
        duration_s=per_case.end.delta(per_case.start, unit="microsecond").cast("float64") / 1e6,
        events=per_case.events.cast("int64"),
    )


# How many with-blocks hold each materialised expression (see materialised()).
_HOLDERS: dict[Any, int] = {}
_HOLDERS_LOCK = threading.Lock()


@contextmanager
def materialised(table: ir.Table) -> Iterator[ir.Table]:
    """`table` computed once and held by its backend (a temporary table, a cached Spark frame)
    for the time of the with-block.

    Ibis keeps one cache per expression, so a block nested in another over the same expression
    (a process_map(log) inside ordered_log(log)) shares it: the outermost block releases it.
    """
    key = table.op()
    cached = table.cache()
    with _HOLDERS_LOCK:
        _HOLDERS[key] = _HOLDERS.get(key, 0) + 1
    try:
        yield cached
    finally:
        with _HOLDERS_LOCK:
            _HOLDERS[key] -= 1
            last = _HOLDERS[key] == 0
            if last:
                del _HOLDERS[key]
        if last:
            cached.release()


@dataclass(frozen=True)
class OrderedLog:
    """An event log in case order, materialised once so that several counts share one sort.

    `steps` holds one row per event: case_no (the case's number when case ids are sorted),
    position (0 for a case's first event), code (the activity's index in `activities`),
    timestamp, and the next event's next_code and next_timestamp (null for a case's last
    event).
    """

    steps: ir.Table
    activities: tuple[str, ...]


@contextmanager
def ordered_log(log: ir.Table) -> Iterator[OrderedLog]:
    """The log in case order (time, then ingestion order), held by the backend while in use.

    The one window over the log (the sort that costs most) runs once here; the directly-follows
    counts, the variants and the case statistics of queries.py then read the result. Activities
    become small integer codes first: the sort and every count after it move integers, not names.
    """
    # The codes are a query too, not a table sent from Python: Ibis' PySpark backend does not
    # register in-memory tables for a query it caches.
    codes = log.select("activity").distinct()
    codes = codes.mutate(code=ibis.row_number().over(order_by=codes.activity))
    found = codes.to_pyarrow().to_pydict()
    activities = [""] * len(found["code"])
    for name, code in zip(found["activity"], found["code"], strict=True):
        activities[code] = name
    # Cases get numbers too: sorting and grouping by an integer is cheaper than by a text, and
    # numbers in case id order keep "the smallest case id" a question about numbers.
    cases = log.select("case_id").distinct()
    cases = cases.mutate(case_no=ibis.row_number().over(order_by=cases.case_id))
    coded = (
        log.select("case_id", "activity", "timestamp", "ord")
        .join(codes, "activity")
        .join(cases, "case_id")
    )
    in_case = ibis.window(group_by=coded.case_no, order_by=[coded.timestamp, coded.ord])
    steps = coded.select(
        "case_no",
        "code",
        "timestamp",
        position=ibis.row_number().over(in_case),
        next_code=coded.code.lead().over(in_case),
        # Times stay timestamps here: turning them into numbers costs (DuckDB goes through its
        # calendar for a time-zone-aware value), so only the counts that need gaps pay for it.
        next_timestamp=coded.timestamp.lead().over(in_case),
    )
    with materialised(steps) as cached:
        yield OrderedLog(steps=cached, activities=tuple(activities))
