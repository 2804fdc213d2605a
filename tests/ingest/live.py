"""The tracking API's tests against a real server: a seeded data dir (see live_server)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from live_server import Server, server_env

__all__ = ["Server", "seed"]

HERE = Path(__file__).parent


def seed(data_dir: Path) -> dict[str, Any]:
    """An admin, an events source, its write key and a reading token, in a fresh data dir."""
    done = subprocess.run(
        [sys.executable, str(HERE / "seed_tracking.py"), str(data_dir)],
        env=server_env(data_dir),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
