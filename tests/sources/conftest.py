"""A small world of users, sources, tokens and import batches for the API tests."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

# Django is set up after the conftest files are imported (see tests/conftest.py), so models
# are imported inside the fixtures.
if TYPE_CHECKING:
    from api_helpers import World
    from django.contrib.auth.models import User

    from c360.sources.models import DataSource, ImportBatch


def _batch(source: DataSource, by: User, rejected: Path) -> ImportBatch:
    from c360.sources.models import BatchStatus, ImportBatch

    rejected.write_text("row,column,reason,customer_id\n3,time,not a timestamp,c3\n")
    return ImportBatch.objects.create(
        source=source,
        created_by=by,
        file_name="journey.csv",
        file_size=100,
        status=BatchStatus.DONE,
        rows_read=3,
        rows_accepted=2,
        rows_rejected=1,
        rejected_path=str(rejected),
    )


@pytest.fixture
def world(db: None, tmp_path: Path) -> World:
    from api_helpers import World

    from c360.accounts.logic import create_token, revoke_token
    from c360.sources.models import Visibility
    from factories import grant, make_admin, make_source, make_staff

    admin = make_admin("root")
    owner = make_staff("olivia")
    bystander = make_staff("bert")
    granted = make_staff("gina")
    shop = make_source(owner=admin, name="Shop", visibility=Visibility.PUBLIC)
    crm = make_source(owner=admin, name="CRM", visibility=Visibility.PUBLIC)
    private = make_source(owner=owner, name="Olivia's notes", visibility=Visibility.PRIVATE)
    grant(source=shop, user=granted, can_import=True, can_analyze=True, granted_by=admin)
    both = ["import", "analyze"]
    shop_issued = create_token(
        name="shop feed", created_by=admin, source_ids=[shop.pk], permissions=both
    )
    crm_issued = create_token(
        name="crm feed", created_by=admin, source_ids=[crm.pk], permissions=both
    )
    revoked = create_token(name="old", created_by=admin, source_ids=[shop.pk], permissions=both)
    revoke_token(token=revoked.token)
    return World(
        admin=admin,
        owner=owner,
        bystander=bystander,
        granted=granted,
        shop=shop,
        crm=crm,
        private=private,
        shop_batch=_batch(shop, admin, tmp_path / "shop-rejected.csv"),
        private_batch=_batch(private, owner, tmp_path / "private-rejected.csv"),
        shop_token=shop_issued.secret,
        crm_token=crm_issued.secret,
        revoked_token=revoked.secret,
        shop_token_row=shop_issued.token,
    )
