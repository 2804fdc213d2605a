"""Import throughput and peak memory for a journey CSV, through the page's import path.

    .venv/bin/python bench/bench_import.py [--rows 1000000]

Generates a CSV in the classic customer-journey format, then runs the same functions the
upload page runs on its import thread (sources.logic.create_batch + run_import) against a
fresh embedded data dir (SQLite + DuckDB). Prints rows/s end to end and the peak resident
memory of the process.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the data dir")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs, each in a fresh process; prints the median"
    )
    args = parser.parse_args()
    if args.repeat > 1:
        _repeat(args)
        return

    from journey_data import embedded_setup

    work, csv_path = embedded_setup("c360-bench-import-", args.rows)
    from c360.accounts.logic import create_user
    from c360.sources import logic

    size_mb = csv_path.stat().st_size / 1e6
    admin = create_user(username="bench", password=os.urandom(12).hex(), role="admin")
    source = logic.create_source(actor=admin, name="bench web", kind="events")

    # Load the import path's modules first, as a running server has them loaded: the figure
    # is the import's, not Python's one-off module loading (about half a second here).
    import c360.identity.logic
    import c360.ingest.importer  # noqa: F401

    # ... and with its warehouse open: the server opens it (and applies its migrations) once,
    # on start, not in each import.
    from c360.warehouse import get_warehouse

    get_warehouse()

    usage_before = resource.getrusage(resource.RUSAGE_SELF)
    rss_before = usage_before.ru_maxrss / 1024
    started = time.perf_counter()
    batch = logic.create_batch(
        actor=admin, source=source, file_name=csv_path.name, file_size=csv_path.stat().st_size
    )
    landed_at: list[float] = []
    landed_peak: list[float] = []

    def on_progress(current: object) -> None:
        # The rows have landed when the batch moves on to linking people.
        if getattr(current, "stage", "") == "linking people" and not landed_at:
            landed_at.append(time.perf_counter())
            landed_peak.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)

    batch = logic.run_import(batch=batch, path=csv_path, on_progress=on_progress)
    finished = time.perf_counter()
    elapsed = (landed_at[0] if landed_at else finished) - started
    linking = finished - started - elapsed
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak = usage.ru_maxrss / 1024
    cpu = (usage.ru_utime - usage_before.ru_utime) + (usage.ru_stime - usage_before.ru_stime)

    cores = os.cpu_count()
    print(f"machine: {platform.machine()}, {cores} cores, Python {platform.python_version()}")
    print(f"file: {args.rows:,} rows, {size_mb:,.0f} MB CSV (classic journey format, 22 columns)")
    print(f"batch {batch.pk}: {batch.status}, {batch.rows_inserted:,} rows inserted")
    print(f"import time: {elapsed:.2f} s wall; CPU {cpu:.2f} s for import and linking together")
    print(f"throughput: {batch.rows_read / elapsed:,.0f} rows/s end to end (file to landed rows)")
    print(f"identity update after the import: {linking:.2f} s (people linked)")
    import_peak = landed_peak[0] if landed_peak else peak
    print(f"peak memory: {import_peak:,.0f} MB resident while importing")
    print(f"peak memory with the identity update: {peak:,.0f} MB (before: {rss_before:,.0f} MB)")
    print("targets: >= 300,000 rows/s and <= 1,024 MB peak")
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)


def _repeat(args: argparse.Namespace) -> None:
    """Run the benchmark in fresh processes (peak memory is per process) and take medians."""
    import re
    import statistics
    import subprocess

    speeds, peaks, cpus, links, link_peaks = [], [], [], [], []
    for run in range(1, args.repeat + 1):
        out = subprocess.run(  # noqa: S603 (this script, with our own arguments)
            [sys.executable, __file__, "--rows", str(args.rows)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        speed = float(re.search(r"throughput: ([\d,]+)", out)[1].replace(",", ""))  # type: ignore[index]
        peak = float(re.search(r"peak memory: ([\d,]+)", out)[1].replace(",", ""))  # type: ignore[index]
        cpu = float(re.search(r"CPU ([\d.]+) s", out)[1])  # type: ignore[index]
        speeds.append(speed)
        peaks.append(peak)
        cpus.append(cpu)
        links.append(float(re.search(r"after the import: ([\d.]+) s", out)[1]))  # type: ignore[index]
        link_peaks.append(
            float(re.search(r"identity update: ([\d,]+)", out)[1].replace(",", ""))  # type: ignore[index]
        )
        if run == 1:
            print(
                "\n".join(line for line in out.splitlines() if line.startswith(("machine", "file")))
            )
        print(f"run {run}: {speed:,.0f} rows/s, {cpu:.2f} s CPU, peak {peak:,.0f} MB")
    print(f"median throughput: {statistics.median(speeds):,.0f} rows/s end to end")
    print(f"median CPU time: {statistics.median(cpus):.2f} s (user + sys)")
    print(f"median peak memory: {statistics.median(peaks):,.0f} MB (max {max(peaks):,.0f} MB)")
    print(
        f"then linking people: median {statistics.median(links):.2f} s, "
        f"peak memory with it {statistics.median(link_peaks):,.0f} MB"
    )
    print("targets: >= 300,000 rows/s and <= 1,024 MB peak")


if __name__ == "__main__":
    main()
