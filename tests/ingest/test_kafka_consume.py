"""`c360 consume`: the Kafka consumer of a source in processes of their own, over a PostgreSQL
warehouse, sharing the partitions through the consumer group; one of them killed mid-stream."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest.kafka_broker import Broker, start_broker, wait_until

POSTGRES_URL = os.environ.get("C360_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
C360 = str(Path(sys.executable).parent / "c360")


def _env(data_dir: Path, warehouse_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "C360_WAREHOUSE_URL")}
    env.update(
        {
            "C360_DATA_DIR": str(data_dir),
            "C360_ENV": "test",
            "DJANGO_SETTINGS_MODULE": "c360.web.settings",
            "COLUMNS": "200",
        }
    )
    if warehouse_url:
        env["C360_WAREHOUSE_URL"] = warehouse_url
    return env


def _run(data_dir: Path, warehouse_url: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [C360, *args],
        env=_env(data_dir, warehouse_url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _seed(data_dir: Path) -> None:
    code = (
        "import django; django.setup()\n"
        "from django.core.management import call_command\n"
        "call_command('migrate', interactive=False, verbosity=0)\n"
        "from c360.accounts.logic import create_user\n"
        "from c360.sources.logic import create_source\n"
        "admin = create_user(username='admin', password='a-long-test-password', role='admin')\n"
        "create_source(actor=admin, name='Clicks', kind='events')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=_env(data_dir, None),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_consume_refuses_the_embedded_warehouse(tmp_path: Path) -> None:
    done = _run(tmp_path, None, "consume", "--source", "Clicks")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("c360: `c360 consume` needs a PostgreSQL warehouse")
    assert "Traceback" not in done.stderr


def test_kafka_set_checks_each_setting_and_show_tells_the_state(tmp_path: Path) -> None:
    _seed(tmp_path)
    base = ["kafka", "set", "--source", "clicks", "--topics", "web,app"]
    bad = _run(tmp_path, None, *base, "--bootstrap-servers", "kafka1")
    assert bad.returncode == 2
    assert bad.stderr.strip() == ("c360: bootstrap_servers: 'kafka1' has no port; write host:port")
    good = _run(tmp_path, None, *base, "--bootstrap-servers", "kafka1:9092", "--format", "journey")
    assert good.returncode == 0, good.stderr
    assert "Clicks consumes web, app from kafka1:9092 as group c360-source-1 (journey)" in (
        good.stdout
    )
    shown = _run(tmp_path, None, "kafka", "show", "--source", "Clicks")
    assert shown.returncode == 0, shown.stderr
    assert "Clicks: web, app from kafka1:9092, group c360-source-1, journey; consumer stopped" in (
        shown.stdout
    )
    missing = _run(tmp_path, None, "kafka", "show", "--source", "Nope")
    assert missing.returncode == 2 and "no data source called 'Nope'" in missing.stderr


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    running = start_broker(tmp_path / "broker.log")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def pg_schema() -> Iterator[str]:
    import psycopg

    schema = f"c360_test_{uuid.uuid4().hex[:12]}"
    try:
        yield schema
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _events(schema: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        try:
            # the schema name is made by the pg_schema fixture
            return list(conn.execute(f'SELECT event_id, message_id FROM "{schema}".events'))  # noqa: S608
        except psycopg.errors.UndefinedTable:
            return []


def _track(i: int) -> dict[str, Any]:
    return {"type": "track", "messageId": f"m-{i}", "userId": f"u-{i % 11}", "event": "Viewed"}


@pytest.mark.postgres
@pytest.mark.slow
def test_two_consume_processes_share_the_partitions_and_a_killed_one_loses_nothing(
    tmp_path: Path, broker: Broker, pg_schema: str
) -> None:
    data_dir = tmp_path / "data"
    warehouse_url = f"{POSTGRES_URL}?schema={pg_schema}"
    _seed(data_dir)
    broker.create_topic("clicks-pg", partitions=4)
    saved = _run(
        data_dir,
        warehouse_url,
        "kafka",
        "set",
        "--source",
        "Clicks",
        "--bootstrap-servers",
        broker.bootstrap,
        "--topics",
        "clicks-pg",
        "--session-timeout-ms",
        "6000",
    )
    assert saved.returncode == 0, saved.stderr
    broker.produce("clicks-pg", [_track(i) for i in range(300)] + [b"not json"])

    logs = [tmp_path / "consume-a.log", tmp_path / "consume-b.log"]
    processes = []
    for log in logs:
        with log.open("w") as out:
            processes.append(
                subprocess.Popen(
                    [C360, "consume", "--source", "Clicks", "--seconds", "240"],
                    env=_env(data_dir, warehouse_url),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
    try:
        wait_until(lambda: len(_events(pg_schema)) >= 300, timeout=120, what="the first 300")
        # kill -9 one consumer: its partitions move to the other after the session timeout.
        processes[0].send_signal(signal.SIGKILL)
        processes[0].wait(30)
        broker.produce("clicks-pg", [_track(i) for i in range(250, 600)])  # 50 again
        wait_until(lambda: len(_events(pg_schema)) >= 600, timeout=120, what="all 600")
        processes[1].send_signal(signal.SIGTERM)
        assert processes[1].wait(60) == 0, logs[1].read_text()
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(30)
    rows = _events(pg_schema)
    assert sorted(m for _, m in rows) == sorted(f"m-{i}" for i in range(600))
    assert len({e for e, _ in rows}) == 600
    assert "Consuming clicks-pg into Clicks" in logs[1].read_text()
    with sqlite3.connect(data_dir / "metadata.sqlite3") as db:
        letters = db.execute(
            "SELECT topic, partition, offset, reason FROM sources_kafkadeadletter"
        ).fetchall()
        state = db.execute("SELECT state, partitions FROM sources_kafkaconnection").fetchone()
    assert [(t, r) for t, _, _, r in letters] == [
        ("clicks-pg", "the message is not JSON: Expecting value at line 1 column 1")
    ]
    assert state[0] == "stopped"
    committed = sum(p["committed"] or 0 for p in json.loads(state[1]))
    assert committed >= 300  # the survivor's partitions at its last report
