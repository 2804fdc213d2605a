"""The same event log, DFG and variants on PySpark as on DuckDB, from the same events."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import pytest

from c360.journeys.eventlog import LogSpec, event_log, ordered_log, traces
from c360.journeys.queries import case_stats, directly_follows, process_map, variants
from journeys.logs import event, land_events

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from c360.warehouse import Warehouse

pytestmark = [
    pytest.mark.spark,
    # PySpark 4.0's toPandas passes copy= to pandas 3, which deprecates it; harmless here.
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated:DeprecationWarning"),
    # py4j leaves its gateway sockets to the garbage collector when the session stops.
    pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


class SparkTables:
    """The warehouse tables a log reads, copied into Spark views (JSON columns as text)."""

    def __init__(self, spark: Any, warehouse: Warehouse) -> None:
        self._views: dict[str, ir.Table] = {}
        for name in ("events", "identifiers", "identity_map"):
            table = warehouse.table(name)
            table = table.mutate(
                **{
                    column: table[column].cast("string")
                    for column, dtype in table.schema().items()
                    if dtype.is_json()
                }
            )
            # From Arrow directly: through pandas a missing text becomes the string "NaN".
            view = f"journeys_{name}"
            spark._session.createDataFrame(table.to_pyarrow()).createOrReplaceTempView(view)
            self._views[name] = spark.table(view)

    def table(self, name: str) -> ir.Table:
        return self._views[name]


def _rows() -> list[dict[str, Any]]:
    """Several cases, a loop, ties on time, three channels and person identifiers."""
    rows = []
    for i in range(12):
        case = f"C{i}"
        minute = i * 0.5
        rows.append(event(case, "visit", minute, channel="web", anonymous_id=f"a{i}"))
        if i % 3:
            rows.append(event(case, "cart", minute + 2.25, channel="web"))
        if i % 4 == 0:
            rows.append(event(case, "visit", minute + 3, channel="app"))
            rows.append(event(case, "cart", minute + 3, channel="app"))  # a tie on time
        if i % 2:
            rows.append(event(case, "order", minute + 7.5, channel="web"))
        else:
            rows.append(event(None, "newsletter", minute + 9, anonymous_id=f"a{i}"))
    return rows


def _traces(log: ir.Table) -> dict[str, tuple[list[str], float, int]]:
    found = traces(log).to_pyarrow().to_pylist()
    return {r["case_id"]: (list(r["activities"]), r["duration_s"], r["events"]) for r in found}


@pytest.mark.parametrize("case", ["column:customer_id", "person"])
def test_duckdb_and_pyspark_count_the_same_log(
    db: None, warehouse: Warehouse, spark: Any, case: str
) -> None:
    land_events(warehouse, _rows(), source_id=1, batch_id=1, link=True)
    spec = LogSpec(source_ids=(1,), case=case, activity=("event", "channel"))
    on_duckdb = event_log(warehouse, spec)
    on_spark = event_log(SparkTables(spark, warehouse), spec)

    assert _traces(on_spark) == _traces(on_duckdb)
    assert asdict(process_map(on_spark)) == asdict(process_map(on_duckdb))
    assert asdict(variants(on_spark, limit=None)) == asdict(variants(on_duckdb, limit=None))
    # the log put in case order once (a cached Spark frame), as the bench and the pages use it
    with ordered_log(on_spark) as spark_ordered, ordered_log(on_duckdb) as duckdb_ordered:
        assert spark_ordered.activities == duckdb_ordered.activities
        assert directly_follows(spark_ordered) == directly_follows(duckdb_ordered)
        assert asdict(variants(spark_ordered, limit=3)) == asdict(variants(duckdb_ordered, limit=3))
        assert asdict(case_stats(spark_ordered)) == asdict(case_stats(duckdb_ordered))
    # and there was something to compare: loops, ties and several variants
    found = process_map(on_duckdb)
    assert ("visit · app", "cart · app") in found.graph
    assert variants(on_duckdb).total_variants >= 4
