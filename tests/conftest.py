"""Test set-up shared by every test.

The settings read the environment once, when Django loads them, and create files in the data
dir (secret key, uploads). So the environment is set here, at import, and Django is set up
only afterwards (in pytest_configure): a developer's own `.c360/` is never touched by a test
run. DJANGO_SETTINGS_MODULE is set here rather than in pyproject.toml on purpose: given there,
pytest-django would load the settings before this module runs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

_DATA_DIR = Path(tempfile.mkdtemp(prefix="c360-test-"))
os.environ["C360_DATA_DIR"] = str(_DATA_DIR)
os.environ["C360_ENV"] = "test"
# Settings from the developer's shell must not leak into the suite: each would point the
# tests at a real warehouse, a fixed secret or a debug page.
for _key in ("C360_WAREHOUSE_URL", "C360_SECRET_KEY", "C360_DEBUG", "C360_ALLOWED_HOSTS"):
    os.environ.pop(_key, None)
os.environ["DJANGO_SETTINGS_MODULE"] = "c360.web.settings"

# The PostgreSQL leg (`pytest -m postgres`): trust auth on 127.0.0.1, database `test`.
POSTGRES_URL = os.environ.get("C360_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

if TYPE_CHECKING:
    from c360.warehouse import Warehouse


def pytest_configure(config: pytest.Config) -> None:
    import django

    django.setup()  # pytest-django then blocks database access outside `django_db` tests


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_DATA_DIR, ignore_errors=True)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses PostgreSQL is in the PostgreSQL leg, whether or not it says so."""
    for item in items:
        if "pg_warehouse" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture
def data_dir() -> Path:
    """The data dir the settings of this test run point at."""
    return _DATA_DIR


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    """A fresh, migrated DuckDB warehouse, installed as this process's warehouse."""
    from c360.warehouse.runtime import close_warehouse, open_warehouse

    opened = open_warehouse(f"duckdb://{tmp_path / 'warehouse.duckdb'}")
    try:
        yield opened
    finally:
        close_warehouse()


@pytest.fixture
def pg_warehouse() -> Iterator[Warehouse]:
    """A fresh, migrated PostgreSQL warehouse in a schema of its own, dropped afterwards."""
    import psycopg

    from c360.warehouse.runtime import close_warehouse, open_warehouse

    schema = f"c360_test_{uuid.uuid4().hex[:12]}"
    try:
        opened = open_warehouse(f"{POSTGRES_URL}?schema={schema}")
        yield opened
    finally:
        close_warehouse()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One local SparkSession, as an Ibis backend, for the `spark` leg: starting one takes
    seconds. Needs Java 17."""
    import ibis
    from pyspark.sql import SparkSession

    scratch = tmp_path_factory.mktemp("spark")
    session = (
        SparkSession.builder.master("local[2]")
        .appName("c360-test")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", str(scratch / "warehouse"))
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={scratch}")
        .getOrCreate()
    )
    try:
        yield ibis.pyspark.connect(session)
    finally:
        session.stop()
