"""Fill a fresh data dir for the process-map page test: an admin and the receipt log.

Run as `python seed_receipt_site.py DATA_DIR RECEIPT_PARQUET PASSWORD` before `c360 serve`
starts on that data dir (the server owns the warehouse once it runs). The file goes through
the import path an upload takes, with the receipt log's saved mapping; people are linked.
Prints the source id as JSON.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

RECEIPT_MAPPING = {
    "fields": {
        "customer_id": {"column": "case:concept:name"},
        "event": {"column": "concept:name"},
        "timestamp": {"column": "time:timestamp"},
    },
    "properties": "rest",
}


def main(data_dir: Path, receipt: Path, password: str) -> None:
    os.environ["C360_DATA_DIR"] = str(data_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "c360.web.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    from c360.accounts.logic import create_user
    from c360.identity.logic import update_identity
    from c360.sources.logic import create_batch, run_import
    from c360.sources.models import BatchStatus, DataSource
    from c360.warehouse import get_warehouse

    admin = create_user(username="admin", password=password, role="admin")
    source = DataSource.objects.create(
        name="Receipts", kind="events", visibility="private", owner=admin
    )
    batch = create_batch(
        actor=admin, source=source, file_name=receipt.name, file_size=receipt.stat().st_size
    )
    batch = run_import(batch=batch, path=receipt, mapping_spec=RECEIPT_MAPPING)
    if batch.status != BatchStatus.DONE:
        raise SystemExit(f"{receipt.name}: {batch.status} {batch.error}")
    update_identity(warehouse=get_warehouse(), batch_ids=None)
    print(json.dumps({"source": source.pk}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
