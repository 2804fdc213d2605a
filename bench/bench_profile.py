"""Customer 360 at scale: generate and import the demo dataset, link people, and time the
profile API over random people.

    .venv/bin/python bench/bench_profile.py [--customers 1000000] [--people 1000]

1. generates the demo files for N customers (c360.demo.generate), timed;
2. imports each file into its own source through the page's import path (c360.demo.load),
   each import followed by its incremental identity update, timed per file;
3. recomputes every identity from scratch, timed;
4. starts `c360 serve` on 127.0.0.1 with that data dir and asks GET /api/profiles/{id} with
   an API token for random people, one request at a time, and prints p50/p99 latency.

The data dir is kept under bench/out/profile-<N> (gitignored) and reused by a later run with
--reuse, which skips steps 1-3.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=1000, help="profiles to request")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--reuse", action="store_true", help="reuse a data dir of an earlier run")
    parser.add_argument(
        "--files", type=Path, help="demo files generated earlier for the same --customers"
    )
    args = parser.parse_args()

    work = HERE / "out" / f"profile-{args.customers}"
    os.environ["C360_DATA_DIR"] = str(work / "data")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "c360.web.settings")
    import django

    django.setup()
    from django.core.management import call_command

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    from c360.config import load

    print(f"customers: {args.customers:,}; warehouse memory limit {load().warehouse_memory}")
    call_command("migrate", verbosity=0)
    if not args.reuse:
        _build(work, args.customers, args.seed, args.files)
    _measure(work, args.people, args.seed)


def _build(work: Path, customers: int, seed: int, files: Path | None) -> None:
    import shutil

    from django.conf import settings

    from c360.accounts.logic import create_user
    from c360.demo.generate import generate
    from c360.demo.load import load
    from c360.identity.logic import update_identity
    from c360.warehouse import get_warehouse
    from c360.warehouse.runtime import open_warehouse

    shutil.rmtree(work / "data" / "warehouse.duckdb", ignore_errors=True)
    files = files or work / "files"
    started = time.perf_counter()
    if not (files / "ground_truth.parquet").exists():
        generate(out_dir=files, customers=customers, seed=seed)
        print(f"generate: {time.perf_counter() - started:.1f} s")
    else:
        print("generate: files of an earlier run reused")

    open_warehouse(settings.C360_WAREHOUSE_URL)
    admin = create_user(
        username=f"bench-{int(time.time())}", password=os.urandom(12).hex(), role="admin"
    )
    marks: dict[str, float] = {}
    reported: set[str] = set()

    def on_progress(demo: object, batch: object) -> None:
        name = getattr(demo, "name", "?")
        stage = getattr(batch, "stage", "")
        if stage == "linking people" and name not in marks:
            marks[name] = time.perf_counter()
        finished = getattr(batch, "status", "") in {"done", "failed"}
        if finished and stage != "linking people" and name not in reported:
            reported.add(name)
            landed = marks.get(name, time.perf_counter())
            linking = time.perf_counter() - landed
            print(
                f"  {name}: {getattr(batch, 'rows_inserted', 0):,} rows in "
                f"{landed - begun[-1]:.1f} s, then linking people {linking:.1f} s "
                f"({stage}); peak {_peak_mb():,.0f} MB",
                flush=True,
            )
            begun.append(time.perf_counter())

    begun = [time.perf_counter()]
    started = begun[0]
    load(actor=admin, out_dir=files, on_progress=on_progress)
    print(f"import with incremental linking: {time.perf_counter() - started:.1f} s")

    warehouse = get_warehouse()
    started = time.perf_counter()
    update = update_identity(warehouse=warehouse)
    print(
        f"identities from scratch: {time.perf_counter() - started:.1f} s for "
        f"{warehouse.count('identifiers'):,} identifier rows, {update.identifiers:,} identifiers, "
        f"{update.people:,} people; peak {_peak_mb():,.0f} MB"
    )
    from c360.warehouse.runtime import close_warehouse

    close_warehouse()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _measure(work: Path, people: int, seed: int) -> None:
    import httpx

    from c360.accounts.logic import create_token, create_user
    from c360.sources.models import DataSource

    admin = create_user(
        username=f"bench-reader-{int(time.time())}", password=os.urandom(12).hex(), role="admin"
    )
    token = create_token(
        name="bench profiles",
        created_by=admin,
        source_ids=list(DataSource.objects.values_list("id", flat=True)),
        permissions=["analyze"],
    ).secret
    person_ids = _sample_people(work, people, seed)
    port = _free_port()
    env = {**os.environ, "C360_DATA_DIR": str(work / "data")}
    server = subprocess.Popen(  # noqa: S603 (our own command)
        [sys.executable, "-m", "c360.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            _wait_for(client)
            for person_id in person_ids[:20]:  # warm the server's caches and connections
                client.get(f"/api/profiles/{person_id}")
            latencies = []
            statuses: dict[int, int] = {}
            for person_id in person_ids:
                started = time.perf_counter()
                response = client.get(f"/api/profiles/{person_id}")
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        latencies.sort()
        p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
        print(
            f"profile API over {len(latencies):,} random people, one request at a time: "
            f"p50 {statistics.median(latencies):.1f} ms, p99 {p99:.1f} ms, "
            f"max {latencies[-1]:.1f} ms; statuses {statuses}"
        )
        print("target: p99 <= 50 ms on DuckDB")
    finally:
        server.terminate()
        server.wait(timeout=60)


def _sample_people(work: Path, people: int, seed: int) -> list[str]:
    """Random linked people, read from the warehouse file before the server opens it."""
    import duckdb

    with duckdb.connect(str(work / "data" / "warehouse.duckdb"), read_only=True) as db:
        rows = db.execute(
            "SELECT DISTINCT person_id FROM identity_map WHERE linked ORDER BY person_id"
        ).fetchall()
    random.seed(seed)
    return [row[0] for row in random.sample(rows, min(people, len(rows)))]


def _wait_for(client: httpx.Client) -> None:
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            client.get("/api/me")
            return
        except httpx.TransportError:
            time.sleep(0.5)
    raise SystemExit("the server did not start within 120 s")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
