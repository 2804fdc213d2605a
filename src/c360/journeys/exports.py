"""Exports: models as PNML and BPMN, maps and models as SVG or PNG, the event log as CSV or XES.

Pictures are drawn by Graphviz's `dot` (installed by `make install`); the log is streamed from
the warehouse a page of cases at a time, so a big log is never held in memory at once.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any
from xml.sax.saxutils import quoteattr

import ibis.expr.types as ir

from c360.journeys.queries import ProcessMap

IMAGE_FORMATS = ("svg", "png")
MAP_MEASURES = ("cases", "frequency", "mean", "median")
_BATCH_ROWS = 50_000
_PAGE_EVENTS = 500_000  # events read from the warehouse at a time


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.1f} s"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dfg_dot(pmap: ProcessMap, *, measure: str = "cases") -> str:
    """The process map in Graphviz's DOT language, edges labelled with `measure`."""
    if measure not in MAP_MEASURES:
        raise ValueError(f"measure: expected one of {', '.join(MAP_MEASURES)}, got {measure!r}")
    lines = [
        "digraph process_map {",
        "  rankdir=TB;",
        '  node [shape=box, style="rounded,filled", fillcolor="#dbe9f6", fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
        '  "▶" [shape=circle, label="", width=0.3, fillcolor="#3c8d40"];',
        '  "■" [shape=doublecircle, label="", width=0.25, fillcolor="#c0392b"];',
    ]
    for activity in pmap.activities:
        label = f"{activity.name}\\n{activity.events:,}"
        lines.append(f"  {_quoted(activity.name)} [label={_quoted(label)}];")
    for activity in pmap.activities:
        if activity.starts:
            lines.append(f'  "▶" -> {_quoted(activity.name)} [label="{activity.starts:,}"];')
        if activity.ends:
            lines.append(f'  {_quoted(activity.name)} -> "■" [label="{activity.ends:,}"];')
    top = max((e.frequency for e in pmap.edges), default=1)
    for edge in pmap.edges:
        if measure == "cases":
            label = f"{edge.cases:,}"
        elif measure == "frequency":
            label = f"{edge.frequency:,}"
        else:
            label = _duration(edge.mean_s if measure == "mean" else edge.median_s)
        width = 1 + 4 * edge.frequency / top
        lines.append(
            f"  {_quoted(edge.source)} -> {_quoted(edge.target)} "
            f'[label="{label}", penwidth={width:.2f}];'
        )
    lines.append("}")
    return "\n".join(lines)


def render_dot(dot: str, *, image_format: str) -> bytes:
    """A DOT graph drawn by Graphviz as SVG or PNG."""
    import graphviz  # type: ignore[import-untyped]

    if image_format not in IMAGE_FORMATS:
        raise ValueError(
            f"format: expected one of {', '.join(IMAGE_FORMATS)}, got {image_format!r}"
        )
    return bytes(graphviz.Source(dot).pipe(format=image_format))


def model_image(net: Any, *, image_format: str) -> bytes:
    """A Petri net (net, initial and final marking) drawn as SVG or PNG."""
    from pm4py.visualization.petri_net import visualizer

    if image_format not in IMAGE_FORMATS:
        raise ValueError(
            f"format: expected one of {', '.join(IMAGE_FORMATS)}, got {image_format!r}"
        )
    drawing = visualizer.apply(*net, parameters={"format": image_format})
    return bytes(drawing.pipe(format=image_format))


def pnml(net: Any) -> bytes:
    """A Petri net as PNML, with its initial and final markings."""
    from pm4py.objects.petri_net.exporter.variants import pnml as exporter

    text = exporter.export_petri_as_string(*net)
    return text if isinstance(text, bytes) else str(text).encode()


def bpmn(net: Any, tree: Any = None) -> bytes:
    """A model as BPMN 2.0 XML: from its process tree where there is one, else its net."""
    import pm4py
    from pm4py.objects.bpmn.exporter.variants import etree

    diagram = pm4py.convert_to_bpmn(tree) if tree is not None else pm4py.convert_to_bpmn(*net)
    text = etree.get_xml_string(diagram)
    return text if isinstance(text, bytes) else str(text).encode()


def _pages(log: ir.Table, columns: list[str]) -> Iterator[Any]:
    """The log in Arrow batches, each case's events together and in order.

    Cases are split into pages by a hash of their id, and one page at a time is read (Ibis'
    batch reader does not work with every engine release, a filter does), so memory holds
    one page, never the whole log.
    """
    events = int(log.count().execute())
    pages = max(1, -(-events // _PAGE_EVENTS))
    for page in range(pages):
        part = log
        if pages > 1:
            bucket = (log.case_id.hash() % pages + pages) % pages
            part = log.filter(bucket == page)
        table = part.order_by(["case_id", "timestamp", "ord"]).select(*columns).to_pyarrow()
        yield from table.to_batches(max_chunksize=_BATCH_ROWS)


def log_csv(log: ir.Table) -> Iterator[bytes]:
    """The event log as CSV, case by case in order, streamed in Arrow batches."""
    import pyarrow.csv as pacsv

    columns = ["case_id", "activity", "timestamp", "event_id", "source_id", "channel"]
    header = True
    for batch in _pages(log, columns):
        buffer = io.BytesIO()
        pacsv.write_csv(batch, buffer, pacsv.WriteOptions(include_header=header))
        header = False
        yield buffer.getvalue()
    if header:  # no rows at all: still a header
        yield (",".join(f'"{name}"' for name in columns) + "\n").encode()


def log_xes(log: ir.Table) -> Iterator[bytes]:
    """The event log as XES (IEEE 1849): one trace per case, events in order, streamed."""
    yield (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<log xes.version="1849-2016" xes.features="nested-attributes" '
        b'xmlns="http://www.xes-standard.org/">\n'
        b'  <extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>\n'
        b'  <extension name="Time" prefix="time" uri="http://www.xes-standard.org/time.xesext"/>\n'
        b'  <global scope="event"><string key="concept:name" value="__INVALID__"/></global>\n'
    )
    current: str | None = None
    for batch in _pages(log, ["case_id", "activity", "timestamp", "channel"]):
        parts = []
        for row in batch.to_pylist():  # one batch at a time: bounded memory
            if row["case_id"] != current:
                if current is not None:
                    parts.append("  </trace>\n")
                current = row["case_id"]
                parts.append(
                    f'  <trace>\n    <string key="concept:name" value={quoteattr(current)}/>\n'
                )
            stamp = row["timestamp"].isoformat(timespec="milliseconds")
            channel = (
                f'\n      <string key="channel" value={quoteattr(row["channel"])}/>'
                if row["channel"] is not None
                else ""
            )
            parts.append(
                "    <event>\n"
                f'      <string key="concept:name" value={quoteattr(row["activity"])}/>\n'
                f'      <date key="time:timestamp" value="{stamp}"/>{channel}\n'
                "    </event>\n"
            )
        yield "".join(parts).encode()
    yield ("  </trace>\n</log>\n" if current is not None else "</log>\n").encode()
