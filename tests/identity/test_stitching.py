"""Stitching on a synthetic population whose truth is known, and incremental updates."""

from __future__ import annotations

import hashlib
from itertools import combinations
from typing import Any

import pytest

from c360.identity import queries
from c360.identity.logic import update_identity
from c360.warehouse import Warehouse
from identity.landing import Population, land, land_population, population


def identity_rows(warehouse: Warehouse) -> set[tuple[Any, ...]]:
    table = warehouse.table("identity_map").to_pyarrow().drop(["computed_at"])
    return {tuple(row.values()) for row in table.to_pylist()}


def profile_rows(warehouse: Warehouse) -> dict[str, list[tuple[Any, ...]]]:
    """Every profile table's rows, sorted: what an incremental update must leave as a full one."""
    from c360.warehouse.schema import PROFILE_TABLES

    return {
        name: sorted(
            tuple(str(v) for v in row.values())
            for row in warehouse.table(name).to_pyarrow().to_pylist()
        )
        for name in PROFILE_TABLES
    }


def person_map(warehouse: Warehouse) -> dict[tuple[str, str], Any]:
    rows = warehouse.table("identity_map").to_pyarrow().to_pylist()
    return {(r["id_type"], r["id_value"]): r for r in rows}


@pytest.fixture
def stitched(warehouse: Warehouse) -> tuple[Warehouse, Population, dict[int, str]]:
    pop = population()
    names = land_population(warehouse, pop)
    update_identity(warehouse=warehouse)
    return warehouse, pop, names


def test_people_found_match_the_truth(stitched: tuple[Warehouse, Population, Any]) -> None:
    warehouse, pop, _ = stitched
    found = person_map(warehouse)
    known = [key for key in pop.truth if key in found]
    assert len(known) == len(pop.truth)
    true_pairs = {(a, b) for a, b in combinations(sorted(known), 2) if pop.truth[a] == pop.truth[b]}
    found_pairs = {
        (a, b)
        for a, b in combinations(sorted(known), 2)
        if found[a]["person_id"] is not None and found[a]["person_id"] == found[b]["person_id"]
    }
    precision = len(true_pairs & found_pairs) / len(found_pairs)
    recall = len(true_pairs & found_pairs) / len(true_pairs)
    print(f"same-person pairs: {len(true_pairs)}; precision {precision:.4f}, recall {recall:.4f}")
    assert precision >= 0.99
    assert recall >= 0.99


def test_a_household_phone_links_no_one(stitched: tuple[Warehouse, Population, Any]) -> None:
    warehouse, pop, _ = stitched
    found = person_map(warehouse)
    for phone in pop.shared_phones:
        row = found[("phone", phone)]
        assert not row["linked"]
        assert (
            row["reason"] == f"phone {phone} is shared by 2 customer ids; the limit is 1 per person"
        )
        assert row["person_id"] not in {found[k]["person_id"] for k in pop.truth}
    # the two customers of the first household stay two people
    assert (
        found[("customer_id", "C0000")]["person_id"] != found[("customer_id", "C0001")]["person_id"]
    )


def test_test_values_fuse_no_one(stitched: tuple[Warehouse, Population, Any]) -> None:
    warehouse, pop, _ = stitched
    found = person_map(warehouse)
    blocked_email = found[("email", "test@example.com")]
    assert (blocked_email["person_id"], blocked_email["linked"]) == (None, False)
    assert "blocked value" in blocked_email["reason"]
    assert found[("phone", "+00000000")]["person_id"] is None
    assert len({found[("customer_id", f"T{j}")]["person_id"] for j in range(5)}) == 5
    shop_test = found[("email", pop.shared_email)]
    assert not shop_test["linked"]
    assert "shared by 4 customer ids" in shop_test["reason"]


def test_an_anonymous_visitor_joins_the_customer_after_logging_in(
    stitched: tuple[Warehouse, Population, Any],
) -> None:
    warehouse, pop, _ = stitched
    person = queries.person_of("customer_id", "C0002", warehouse=warehouse)
    assert person == queries.person_of("anonymous_id", "anon-2-0", warehouse=warehouse)
    # every page view of that cookie, also those before the login, is the person's
    web_rows = queries.record_ids(person, "events", warehouse=warehouse, source_ids=[3])
    assert {f"w2-0-{step}" for step in range(3)} <= set(web_rows.event_id.to_pyarrow().to_pylist())


def test_person_id_is_the_hash_of_the_anchor_and_stays(
    stitched: tuple[Warehouse, Population, Any],
) -> None:
    warehouse, _, _ = stitched
    expected = "p_" + hashlib.md5(b"customer_id:C0005").hexdigest()[:16]  # noqa: S324
    assert queries.person_of("email", "PERSON5@mail.example", warehouse=warehouse) == expected
    assert queries.person_of("phone", "+31 6 1000 0005", warehouse=warehouse) == expected
    land(
        warehouse,
        "events",
        [{"event_id": "x1", "email": "person5@mail.example", "anonymous_id": "new-cookie"}],
        source_id=3,
        batch_id=6,
    )
    update_identity(warehouse=warehouse, batch_ids=[6])
    assert queries.person_of("anonymous_id", "new-cookie", warehouse=warehouse) == expected
    assert queries.person_of("email", "nobody@mail.example", warehouse=warehouse) is None


def test_explanations_name_the_identifier_and_the_sources(
    stitched: tuple[Warehouse, Population, dict[int, str]],
) -> None:
    warehouse, _, names = stitched
    person = queries.person_of("customer_id", "C0003", warehouse=warehouse)
    sentences = queries.explain_links(person, warehouse=warehouse, source_names=names)
    assert (
        "linked because e-mail person3@mail.example appears in Customers (CRM) (customers) "
        "and in Marketing e-mails (events)"
    ) in sentences
    assert (
        "linked because anonymous id anon-3-0 appears with customer id C0003 on 1 row of "
        "Web logs (events)"
    ) in sentences
    identifiers = queries.person_identifiers(person, warehouse=warehouse, source_names=names)
    assert identifiers[0]["id_type"] == "customer_id"
    email = next(i for i in identifiers if i["id_type"] == "email")
    assert {(s["source_name"], s["record_table"], s["count"]) for s in email["sources"]} == {
        ("Customers (CRM)", "customers", 1),
        ("Marketing e-mails", "events", 1),
    }
    # a viewer without the e-mail source does not see it counted
    limited = queries.person_identifiers(
        person, warehouse=warehouse, source_ids=[1, 2, 3], source_names=names
    )
    email = next(i for i in limited if i["id_type"] == "email")
    assert [s["source_name"] for s in email["sources"]] == ["Customers (CRM)"]


def test_a_household_member_sees_why_the_phone_is_not_linked(
    stitched: tuple[Warehouse, Population, dict[int, str]],
) -> None:
    warehouse, pop, names = stitched
    phone = sorted(pop.shared_phones)[0]
    person = queries.person_of("phone", phone, warehouse=warehouse)
    sentences = queries.explain_links(person, warehouse=warehouse, source_names=names)
    assert sentences[0] == (
        f"not linked: phone {phone} is shared by 2 customer ids; the limit is 1 per person"
    )


def test_incremental_updates_equal_a_recomputation(warehouse: Warehouse) -> None:
    pop = population()
    land(warehouse, "customers", pop.customers, source_id=1, batch_id=1)
    land(warehouse, "orders", pop.orders, source_id=2, batch_id=2)
    land(warehouse, "events", pop.mails, source_id=4, batch_id=4)
    first = update_identity(warehouse=warehouse)

    # a new batch: the web logs tie cookies to customers, and one cookie to two customers
    web = [*pop.web, {"event_id": "shared-1", "anonymous_id": "anon-7-0", "customer_id": "C0009"}]
    land(warehouse, "events", web, source_id=3, batch_id=3)
    added = update_identity(warehouse=warehouse, batch_ids=[3])
    incremental, profiles = identity_rows(warehouse), profile_rows(warehouse)
    update_identity(warehouse=warehouse)
    assert incremental == identity_rows(warehouse)
    assert profiles == profile_rows(warehouse)
    assert all(profiles[name] for name in ("profile_identifiers", "profile_events"))
    assert added.recomputed < added.identifiers  # untouched people were not recomputed
    assert person_map(warehouse)[("anonymous_id", "anon-7-0")]["linked"] is False

    # a small batch touches a few people only
    land(
        warehouse,
        "events",
        [{"event_id": "late", "email": "person21@mail.example", "phone": "0611111111"}],
        source_id=4,
        batch_id=7,
    )
    small = update_identity(warehouse=warehouse, batch_ids=[7])
    assert small.recomputed <= 10
    incremental, profiles = identity_rows(warehouse), profile_rows(warehouse)
    update_identity(warehouse=warehouse)
    assert incremental == identity_rows(warehouse)
    assert profiles == profile_rows(warehouse)

    # rolling both back restores the first map exactly
    with warehouse.writer() as writer:
        writer.delete_batches([3, 7])
    update_identity(warehouse=warehouse, batch_ids=[3, 7])
    incremental, profiles = identity_rows(warehouse), profile_rows(warehouse)
    update_identity(warehouse=warehouse)
    assert incremental == identity_rows(warehouse)
    assert profiles == profile_rows(warehouse)
    assert len(incremental) == first.identifiers
    assert ("anonymous_id", "anon-7-0") not in person_map(warehouse)


def test_an_update_touching_many_people_rewrites_every_profile_alike(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    import c360.identity.logic as identity_logic

    pop = population()
    land(warehouse, "customers", pop.customers, source_id=1, batch_id=1)
    land(warehouse, "events", pop.mails, source_id=4, batch_id=4)
    update_identity(warehouse=warehouse)
    # Every update now counts as touching many people: profiles are rewritten whole.
    monkeypatch.setattr(identity_logic, "_PROFILES_REWRITTEN_ABOVE", 0)
    land(warehouse, "events", pop.web, source_id=3, batch_id=3)
    update_identity(warehouse=warehouse, batch_ids=[3])
    incremental, profiles = identity_rows(warehouse), profile_rows(warehouse)
    update_identity(warehouse=warehouse)
    assert incremental == identity_rows(warehouse)
    assert profiles == profile_rows(warehouse)
    assert profiles["profile_events"]
