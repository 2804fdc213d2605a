"""A real `c360 serve` on a free loopback port, over a data dir of its own, for the tests that
talk to it over HTTP or drive it in Chromium."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("C360_WAREHOUSE_URL", "DATABASE_URL", "DJANGO_SETTINGS_MODULE"):
        env.pop(key, None)
    env.update({"C360_DATA_DIR": str(data_dir), "C360_ENV": "test"})
    return env


@dataclass
class Server:
    data_dir: Path
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    seeded: dict[str, Any] = field(default_factory=dict)  # what the seeding script printed

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> None:
        with self.log.open("a") as out:
            self.process = subprocess.Popen(
                [str(Path(sys.executable).parent / "c360"), "serve", "--port", str(self.port)],
                env=server_env(self.data_dir),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                assert self.process.poll() is None, self.log.read_text()
                assert time.monotonic() < deadline, self.log.read_text()
                time.sleep(0.2)

    def kill(self) -> None:
        """kill -9: no shutdown code runs."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
