"""kill -9 under load: every acknowledged message is stored exactly once, and the client's
retries of the unacknowledged ones do not store anything twice."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import duckdb
import httpx
import pytest

from .live import Server, seed

pytestmark = pytest.mark.slow

LOAD_SECONDS = 2.5
BATCH = 20


def _stored(data_dir: Path) -> Counter[str]:
    """message id -> how many events carry it, read from the warehouse file directly (the
    server is not running)."""
    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as db:
        rows = db.execute("SELECT message_id, count(*) FROM events GROUP BY message_id").fetchall()
    return Counter({str(message_id): int(count) for message_id, count in rows})


def _batch(prefix: str, number: int) -> list[dict[str, object]]:
    return [
        {
            "type": "track",
            "userId": f"{prefix}-user-{i % 7}",
            "event": "Crash Test",
            "messageId": f"{prefix}-{number}-{i}",
        }
        for i in range(BATCH)
    ]


def test_acknowledged_events_survive_kill_9_and_retries_store_nothing_twice(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    seeded = seed(data_dir)
    auth = (seeded["write_key"], "")
    server = Server(data_dir=data_dir, log=tmp_path / "server.log")
    server.start()
    acknowledged: set[str] = set()
    unacknowledged: list[list[dict[str, object]]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def load(prefix: str) -> None:
        with httpx.Client(base_url=server.url, auth=auth, timeout=10) as client:
            number = 0
            while not stop.is_set() and number < 10_000:
                batch = _batch(prefix, number)
                number += 1
                try:
                    answer = client.post("/v1/batch", json={"batch": batch})
                except httpx.HTTPError:  # the server is gone: this batch is in doubt
                    with lock:
                        unacknowledged.append(batch)
                    return
                with lock:
                    if answer.status_code == 200:
                        acknowledged.update(str(m["messageId"]) for m in batch)
                    else:  # 429 or 503: not stored, to send again
                        unacknowledged.append(batch)

    try:
        threads = [threading.Thread(target=load, args=(f"c{n}",)) for n in range(3)]
        for thread in threads:
            thread.start()
        # Load until enough is acknowledged (a busy machine needs longer), then kill.
        deadline = time.monotonic() + 60
        time.sleep(LOAD_SECONDS)
        while time.monotonic() < deadline:
            with lock:
                if len(acknowledged) >= 10 * BATCH:
                    break
            time.sleep(0.1)
        server.kill()  # while requests are in flight
        for thread in threads:  # each stops at its first failed request
            thread.join(timeout=15)
        stop.set()
    finally:
        server.stop()

    assert len(acknowledged) >= 10 * BATCH, "too little load to prove anything"
    assert unacknowledged, "the kill should have cut requests short"
    after_crash = _stored(data_dir)
    assert not acknowledged - set(after_crash), "acknowledged messages were lost"
    assert max(after_crash.values()) == 1

    # The server starts again; the client sends what was not acknowledged once more.
    restarted = Server(data_dir=data_dir, log=tmp_path / "server.log")
    restarted.start()
    try:
        with httpx.Client(base_url=restarted.url, auth=auth, timeout=30) as client:
            for batch in unacknowledged:
                answer = client.post("/v1/batch", json={"batch": batch})
                assert answer.status_code == 200, answer.text
                acknowledged.update(str(m["messageId"]) for m in batch)
    finally:
        restarted.stop()
    final = _stored(data_dir)
    assert set(final) == acknowledged
    assert set(final.values()) == {1}, "a message was stored twice"
