"""Load the demo files into c360 the way a user would: one data source per file, a saved
column mapping per source, and each file imported through `sources.logic` like an upload."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from c360.demo.catalogue import SOURCES, DemoSource

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from c360.sources.models import DataSource, ImportBatch

FileProgress = Callable[[DemoSource, "ImportBatch"], None]


def missing_sources() -> list[DemoSource]:
    """The demo sources that do not exist yet, or hold no finished import."""
    from c360.sources.models import BatchStatus, DataSource

    loaded = set(
        DataSource.objects.filter(batches__status=BatchStatus.DONE).values_list("name", flat=True)
    )
    return [demo for demo in SOURCES if demo.name not in loaded]


def mapping_spec(demo: DemoSource, columns: list[str]) -> dict[str, Any]:
    """The mapping the import page would suggest for these columns, with the demo's fields
    laid over it (the columns whose names do not say what they are)."""
    from c360.ingest.canonical import suggest_mapping

    spec = suggest_mapping(demo.kind, columns)
    fields = dict(spec["fields"])  # type: ignore[call-overload]
    taken = {rule["column"] for rule in demo.fields.values() if "column" in rule}
    # A column the demo maps explicitly is not also left where the suggestion put it.
    fields = {name: rule for name, rule in fields.items() if rule.get("column") not in taken}
    fields.update(demo.fields)
    return {"fields": fields, "properties": demo.properties}


def load(
    *, actor: User, out_dir: Path, on_progress: FileProgress | None = None
) -> list[ImportBatch]:
    """Import every demo file in `out_dir` into its own public source owned by `actor` (an
    admin); a source that already holds a finished import is left as it is."""
    from c360.sources.logic import create_batch, run_import, save_mapping
    from c360.sources.models import BatchStatus

    out_dir = Path(out_dir)
    absent = [demo.file_name for demo in SOURCES if not (out_dir / demo.file_name).exists()]
    if absent:
        raise ValueError(
            f"{out_dir} has no {', '.join(absent)}: generate the demo files first "
            "(c360.demo.generate)"
        )
    batches: list[ImportBatch] = []
    for demo in SOURCES:
        source = _source(actor, demo)
        done = source.batches.filter(status=BatchStatus.DONE).first()
        if done is not None:
            batches.append(done)
            continue
        path = out_dir / demo.file_name
        saved = save_mapping(
            actor=actor,
            name=demo.mapping_name,
            kind=demo.kind,
            spec=mapping_spec(demo, _columns(path)),
        )
        batch = create_batch(
            actor=actor,
            source=source,
            file_name=path.name,
            file_size=path.stat().st_size,
            mapping_name=saved.name,
        )

        def report(current: ImportBatch, demo: DemoSource = demo) -> None:
            if on_progress is not None:
                on_progress(demo, current)

        batch = run_import(batch=batch, path=path, mapping_spec=saved.spec, on_progress=report)
        report(batch)
        batches.append(batch)
    return batches


def _source(actor: User, demo: DemoSource) -> DataSource:
    from c360.sources.logic import create_source
    from c360.sources.models import DataSource

    existing = DataSource.objects.filter(name__iexact=demo.name).first()
    if existing is not None:
        if existing.kind != demo.kind:
            raise ValueError(
                f"a data source called {demo.name!r} exists with kind {existing.kind}; "
                f"the demo needs one of kind {demo.kind}: rename the existing one"
            )
        return existing
    return create_source(
        actor=actor,
        name=demo.name,
        kind=demo.kind,
        visibility="public",
        description=demo.description,
    )


def _columns(path: Path) -> list[str]:
    """The file's column names, as its header (or its first objects) gives them."""
    name = str(path).replace("'", "''")
    reader = {
        ".csv": f"read_csv('{name}', header = true, all_varchar = true)",
        ".jsonl": f"read_json('{name}', format = 'newline_delimited')",
        ".parquet": f"read_parquet('{name}')",
    }[path.suffix]
    with duckdb.connect(":memory:") as db:
        described = db.execute(f"DESCRIBE SELECT * FROM {reader}")  # noqa: S608 (a file path)
        return [str(row[0]) for row in described.fetchall()]
