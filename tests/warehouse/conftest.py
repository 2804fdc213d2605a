"""The warehouse suite runs on every engine: DuckDB by default, PostgreSQL in its marked leg."""

from __future__ import annotations

import pytest

from c360.warehouse import Warehouse


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_warehouse(request: pytest.FixtureRequest) -> Warehouse:
    """The same test, once per engine; each gets a fresh, migrated warehouse."""
    name = "warehouse" if request.param == "duckdb" else "pg_warehouse"
    opened: Warehouse = request.getfixturevalue(name)
    return opened
