"""The HTTP tracking API on loopback: batch throughput, single-call latency, freshness.

Starts `c360 serve` on a free 127.0.0.1 port over a throwaway data dir (an events source,
its write key, a token that reads profiles), then prints:

1. /v1/batch throughput: --clients connections (64: the senders of a busy site, each with
   one request in flight) post batches of 100 track events (unique message ids, 1,000 known
   users) for --seconds (30: long enough to take in the checkpoints DuckDB makes every
   ~200,000 events, each a pause of a second or so); events acknowledged per second.
2. /v1/track latency at a steady --rate requests per second (open loop: each request is due
   at its scheduled time, sent over one of 64 connections) for --seconds; p50 and p99 of the
   time from when a request was due to its answer, and how late the senders were.
3. freshness: --samples times, one /v1/track for a known person, then the profile API
   (/api/profiles/{id}/timeline) is read every 10 ms until the event is there; p50 and p99 of
   the time from the acknowledgement to the first read that shows it.
4. Kafka end-to-end freshness (bench_kafka.py, with a broker and a server of its own): from
   producing a track message to its commit, and to seeing it in the profile API.

Everything runs on one machine: the clients share its cores with the server, so the figures
are lower bounds of what the server does alone. Run: .venv/bin/python bench/bench_ingest.py
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from bench_kafka import (
    free_port,
    in_profile,
    percentile,
    person_id_of,
    server_env,
    wait_for_port,
)
from bench_kafka import run as kafka_bench

ROOT = Path(__file__).resolve().parent.parent
USERS = 1_000
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"


def _seed(data_dir: Path) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603 (our own script)
        [sys.executable, str(ROOT / "tests" / "ingest" / "seed_tracking.py"), str(data_dir)],
        env=server_env(data_dir),
        capture_output=True,
        text=True,
        check=True,
    )
    seeded: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return seeded


def _message(user: int, event: str, message_id: str) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": f"user-{user}",
        "event": event,
        "messageId": message_id,
        "properties": {"sku": f"P{user % 97}", "price": 19.95},
        "context": {"userAgent": UA, "page": {"url": "https://shop.example.nl/p/1"}},
    }


def _identify_users(client: httpx.Client) -> None:
    """Make the users known people first, as a running site's are."""
    for start in range(0, USERS, 100):
        batch = [
            {
                "type": "identify",
                "userId": f"user-{u}",
                "anonymousId": f"anon-{u}",
                "traits": {"email": f"user{u}@example.nl"},
                "messageId": f"identify-{u}",
            }
            for u in range(start, start + 100)
        ]
        answer = client.post("/v1/batch", json={"batch": batch})
        answer.raise_for_status()


class _Connection:
    """One keep-alive HTTP/1.1 connection to the server, written and read with asyncio
    streams: an HTTP client library costs more CPU per request than the server's work on it
    (httpx: ~1.5 ms), and the client shares the two cores with the server."""

    def __init__(self, url: str, auth: tuple[str, str]) -> None:
        self.host, self.port = url.removeprefix("http://").split(":")
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        self.head = f"Host: {self.host}\r\nAuthorization: Basic {token}\r\n"

    async def __aenter__(self) -> _Connection:
        self.reader, self.writer = await asyncio.open_connection(self.host, int(self.port))
        return self

    async def __aexit__(self, *_: object) -> None:
        self.writer.close()

    async def post(self, path: str, body: bytes) -> int:
        """POST a JSON body; the answer's status (its body is read and dropped)."""
        self.writer.write(
            f"POST {path} HTTP/1.1\r\n{self.head}Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"(?i)content-length: *(\d+)", head)
        await self.reader.readexactly(int(length.group(1)) if length else 0)
        return int(head.split(b" ", 2)[1])


async def throughput(url: str, auth: tuple[str, str], seconds: float, clients: int) -> None:
    """Closed loop: each client posts its next batch as soon as the last one is answered."""
    bodies = iter(
        [
            json.dumps(
                {
                    "batch": [
                        _message((b * 100 + i) % USERS, "Product Viewed", f"t-{b}-{i}")
                        for i in range(100)
                    ]
                }  # fmt: skip
            ).encode()
            for b in range(int(seconds * 400))  # enough for 40,000 events/s
        ]
    )
    acknowledged = [0]
    refused = [0]
    deadline = time.monotonic() + seconds

    async def client() -> None:
        async with _Connection(url, auth) as connection:
            for body in bodies:
                if time.monotonic() >= deadline:
                    return
                if await connection.post("/v1/batch", body) == 200:
                    acknowledged[0] += 100
                else:
                    refused[0] += 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    took = time.perf_counter() - started
    print(
        f"/v1/batch throughput (100 events per batch, {clients} clients, {took:.1f} s): "
        f"{acknowledged[0] / took:,.0f} events/s acknowledged ({acknowledged[0]:,} events; "
        f"{refused[0]} batches answered 429/other)"
    )


async def _latency(url: str, auth: tuple[str, str], rate: float, seconds: float) -> None:
    """Open loop: request i is due at start + i / rate whatever happened to the others; its
    latency runs from when it was due to its answer, so a server that falls behind shows in
    the figures instead of slowing the schedule down."""
    count = int(rate * seconds)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    late = [0.0]
    numbers = iter(range(count))
    start = time.perf_counter() + 0.2

    async def sender() -> None:
        async with _Connection(url, auth) as connection:
            for i in numbers:
                due = start + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    late[0] = max(late[0], -delay)
                body = json.dumps(
                    _message(i % USERS, "Product Viewed", f"l-{i}-{uuid.uuid4().hex[:8]}")
                ).encode()
                status = await connection.post("/v1/track", body)
                latencies.append(time.perf_counter() - due)
                statuses[status] = statuses.get(status, 0) + 1

    await asyncio.gather(*(sender() for _ in range(64)))
    print(
        f"/v1/track latency at {rate:.0f} requests/s for {seconds:.0f} s ({count} requests, "
        f"answers {statuses}): p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms, from when each request was due "
        f"(the client sent up to {late[0] * 1000:.0f} ms late: all 64 connections busy)"
    )


def freshness(url: str, auth: tuple[str, str], token: str, samples: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    times: list[float] = []
    with (
        httpx.Client(base_url=url, auth=auth, timeout=60) as tracker,
        httpx.Client(base_url=url, headers=headers, timeout=60) as reader,
    ):
        for sample in range(samples):
            user = (sample * 37) % USERS
            person_id = person_id_of(reader, f"user-{user}")
            event = f"Fresh {sample}"
            answer = tracker.post(
                "/v1/track", json=_message(user, event, f"f-{sample}-{uuid.uuid4().hex[:8]}")
            )
            answer.raise_for_status()
            acknowledged = time.perf_counter()
            while True:
                if in_profile(reader, person_id, event):
                    times.append(time.perf_counter() - acknowledged)
                    break
                if time.perf_counter() - acknowledged > 60:
                    raise SystemExit(f"sample {sample}: not in the profile after 60 s")
                time.sleep(0.01)
    print(
        f"freshness, acknowledged to visible in the profile API ({samples} samples): "
        f"p50 {percentile(times, 0.5) * 1000:.0f} ms, p99 {percentile(times, 0.99) * 1000:.0f} ms"
        f" (max {max(times) * 1000:.0f} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30, help="length of phases 1 and 2")
    parser.add_argument("--clients", type=int, default=64, help="connections in phase 1")
    parser.add_argument("--rate", type=float, default=500, help="requests/s in phase 2")
    parser.add_argument("--samples", type=int, default=100, help="freshness samples")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="c360-bench-ingest-"))
    data_dir = work / "data"
    seeded = _seed(data_dir)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    auth = (seeded["write_key"], "")
    log = (work / "server.log").open("w")
    server = subprocess.Popen(  # noqa: S603 (our own command)
        [str(Path(sys.executable).parent / "c360"), "serve", "--port", str(port)],
        env=server_env(data_dir),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, server, f"the server (see {log.name})")
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}; server and clients on the same machine"
        )
        with httpx.Client(base_url=url, auth=auth, timeout=120) as client:
            _identify_users(client)
        asyncio.run(throughput(url, auth, args.seconds, args.clients))
        asyncio.run(_latency(url, auth, args.rate, args.seconds))
        freshness(url, auth, seeded["token"], args.samples)
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            print("the server did not stop within 60 s of SIGTERM; killed it")
            server.kill()
            server.wait(timeout=60)
        log.close()
        shutil.rmtree(work, ignore_errors=True)
    # 4. Kafka: a broker and a server of their own, the tracking API's server stopped.
    kafka_bench(samples=args.samples, users=200)


if __name__ == "__main__":
    main()
