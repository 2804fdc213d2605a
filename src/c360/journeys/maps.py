"""Process maps for the pages: Disco-style simplification and the DOT the browser draws.

The activity slider keeps the most frequent share of activities; the log is then projected
onto them (their events only, so the paths reconnect around the ones left out), which the
caller does in the warehouse with LogSpec.activities. The path slider keeps the most
significant share of edges of that map, and then adds back the fewest edges needed for every
kept activity to lie on a path from the start to the end. At 100% / 100% nothing is left out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from c360.journeys.queries import Activity, Edge, ProcessMap

START = "▶"  # the start and end nodes of the map; no activity is called this
END = "■"
MEASURES = ("cases", "frequency", "mean", "median")
PERFORMANCE = ("mean", "median")


@dataclass
class MapEdge:
    source: str  # START or an activity
    target: str  # END or an activity
    frequency: int
    cases: int
    mean_s: float | None = None  # None on the start and end edges
    median_s: float | None = None


@dataclass
class DrawnMap:
    """What the page draws: kept activities and edges, and what was left out."""

    cases: int
    events: int
    activities: list[Activity]
    edges: list[MapEdge]
    total_activities: int
    total_edges: int  # start and end edges included
    added_for_connection: int = 0  # edges the path slider left out but connectivity needed
    elements: dict[str, dict[str, Any]] = field(default_factory=dict)


def process_map_from_dict(data: dict[str, Any]) -> ProcessMap:
    """A stored process-map result (asdict of a ProcessMap) as a ProcessMap again."""
    try:
        return ProcessMap(
            cases=int(data["cases"]),
            events=int(data["events"]),
            activities=[Activity(**row) for row in data["activities"]],
            edges=[Edge(**row) for row in data["edges"]],
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"result: not a process map ({exc})") from None


def _percent(value: float, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise ValueError(f"{where}: expected a percentage from 0 to 100, got {value!r}")
    return float(value)


def top_activities(pmap: ProcessMap, percent: float) -> list[str]:
    """The most frequent `percent` of activities (at least one), most frequent first."""
    percent = _percent(percent, "activities")
    ranked = sorted(pmap.activities, key=lambda a: (-a.events, a.name))
    if not ranked:
        return []
    keep = max(1, math.ceil(len(ranked) * percent / 100 - 1e-9))
    return [a.name for a in ranked[:keep]]


def _all_edges(pmap: ProcessMap) -> list[MapEdge]:
    edges = [
        MapEdge(e.source, e.target, e.frequency, e.cases, e.mean_s, e.median_s) for e in pmap.edges
    ]
    for a in pmap.activities:
        if a.starts:
            edges.append(MapEdge(START, a.name, a.starts, a.starts))
        if a.ends:
            edges.append(MapEdge(a.name, END, a.ends, a.ends))
    # Most significant first: frequency, then a fixed order so the slider is deterministic.
    edges.sort(key=lambda e: (-e.frequency, e.source, e.target))
    return edges


def _reach(start: str, edges: Iterable[MapEdge], *, forward: bool) -> set[str]:
    nxt: dict[str, list[str]] = {}
    for e in edges:
        a, b = (e.source, e.target) if forward else (e.target, e.source)
        nxt.setdefault(a, []).append(b)
    seen = {start}
    todo = [start]
    while todo:
        for b in nxt.get(todo.pop(), []):
            if b not in seen:
                seen.add(b)
                todo.append(b)
    return seen


def keep_paths(pmap: ProcessMap, percent: float) -> tuple[list[MapEdge], int, int]:
    """The most significant `percent` of the map's edges (start and end edges included), plus
    the fewest needed for each activity to be reachable from the start and to reach the end.

    Returns the kept edges, how many edges the map has, and how many were added back.
    """
    percent = _percent(percent, "paths")
    candidates = _all_edges(pmap)
    keep = math.ceil(len(candidates) * percent / 100 - 1e-9)
    kept = candidates[:keep]
    chosen = {(e.source, e.target) for e in kept}
    added = 0
    names = {a.name for a in pmap.activities}

    def add(edge: MapEdge) -> None:
        nonlocal added
        kept.append(edge)
        chosen.add((edge.source, edge.target))
        added += 1

    # In a projected log every activity follows the start or another activity and is followed
    # by one or by the end, so each loop below finds an edge to add until all are connected.
    for forward in (True, False):
        anchor = START if forward else END
        while True:
            reached = _reach(anchor, kept, forward=forward)
            if names <= reached:
                break
            # The most frequent edge from what is connected to what is not (candidates are
            # sorted by frequency).
            bridge = next(
                (
                    e
                    for e in candidates
                    if (e.source, e.target) not in chosen
                    and (
                        (e.source in reached and e.target not in reached)
                        if forward
                        else (e.target in reached and e.source not in reached)
                    )
                ),
                None,
            )
            if bridge is None:  # a map not of one log: nothing more can connect it
                break
            add(bridge)
    kept.sort(key=lambda e: (-e.frequency, e.source, e.target))
    return kept, len(candidates), added


def simplify(projected: ProcessMap, *, total_activities: int, paths: float) -> DrawnMap:
    """The map of the projected log with the path slider applied."""
    edges, total_edges, added = keep_paths(projected, paths)
    return DrawnMap(
        cases=projected.cases,
        events=projected.events,
        activities=list(projected.activities),
        edges=edges,
        total_activities=total_activities,
        total_edges=total_edges,
        added_for_connection=added,
    )


def duration_text(seconds: float) -> str:
    """A short duration for an edge label: 45 s, 12 min, 3.5 h, 2.1 d."""
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _blue(share: float) -> tuple[str, str]:
    """Fill and font colour of an activity by its share of the busiest activity's count."""
    light, dark = (239, 244, 255), (41, 82, 204)
    rgb = [round(lo + (hi - lo) * share) for lo, hi in zip(light, dark, strict=True)]
    return "#{:02x}{:02x}{:02x}".format(*rgb), "#ffffff" if share > 0.55 else "#1d2433"


def map_dot(drawn: DrawnMap, *, measure: str = "cases") -> str:
    """The drawn map as DOT: activities as boxes with their count, start and end as circles,
    edges labelled with `measure` and as thick as they are frequent (or slow, for a
    performance measure). Fills drawn.elements: the SVG id of each node and edge."""
    if measure not in MEASURES:
        raise ValueError(f"measure: expected one of {', '.join(MEASURES)}, got {measure!r}")
    performance = measure in PERFORMANCE
    lines = [
        "digraph process_map {",
        '  graph [rankdir=TB, nodesep=0.35, ranksep=0.45, bgcolor="transparent"];',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=12, '
        'penwidth=1.2, color="#5b6b8c", margin="0.18,0.08"];',
        '  edge [fontname="Helvetica", fontsize=10, arrowsize=0.7];',
        f'  start [id="start", shape=circle, label="", width=0.32, fillcolor="#3c8d40", '
        f'color="#2e6b31", tooltip="Start: {drawn.cases:,} cases"];',
        '  end [id="end", shape=doublecircle, label="", width=0.26, fillcolor="#c0392b", '
        'color="#8e2a20", tooltip="End"];',
    ]
    elements: dict[str, dict[str, Any]] = {
        "start": {"kind": "start"},
        "end": {"kind": "end"},
    }
    node_id = {START: "start", END: "end"}
    top_events = max((a.events for a in drawn.activities), default=1) or 1
    for i, activity in enumerate(drawn.activities):
        nid = f"a{i}"
        node_id[activity.name] = nid
        count = activity.cases if measure == "cases" else activity.events
        fill, font = _blue(activity.events / top_events)
        label = f"{activity.name}\n{count:,}"
        tooltip = f"{activity.name}: {activity.events:,} events in {activity.cases:,} cases"
        lines.append(
            f"  {nid} [id={_quoted(nid)}, label={_quoted(label)}, fillcolor={_quoted(fill)}, "
            f"fontcolor={_quoted(font)}, tooltip={_quoted(tooltip)}];"
        )
        elements[nid] = {"kind": "activity", "name": activity.name, "count": count}
    top_freq = max((e.frequency for e in drawn.edges), default=1) or 1
    top_time = max((e.mean_s or 0.0 for e in drawn.edges if e.mean_s is not None), default=0.0)
    for i, edge in enumerate(drawn.edges):
        eid = f"e{i}"
        terminal = edge.source == START or edge.target == END
        if performance:
            seconds = edge.mean_s if measure == "mean" else edge.median_s
            label = "" if terminal or seconds is None else duration_text(seconds)
            weight = (edge.mean_s or 0.0) / top_time if top_time and not terminal else 0.0
            colour = "#b42318" if not terminal else "#98a2b3"
        else:
            label = f"{edge.cases if measure == 'cases' else edge.frequency:,}"
            weight = edge.frequency / top_freq
            colour = "#475467" if not terminal else "#98a2b3"
        style = ', style="dashed"' if terminal else ""
        tooltip = f"{edge.source} → {edge.target}: {edge.frequency:,} times in {edge.cases:,} cases"
        if edge.mean_s is not None and edge.median_s is not None:
            tooltip += f", mean {duration_text(edge.mean_s)}, median {duration_text(edge.median_s)}"
        lines.append(
            f"  {node_id[edge.source]} -> {node_id[edge.target]} [id={_quoted(eid)}, "
            f"label={_quoted(label)}, penwidth={1 + 5 * weight:.2f}, color={_quoted(colour)}, "
            f"fontcolor={_quoted(colour)}, tooltip={_quoted(tooltip)}{style}];"
        )
        elements[eid] = {
            "kind": "edge",
            "source": None if edge.source == START else edge.source,
            "target": None if edge.target == END else edge.target,
            "label": label,
        }
    lines.append("}")
    drawn.elements = elements
    return "\n".join(lines)


def petri_dot(model: dict[str, Any]) -> str:
    """A discovered model's Petri net (as discovery.Model.to_dict() stores it) in DOT:
    places as circles (initial marked green, final red), transitions as boxes, silent ones
    as small black bars."""
    lines = [
        "digraph petri_net {",
        '  graph [rankdir=LR, bgcolor="transparent", nodesep=0.3, ranksep=0.35];',
        '  node [fontname="Helvetica", fontsize=10];',
        '  edge [arrowsize=0.6, color="#475467"];',
    ]
    for place in model.get("places", []):
        fill = "#3c8d40" if place.get("initial") else "#c0392b" if place.get("final") else "#fff"
        lines.append(
            f'  {_quoted(place["id"])} [shape=circle, label="", width=0.28, style=filled, '
            f"fillcolor={_quoted(fill)}, tooltip={_quoted(place.get('name', ''))}];"
        )
    for transition in model.get("transitions", []):
        label = transition.get("label")
        if label is None:
            lines.append(
                f'  {_quoted(transition["id"])} [shape=box, label="", width=0.12, height=0.4, '
                'style=filled, fillcolor="#1d2433", tooltip="silent step"];'
            )
        else:
            lines.append(
                f"  {_quoted(transition['id'])} [shape=box, label={_quoted(str(label))}, "
                'style="rounded,filled", fillcolor="#dbe6fb", color="#5b6b8c"];'
            )
    for arc in model.get("arcs", []):
        lines.append(f"  {_quoted(arc['source'])} -> {_quoted(arc['target'])};")
    lines.append("}")
    return "\n".join(lines)
