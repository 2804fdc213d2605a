"""The same stitching on PySpark as on DuckDB, for the same input."""

from __future__ import annotations

from typing import Any

import ibis
import pyarrow as pa
import pytest

from c360.identity.logic import identifiers_of
from c360.identity.rules import MergeRules
from c360.identity.stitch import stitch
from identity.landing import chunk_of, population

pytestmark = [
    pytest.mark.spark,
    # PySpark 4.0's toPandas passes copy= to pandas 3, which deprecates it; harmless here.
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated:DeprecationWarning"),
    # py4j leaves its gateway sockets to the garbage collector when the session stops.
    pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


def _identifiers() -> pa.Table:
    pop = population(customers=24)
    chunks = [
        identifiers_of(
            table="customers", rows=chunk_of("customers", pop.customers, source_id=1, batch_id=1)
        ),
        identifiers_of(
            table="orders", rows=chunk_of("orders", pop.orders, source_id=2, batch_id=2)
        ),
        identifiers_of(table="events", rows=chunk_of("events", pop.web, source_id=3, batch_id=3)),
        identifiers_of(table="events", rows=chunk_of("events", pop.calls, source_id=5, batch_id=5)),
    ]
    table = pa.concat_tables(chunks)
    return table.select(["record_table", "record_id", "id_type", "id_value"])


def _rows(result: pa.Table) -> list[tuple[Any, ...]]:
    return sorted(tuple(row.values()) for row in result.to_pylist())


def test_duckdb_and_pyspark_stitch_the_same_people(spark: Any) -> None:
    identifiers = _identifiers()
    rules = MergeRules(phone_country_code="31")
    on_duckdb = stitch(ibis.duckdb.connect().create_table("ids", identifiers), rules=rules)
    on_spark = stitch(spark.create_view("ids", ibis.memtable(identifiers)), rules=rules)
    assert _rows(on_spark) == _rows(on_duckdb)
    # and the rules did something on both: a household phone and a shared cookie were cut
    reasons = {row["reason"] for row in on_spark.to_pylist() if row["reason"]}
    assert any("shared by 2 customer ids" in reason for reason in reasons)
    assert len({row["person_id"] for row in on_spark.to_pylist()}) > 24
