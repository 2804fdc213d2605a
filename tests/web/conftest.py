"""A small world of people and sources for the page tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    # Models load once Django is set up (tests/conftest.py), which is after this module is
    # imported when pytest is pointed at tests/web directly.
    from django.contrib.auth.models import User
    from django.test import Client

    from c360.sources.models import ColumnMapping, DataSource, ImportBatch


@dataclass
class World:
    admin: User
    owner: User  # staff owning a private source
    importer: User  # staff with the import right on the public source
    viewer: User  # staff holding no grant: sees public sources only
    public: DataSource  # owned by the admin, seen by all staff
    private: DataSource  # owned by `owner`, unseen by `viewer` and `importer`
    batch: ImportBatch  # a landed import into `public`, with a file of rejected rows
    private_batch: ImportBatch
    mapping: ColumnMapping


def client_for(user: User | None) -> Client:
    from django.test import Client

    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def world(db: None, tmp_path: Path) -> World:
    from c360.sources.models import BatchStatus, ColumnMapping, ImportBatch, Visibility
    from factories import grant, make_admin, make_source, make_staff

    admin = make_admin("root")
    owner = make_staff("olivia")
    importer = make_staff("ivan")
    viewer = make_staff("vera")
    public = make_source(owner=admin, name="Web shop", visibility=Visibility.PUBLIC)
    private = make_source(owner=owner, name="Olivia's leads", visibility=Visibility.PRIVATE)
    grant(source=public, user=importer, can_import=True, can_analyze=False, granted_by=admin)
    rejected = tmp_path / "rejected.csv"
    rejected.write_text("row,column,reason,customer_id\n3,time,not a timestamp,c3\n")
    batch = ImportBatch.objects.create(
        source=public,
        created_by=admin,
        file_name="journey.csv",
        file_size=2048,
        status=BatchStatus.DONE,
        rows_read=3,
        rows_accepted=2,
        rows_rejected=1,
        rows_inserted=2,
        rejected_path=str(rejected),
        errors_sample=[{"row": 3, "column": "time", "reason": "not a timestamp"}],
        mapping={"fields": {"customer_id": {"column": "cust"}}, "properties": "rest"},
    )
    private_batch = ImportBatch.objects.create(
        source=private, created_by=owner, file_name="leads.csv", status=BatchStatus.DONE
    )
    mapping = ColumnMapping.objects.create(
        name="Shop export",
        kind=public.kind,
        created_by=admin,
        spec={
            "fields": {
                "customer_id": {"column": "Customer Number"},
                "event": {"column": "Action"},
                "timestamp": {"column": "When", "format": "%d/%m/%Y %H:%M"},
                "channel": {"constant": "web"},
            },
            "properties": "rest",
        },
    )
    return World(
        admin=admin,
        owner=owner,
        importer=importer,
        viewer=viewer,
        public=public,
        private=private,
        batch=batch,
        private_batch=private_batch,
        mapping=mapping,
    )
