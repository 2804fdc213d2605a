"""Users, sources and tokens around the shop of shop.py, for the profile tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from c360.sources.models import DataSource
    from c360.warehouse import Warehouse


@dataclass
class Shop:
    admin: User
    agent: User  # staff granted the private calls source
    viewer: User  # staff without a grant: sees the public sources, not the calls
    sources: dict[str, DataSource]
    reader_token: str  # analyze permission on every source but the calls
    import_token: str  # import permission only: may not read profiles
    warehouse: Warehouse


@pytest.fixture
def shop(db: None, warehouse: Warehouse) -> Shop:
    from c360.accounts.logic import create_token
    from c360.sources.models import SourceKind, Visibility
    from factories import grant, make_admin, make_source, make_staff
    from profiles import shop as rows

    admin = make_admin("root")
    agent = make_staff("agnes")
    viewer = make_staff("vera")
    public = Visibility.PUBLIC
    sources = {
        "crm": make_source(
            owner=admin, name="Customers (CRM)", kind=SourceKind.CUSTOMERS, visibility=public
        ),
        "orders": make_source(
            owner=admin, name="Orders", kind=SourceKind.ORDERS, visibility=public
        ),
        "lines": make_source(
            owner=admin, name="Order lines", kind=SourceKind.ORDER_ITEMS, visibility=public
        ),
        "products": make_source(
            owner=admin, name="Products", kind=SourceKind.PRODUCTS, visibility=public
        ),
        "web": make_source(owner=admin, name="Web logs", visibility=public),
        "email": make_source(owner=admin, name="Marketing e-mails", visibility=public),
        "calls": make_source(owner=admin, name="Support calls", visibility=Visibility.PRIVATE),
    }
    grant(source=sources["calls"], user=agent, can_import=False, can_analyze=False)
    readable = [s.pk for key, s in sources.items() if key != "calls"]
    reader = create_token(
        name="crm sync", created_by=admin, source_ids=readable, permissions=["analyze"]
    )
    importer = create_token(
        name="web feed", created_by=admin, source_ids=readable, permissions=["import"]
    )
    rows.load(warehouse, {key: source.pk for key, source in sources.items()})
    return Shop(
        admin=admin,
        agent=agent,
        viewer=viewer,
        sources=sources,
        reader_token=reader.secret,
        import_token=importer.secret,
        warehouse=warehouse,
    )
