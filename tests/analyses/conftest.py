"""A small world for the analysis-run tests: users with and without the analyze right,
tokens, a public shop source with a landed journey log and a private source."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from c360.sources.models import DataSource
    from c360.warehouse import Warehouse


@dataclass
class World:
    admin: User
    owner: User  # staff owning the private source
    analyst: User  # staff with analyze (and import) on the shop
    importer: User  # staff with import but not analyze on the shop
    bystander: User  # staff with no grant
    shop: DataSource  # public, the admin's, holds the journey log below
    private: DataSource  # the owner's
    analyze_token: str  # analyze on the shop
    import_token: str  # import only, on the shop

    def shop_spec(self, **more: Any) -> dict[str, Any]:
        return {"source_ids": [self.shop.pk], "case": "column:customer_id", **more}


def shop_events() -> list[dict[str, Any]]:
    """40 visitors: home, product, then desktop visitors order and mobile ones leave."""
    from journeys.logs import event

    rows = []
    for i in range(40):
        device = "desktop" if i % 2 == 0 else "mobile"
        case, start = f"v{i:02d}", i * 60
        rows.append(event(case, "home", start, device_category=device, channel="web"))
        rows.append(event(case, "product", start + 1, device_category=device, channel="web"))
        rows.append(event(case, "order" if device == "desktop" else "leave", start + 3))
    return rows


@pytest.fixture
def world(db: None, warehouse: Warehouse) -> World:
    from c360.accounts.logic import create_token
    from c360.sources.models import Visibility
    from factories import grant, make_admin, make_source, make_staff
    from journeys.logs import event, land_events

    admin = make_admin("root")
    owner = make_staff("olivia")
    analyst = make_staff("ana")
    importer = make_staff("ivan")
    bystander = make_staff("bert")
    shop = make_source(owner=admin, name="Shop", visibility=Visibility.PUBLIC)
    private = make_source(owner=owner, name="Olivia's leads")
    grant(source=shop, user=analyst, can_import=True, can_analyze=True, granted_by=admin)
    grant(source=shop, user=importer, can_import=True, can_analyze=False, granted_by=admin)
    land_events(warehouse, shop_events(), source_id=shop.pk, batch_id=1, link=False)
    land_events(
        warehouse,
        [event("lead-1", "call", 0), event("lead-1", "quote", 5)],
        source_id=private.pk,
        batch_id=2,
        link=False,
    )
    analyze = create_token(
        name="bi", created_by=admin, source_ids=[shop.pk], permissions=["analyze"]
    )
    imports = create_token(
        name="feed", created_by=admin, source_ids=[shop.pk], permissions=["import"]
    )
    return World(
        admin=admin,
        owner=owner,
        analyst=analyst,
        importer=importer,
        bystander=bystander,
        shop=shop,
        private=private,
        analyze_token=analyze.secret,
        import_token=imports.secret,
    )


@dataclass
class Gate:
    """A kind whose runs report half way, then wait until released (or fail if told to)."""

    release: threading.Event = field(default_factory=threading.Event)
    calls: int = 0


@pytest.fixture
def gate() -> Iterator[Gate]:
    from c360.analyses import logic

    opened = Gate()

    def compute(
        spec: dict[str, Any], params: dict[str, Any], progress: Callable[[float, str], None]
    ) -> dict[str, Any]:
        opened.calls += 1
        progress(0.5, "half way")
        if not opened.release.wait(30):
            raise RuntimeError("the test never released the gate")
        progress(0.9, "almost there")
        if "fail" in params:
            raise ValueError(params["fail"])
        if "crash" in params:
            raise KeyError(params["crash"])
        return {"answer": 42, "headline": {"answer": params.get("answer", 42)}}

    logic.register("gate", compute, label="Gate")
    try:
        yield opened
    finally:
        opened.release.set()
        logic.unregister("gate")
