"""Fill a fresh data dir for the page test: an admin, six sources, and their files imported,
and a write key of the web logs for the tracking API.

Run as `python seed_site.py DATA_DIR CSV_DIR PASSWORD` before `c360 serve` starts on that data
dir (the server owns the warehouse once it runs). The files go through the same import path
as an upload; the identity map is then brought up to date. Prints the sources as JSON.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from c360.warehouse import Warehouse

FILES = {
    # source name: (kind, file name, visibility)
    "Customers (CRM)": ("customers", "customers.csv", "public"),
    "Orders": ("orders", "orders.csv", "public"),
    "Order lines": ("order_items", "order_items.csv", "public"),
    "Products": ("products", "products.csv", "public"),
    "Web logs": ("events", "web.csv", "public"),
    "Marketing e-mails": ("events", "emails.csv", "public"),
    "Support calls": ("events", "calls.csv", "private"),
}


def _fill_identifiers() -> None:
    """Identifiers of every landed row, where the import did not record them itself."""
    from c360.identity.logic import identifiers_of
    from c360.warehouse import get_warehouse

    warehouse = get_warehouse()
    if warehouse.count("identifiers"):
        return
    with warehouse.writer() as writer:
        for table in ("customers", "orders", "events"):
            rows = warehouse.table(table).to_pyarrow()
            writer.append("identifiers", identifiers_of(table=table, rows=rows))


def _stitch_small(warehouse: Warehouse) -> None:
    """Connected components of identifiers sharing a record, for a handful of test rows."""
    import hashlib

    from shop import write_identity_map

    rows = warehouse.table("identifiers").to_pyarrow().to_pylist()
    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def root(node: tuple[str, str]) -> tuple[str, str]:
        while parent.setdefault(node, node) != node:
            node = parent[node]
        return node

    by_record: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for row in rows:
        node = (row["id_type"], row["id_value"])
        root(node)
        by_record.setdefault((row["record_table"], row["record_id"]), []).append(node)
    for nodes in by_record.values():
        for node in nodes[1:]:
            parent[root(node)] = root(nodes[0])
    order = ("customer_id", "user_id", "email", "phone", "device_id", "anonymous_id")
    members: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for node in parent:
        members.setdefault(root(node), []).append(node)
    entries = []
    for nodes in members.values():
        anchor = min(nodes, key=lambda n: (order.index(n[0]) if n[0] in order else 9, n[1]))
        person = "p_" + hashlib.md5(":".join(anchor).encode()).hexdigest()[:16]  # noqa: S324
        entries.extend((kind, value, person, True, None) for kind, value in nodes)
    write_identity_map(warehouse, entries)


def main(data_dir: Path, csv_dir: Path, password: str) -> None:
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
    create_user(username="vera", password=password, role="staff")
    sources = {}
    for name, (kind, file_name, visibility) in FILES.items():
        source = DataSource.objects.create(name=name, kind=kind, visibility=visibility, owner=admin)
        path = csv_dir / file_name
        batch = create_batch(
            actor=admin, source=source, file_name=file_name, file_size=path.stat().st_size
        )
        batch = run_import(batch=batch, path=path)
        if batch.status != BatchStatus.DONE:
            raise SystemExit(f"{file_name}: {batch.status} {batch.error} {batch.errors_sample}")
        sources[name] = source.pk
    _fill_identifiers()
    from c360.sources.logic import create_write_key

    web = DataSource.objects.get(pk=sources["Web logs"])
    write_key = create_write_key(actor=admin, source=web, name="live page test").secret
    from shop import ensure_identity_map  # tests/profiles/shop.py, beside this script

    ensure_identity_map(get_warehouse())
    try:
        update_identity(warehouse=get_warehouse(), batch_ids=None)
    except ImportError:  # the identity map's warehouse migration is not in this tree yet
        _stitch_small(get_warehouse())
    print(json.dumps({"sources": sources, "write_key": write_key}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
