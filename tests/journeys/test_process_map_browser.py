"""The process-map page in a real headless Chromium, against a running `c360 serve`.

The receipt log is imported into a fresh data dir through the import path, the server is
started on a free port, and process_map_page.mjs (playwright-core from frontend/) logs in,
defines the log in the form, opens the map, moves the sliders, switches to performance,
clicks an activity and saves a screenshot (also to bench/out/process_map.png, gitignored).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from journeys.logs import RECEIPT
from live_server import Server, server_env

pytestmark = pytest.mark.browser

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "a-long-test-password"
DURATION = re.compile(r"^\d+(\.\d)? (s|min|h|d)$")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Server]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make chromium` installs it (Debian package chromium)")
    if not RECEIPT.exists():
        pytest.skip("shared/data/receipt.parquet is not beside the project")
    data_dir = tmp_path / "data"
    env = server_env(data_dir)
    seeded = subprocess.run(
        [sys.executable, str(HERE / "seed_receipt_site.py"), str(data_dir), str(RECEIPT), PASSWORD],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert seeded.returncode == 0, seeded.stderr
    server = Server(data_dir=data_dir, log=tmp_path / "server.log")
    try:
        server.start(timeout=60)
        yield server
    finally:
        server.stop()


def _drive(site: Server, **options: Any) -> dict[str, Any]:
    options = {"base": site.url, "password": PASSWORD, "chromium": CHROMIUM, **options}
    run = subprocess.run(
        ["node", str(HERE / "process_map_page.mjs"), json.dumps(options)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stderr + "\n" + site.log.read_text()[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_process_map_sliders_performance_and_cases_in_chromium(
    site: Server, tmp_path: Path
) -> None:
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
