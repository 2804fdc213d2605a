"""Process mining at scale: our warehouse path against pm4py.discover_dfg on the same events.

    .venv/bin/python bench/bench_mining.py [--events 1000000 10000000] [--activities 30]

For each size, generates an event log (about 10 events per case, a few dozen activities
walking a fixed random process), writes it as Parquet and loads it into a fresh embedded
DuckDB warehouse with the warehouse's own append (not the CSV import, to keep set-up quick).
Then, each in a fresh process so its peak memory is its own:

- ours: from the warehouse's `events` table to the results: the event log (case =
  customer_id) put in case order once, its directly-follows graph with start/end activities,
  edge times and case frequencies, its variants (counts, durations, the 100 most frequent
  sequences), and an Inductive (IMd) model of the DFG;
- pm4py: pm4py.discover_dfg on a pandas DataFrame read from the same Parquet file. Only the
  discover_dfg call is timed (reading the Parquet is not).

Library imports (pm4py, DuckDB, Ibis) happen before either clock starts. Prints the times,
their ratio and each process's peak resident memory (VmHWM).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out"
EVENTS_PER_CASE = 10
BATCH_ROWS = 1_000_000  # rows per import batch, as a feed would land them
# DuckDB's memory cap while measuring: room for the sort of 10 million events without spilling
# to disk, and below the 2 GB the whole process may use.
WAREHOUSE_MEMORY = "1536MB"


def _peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), in MB, read from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _generate(events: int, activities: int, seed: int = 6) -> Any:
    """An Arrow table of `events` events: cases walk a random process over `activities`."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    names = np.array([f"activity {i:02d}" for i in range(activities)], dtype=object)
    # A sparse process: each activity has 3 likely successors, and some noise elsewhere.
    weights = rng.random((activities, activities)) * 0.02
    for a in range(activities):
        for b in rng.choice(activities, 3, replace=False):
            weights[a, b] += rng.random() + 0.2
    cumulative = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)

    cases = events // EVENTS_PER_CASE
    lengths = rng.integers(EVENTS_PER_CASE // 2, EVENTS_PER_CASE * 3 // 2 + 1, cases)
    lengths[-1] += events - int(lengths.sum())  # exactly `events` in all
    while lengths[-1] < 1:  # give the last case at least one event
        donor = int(np.argmax(lengths[:-1]))
        lengths[donor] -= 1
        lengths[-1] += 1
    case_of = np.repeat(np.arange(cases), lengths)
    step = np.arange(events) - np.repeat(np.cumsum(lengths) - lengths, lengths)

    state = rng.integers(0, 3, cases)  # three start activities
    activity = np.empty(events, dtype=np.int64)
    for k in range(int(lengths.max())):
        here = step == k
        activity[here] = state[case_of[here]]
        draw = rng.random(cases)
        state = np.minimum((cumulative[state] < draw[:, None]).sum(axis=1), activities - 1)

    start = np.datetime64("2024-01-01T00:00:00", "s").astype("datetime64[us]")
    case_start = rng.integers(0, 365 * 24 * 3600, cases) * 1_000_000
    gaps = rng.exponential(3600.0, events) * 1_000_000
    # within a case, each event a random gap after the previous one
    elapsed = np.cumsum(gaps.astype(np.int64))
    elapsed -= np.repeat(elapsed[np.cumsum(lengths) - lengths], lengths)
    timestamps = start + (case_start[case_of] + elapsed).astype("timedelta64[us]")
    # Events arrive in time order across cases, as a live feed lands them.
    order = np.argsort(timestamps, kind="stable")
    timestamps, case_of, activity = timestamps[order], case_of[order], activity[order]
    rows = np.arange(events)
    return pa.table(
        {
            "event_id": pa.array([f"e{i}" for i in range(events)]),
            "source_id": pa.array(np.ones(events, dtype=np.int64)),
            "batch_id": pa.array(rows // BATCH_ROWS + 1),
            "row_number": pa.array(rows % BATCH_ROWS + 1),
            "ingested_at": pa.array(
                np.full(events, np.datetime64("2025-01-01T00:00:00", "us")),
                pa.timestamp("us", tz="UTC"),
            ),
            "type": pa.array(["track"] * events),
            "event": pa.array(names[activity]),
            "timestamp": pa.array(timestamps, pa.timestamp("us", tz="UTC")),
            "customer_id": pa.array([f"c{i}" for i in case_of]),
        }
    )


def _prepare(events: int, activities: int) -> Path:
    import pyarrow.parquet as pq

    from c360.warehouse import connect

    where = OUT / f"mining-{events}"
    done = where / "ready"
    if done.exists():
        return where
    where.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    table = _generate(events, activities)
    pq.write_table(table, where / "events.parquet")
    database = where / "warehouse.duckdb"
    database.unlink(missing_ok=True)
    warehouse = connect(f"duckdb://{database}", memory_limit="1GB")
    warehouse.migrate()
    with warehouse.writer() as writer:
        writer.append("events", table, all_new=True)
    warehouse.close()
    done.write_text(datetime.now(UTC).isoformat())
    print(f"  generated and loaded {events:,} events in {time.monotonic() - began:.1f} s")
    return where


def _measure_ours(where: Path) -> dict[str, Any]:
    # pm4py's import takes seconds; the pm4py side imports it before its clock starts too.
    from pm4py.algo.discovery.inductive import algorithm as inductive
    from pm4py.objects.conversion.process_tree import converter
    from pm4py.objects.dfg.obj import DFG

    from c360.journeys.eventlog import LogSpec, event_log, ordered_log
    from c360.journeys.queries import directly_follows, process_map, variants
    from c360.warehouse import connect

    warehouse = connect(f"duckdb://{where / 'warehouse.duckdb'}", memory_limit=WAREHOUSE_MEMORY)
    log = event_log(warehouse, LogSpec(source_ids=(1,), case="column:customer_id"))
    laps = [time.monotonic()]
    with ordered_log(log) as ordered:
        laps.append(time.monotonic())
        dfg = directly_follows(ordered)
        laps.append(time.monotonic())
        found = variants(ordered, limit=100)
        laps.append(time.monotonic())
        # IMd as discovery runs it: pm4py's inductive miner on the warehouse's DFG, to a net
        tree = inductive.apply(
            DFG(dfg.graph, dfg.start_activities, dfg.end_activities),
            variant=inductive.Variants.IMd,
        )
        converter.apply(tree)
        laps.append(time.monotonic())
        # Not in the comparison (pm4py's DFG has neither): the whole process map, with edge
        # times and case frequencies, on the same ordered log.
        pmap = process_map(ordered)
        map_s = time.monotonic() - laps[-1]
    order_s, dfg_s, variants_s, imd_s = (b - a for a, b in pairwise(laps))
    if pmap.graph != dfg.graph:
        raise RuntimeError("the process map and the DFG disagree")
    return {
        "seconds": laps[-1] - laps[0],
        "order_s": order_s,
        "dfg_s": dfg_s,
        "variants_s": variants_s,
        "imd_s": imd_s,
        "map_s": map_s,
        "edges": len(dfg.graph),
        "cases": sum(dfg.end_activities.values()),
        "variants": found.total_variants,
        "peak_rss_mb": _peak_rss_mb(),
        "dfg": [
            sorted([s, t, n] for (s, t), n in dfg.graph.items()),
            sorted(dfg.start_activities.items()),
            sorted(dfg.end_activities.items()),
        ],
    }


def _measure_pm4py(where: Path) -> dict[str, Any]:
    import pandas as pd
    import pm4py

    frame = pd.read_parquet(where / "events.parquet", columns=["customer_id", "event", "timestamp"])
    began = time.monotonic()
    dfg, starts, ends = pm4py.discover_dfg(
        frame, activity_key="event", timestamp_key="timestamp", case_id_key="customer_id"
    )
    seconds = time.monotonic() - began
    return {
        "seconds": seconds,
        "edges": len(dfg),
        "peak_rss_mb": _peak_rss_mb(),
        "dfg": [
            sorted([s, t, int(n)] for (s, t), n in dfg.items()),
            sorted([name, int(n)] for name, n in starts.items()),
            sorted([name, int(n)] for name, n in ends.items()),
        ],
    }


def _in_subprocess(what: str, where: Path) -> dict[str, Any]:
    out = subprocess.run(  # noqa: S603 (this script, with our own arguments)
        [sys.executable, __file__, "--measure", what, "--dir", str(where)],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--activities", type=int, default=30)
    parser.add_argument("--measure", choices=["ours", "pm4py"], help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measured = _measure_ours(args.dir) if args.measure == "ours" else _measure_pm4py(args.dir)
        print(json.dumps(measured))
        return

    print(
        f"machine: {os.cpu_count()} cores {platform.machine()}, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}; "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    print("same events on both sides; library imports are not timed on either side")
    for events in args.events:
        print(f"== {events:,} events, {args.activities} activities")
        where = _prepare(events, args.activities)
        ours = _in_subprocess("ours", where)
        theirs = _in_subprocess("pm4py", where)
        same = ours.pop("dfg") == theirs.pop("dfg")
        print(
            f"  ours, warehouse table to results: DFG + variants + IMd {ours['seconds']:.2f} s "
            f"(case order {ours['order_s']:.2f} s, DFG {ours['dfg_s']:.2f} s, "
            f"variants {ours['variants_s']:.2f} s, IMd {ours['imd_s']:.2f} s); "
            f"{ours['cases']:,} cases, {ours['edges']} edges, "
            f"{ours['variants']:,} variants; peak memory {ours['peak_rss_mb']:.0f} MB"
        )
        print(
            f"  ours, besides: the full process map (edge times, case frequencies) on the same "
            f"ordered log {ours['map_s']:.2f} s"
        )
        print(
            f"  pm4py.discover_dfg (the call only, DataFrame already read, 1 thread): "
            f"{theirs['seconds']:.2f} s; peak memory {theirs['peak_rss_mb']:.0f} MB"
        )
        with_map = ours["seconds"] + ours["map_s"]
        print(
            f"  ratio: pm4py's DFG alone / our DFG + variants + IMd = "
            f"{theirs['seconds'] / ours['seconds']:.1f}x (with the full process map too: "
            f"{theirs['seconds'] / with_map:.1f}x); same DFG and start/end activities: "
            f"{'yes' if same else 'NO'}"
        )


if __name__ == "__main__":
    main()
