"""The process-map page in a real headless Chromium, against a running `c360 serve`.

The receipt log is imported into a fresh data dir through the import path, the server is
started on a free port, and process_map_page.mjs (playwright-core from frontend/) logs in,
defines the log in the form, opens the map, moves the sliders, switches to performance,
clicks an activity and saves a screenshot (also to bench/out/process_map.png, gitignored).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from journeys.logs import RECEIPT

pytestmark = pytest.mark.browser

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "a-long-test-password"
DURATION = re.compile(r"^\d+(\.\d)? (s|min|h|d)$")


@dataclass
class Site:
    url: str
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("C360_WAREHOUSE_URL", "DATABASE_URL", "DJANGO_SETTINGS_MODULE"):
        env.pop(key, None)
    env.update({"C360_DATA_DIR": str(data_dir), "C360_ENV": "test"})
    return env


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make chromium` installs it (Debian package chromium)")
    if not RECEIPT.exists():
        pytest.skip("shared/data/receipt.parquet is not beside the project")
    data_dir = tmp_path / "data"
    env = _env(data_dir)
    seeded = subprocess.run(
        [sys.executable, str(HERE / "seed_receipt_site.py"), str(data_dir), str(RECEIPT), PASSWORD],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert seeded.returncode == 0, seeded.stderr
    port = _free_port()
    log = tmp_path / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "c360"), "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        yield Site(url=f"http://127.0.0.1:{port}", log=log)
    finally:
        server.terminate()
        server.wait(timeout=30)


def _drive(site: Site, **options: Any) -> dict[str, Any]:
    options = {"base": site.url, "password": PASSWORD, "chromium": CHROMIUM, **options}
    run = subprocess.run(
        ["node", str(HERE / "process_map_page.mjs"), json.dumps(options)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stderr + "\n" + site.log.read_text()[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_process_map_sliders_performance_and_cases_in_chromium(site: Site, tmp_path: Path) -> None:
    screenshot = tmp_path / "process_map.png"
    bench_copy = ROOT / "bench" / "out" / "process_map.png"
    bench_copy.parent.mkdir(parents=True, exist_ok=True)

    seen = _drive(site, username="admin", screenshots=[str(screenshot), str(bench_copy)])

    assert seen["consoleErrors"] == []
    steps = seen["steps"]
    full = steps["full"]
    # The receipt log: 27 activities plus the start and end nodes, every path drawn.
    assert full["summary"].startswith("27 of 27 activities")
    assert full["nodes"] == 27 + 2
    assert "1,434 cases" in full["summary"]
    # Fewer activities: fewer nodes and edges; fewer paths: same nodes, fewer edges.
    assert steps["activities30"]["nodes"] == 9 + 2 < full["nodes"]
    assert steps["activities30"]["edges"] < full["edges"]
    assert steps["paths10"]["nodes"] == steps["activities30"]["nodes"]
    assert steps["paths10"]["edges"] < steps["activities30"]["edges"]
    assert steps["activities100paths10"]["nodes"] == full["nodes"]
    assert steps["activities100paths10"]["edges"] < full["edges"]
    # Both back at 100%: the full map again.
    back = steps["back"]
    assert (back["nodes"], back["edges"], back["labels"]) == (
        full["nodes"],
        full["edges"],
        full["labels"],
    )
    # Case frequency labels are counts; performance labels are durations.
    assert all(re.fullmatch(r"[\d,]+", label) for label in full["labels"])
    mean = steps["mean"]
    assert mean["measure"] == "mean" and mean["edges"] == full["edges"]
    durations = [label for label in mean["labels"] if label]
    assert durations and all(DURATION.match(label) for label in durations), durations
    assert steps["cases"]["labels"] == full["labels"]
    assert steps["paths40"]["edges"] < full["edges"]
    assert steps["activities60paths40"]["nodes"] == 17 + 2
    # The clicked activity's cases: people, linked to their profiles.
    panel = seen["panel"]
    assert panel["what"] == seen["clicked"]
    count = int(panel["count"].replace(",", ""))
    assert count > 100 and panel["listed"] == 100
    assert len(panel["profileLinks"]) == 100
    assert all(link.startswith("/customers/p_") for link in panel["profileLinks"])
    assert seen["selected"] == 1
    assert seen["profileStatus"] == 200
    assert seen["variantRows"] == 50 and seen["charts"] == 2
    assert screenshot.stat().st_size > 30_000
    assert bench_copy.stat().st_size == screenshot.stat().st_size
