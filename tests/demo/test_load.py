"""The demo files land through the normal import path: one public source each, saved
mappings, every row accepted."""

from __future__ import annotations

from pathlib import Path

import pytest

from c360.demo import SOURCES, generate, load, missing_sources
from c360.sources.models import BatchStatus, ColumnMapping, Visibility
from c360.warehouse import Warehouse
from factories import make_admin

pytestmark = pytest.mark.django_db


def test_every_demo_file_imports_without_a_rejected_row(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    files = generate(out_dir=tmp_path / "demo", customers=200)
    admin = make_admin()
    assert [demo.name for demo in missing_sources()] == [demo.name for demo in SOURCES]

    batches = load(actor=admin, out_dir=files.out_dir)

    for demo, batch in zip(SOURCES, batches, strict=True):
        rows = files.rows[demo.file_name]
        assert batch.status == BatchStatus.DONE, (demo.file_name, batch.error, batch.errors_sample)
        assert (batch.rows_read, batch.rows_rejected, batch.rows_duplicate) == (rows, 0, 0)
        assert batch.rows_inserted == rows
        assert batch.source.name == demo.name and batch.source.kind == demo.kind
        assert batch.source.visibility == Visibility.PUBLIC and batch.source.owner == admin
        assert batch.mapping_name == demo.mapping_name
        saved = ColumnMapping.objects.get(kind=demo.kind, name=demo.mapping_name)
        assert saved.spec == batch.mapping
    assert missing_sources() == []
