"""A crash between the warehouse commit and the metadata update leaves no half batch."""

from __future__ import annotations

from pathlib import Path

import pytest

from c360.sources import logic
from c360.sources.models import BatchStatus
from c360.warehouse import Warehouse
from factories import make_admin, make_source

pytestmark = pytest.mark.django_db


def test_rows_of_a_batch_left_pending_are_removed_on_start(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    source = make_source(owner=make_admin(), kind="events")
    path = tmp_path / "journey.csv"
    path.write_text(
        "customer_id,action_type,time\nA,visit,2024-01-01 10:00\nB,visit,2024-01-01 11:00\n"
    )
    done = logic.create_batch(actor=source.owner, source=source, file_name="a.csv", file_size=1)
    logic.run_import(batch=done, path=path)
    # Simulate the crash: the rows were committed under a batch that metadata still calls running.
    path2 = tmp_path / "second.csv"
    path2.write_text("customer_id,action_type,time\nC,visit,2024-01-02 10:00\n")
    pending = logic.create_batch(actor=source.owner, source=source, file_name="c.csv", file_size=1)
    logic.run_import(batch=pending, path=path2)
    type(pending).objects.filter(pk=pending.pk).update(status=BatchStatus.RUNNING)
    assert warehouse.count("events") == 3

    assert logic.recover_pending_batches() == 1

    pending.refresh_from_db()
    assert pending.status == BatchStatus.FAILED and "nothing of it was kept" in pending.error
    assert warehouse.count("events") == 2
    assert warehouse.count("events", batch_id=done.pk) == 2


def test_a_failed_identity_update_keeps_the_rows_and_says_so(
    warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bad merge-rule setting makes the identity update fail after the rows have landed.
    monkeypatch.setenv("C360_IDENTITY_LIMITS", "email=lots")
    source = make_source(owner=make_admin(), kind="events")
    path = tmp_path / "journey.csv"
    path.write_text("customer_id,action_type,time\nA,visit,2024-01-01 10:00\n")
    batch = logic.create_batch(actor=source.owner, source=source, file_name="a.csv", file_size=1)

    batch = logic.run_import(batch=batch, path=path)

    batch.refresh_from_db()
    assert batch.status == BatchStatus.DONE
    assert batch.stage == "people not linked"
    assert batch.error.startswith("Linking people failed (ConfigError: C360_IDENTITY_LIMITS=")
    assert warehouse.count("events") == 1
