"""The profile API: what a profile shows, who sees which sources in it, and who is refused."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from profiles.conftest import Shop
from profiles.shop import ANNA, ANNA_PHONE, BRAM, HOUSEHOLD, HOUSEHOLD_PHONE


def _client(actor: User | None) -> Client:
    client = Client()
    if actor is not None:
        client.force_login(actor)
    return client


def _get(actor: User | str | None, path: str, status: int = 200) -> Any:
    if isinstance(actor, str):
        response = Client().get(path, HTTP_AUTHORIZATION=f"Bearer {actor}")
    else:
        response = _client(actor).get(path)
    assert response.status_code == status, response.content
    return response.json()


def _iso(day: str, time: str = "12:00") -> str:
    return datetime.fromisoformat(f"2024-{day}T{time}:00").replace(tzinfo=UTC).isoformat()


def _same_time(value: str | None, day: str, time: str = "12:00") -> bool:
    assert value is not None
    return datetime.fromisoformat(value.replace("Z", "+00:00")) == datetime.fromisoformat(
        _iso(day, time)
    )


def _age(born: date) -> int:
    today = datetime.now(UTC).date()
    return today.year - born.year - int((today.month, today.day) < (born.month, born.day))


def test_the_profile_joins_every_source_into_one_person(shop: Shop) -> None:
    profile = _get(shop.admin, f"/api/profiles/{ANNA}")

    who = profile["who"]
    assert who["name"] == "Anna de Vries"
    assert who["gender"] == "female"
    assert who["age"] == _age(date(1990, 5, 17))
    assert who["emails"] == ["anna@example.nl"]
    assert who["phones"] == [ANNA_PHONE]
    assert who["customer_ids"] == ["C1"]
    assert (who["address"], who["postal_code"], who["city"]) == (
        "Oudegracht 12",
        "3511 AB",
        "Utrecht",
    )
    assert _same_time(who["customer_since"], "01-02")
    assert profile["sources"] == [
        "Customers (CRM)",
        "Marketing e-mails",
        "Orders",
        "Support calls",
        "Web logs",
    ]


def test_purchases_online_in_store_and_together(shop: Shop) -> None:
    purchases = _get(shop.admin, f"/api/profiles/{ANNA}")["purchases"]

    online, in_store, total = purchases["online"], purchases["in_store"], purchases["total"]
    assert (online["orders"], online["items"], online["total_spent"]) == (2, 6, 250.0)
    assert online["items_per_order"] == 3.0
    assert online["average_order_value"] == 125.0
    assert (in_store["orders"], in_store["items"], in_store["total_spent"]) == (1, 1, 50.0)
    assert (total["orders"], total["items"], total["total_spent"]) == (3, 7, 300.0)
    assert total["items_per_order"] == 2.33
    assert total["average_order_value"] == 100.0
    assert total["currency"] == "EUR"
    assert _same_time(total["first_purchase"], "01-10")
    assert _same_time(total["last_purchase"], "03-05")
    assert _same_time(in_store["last_purchase"], "02-01")


def test_favourite_products_brands_and_categories(shop: Shop) -> None:
    favourites = _get(shop.admin, f"/api/profiles/{ANNA}")["favourites"]

    # P1 and P3 were both bought three times; P1 in more orders, so it ranks first.
    assert [(p["name"], p["count"]) for p in favourites["products"]] == [
        ("Linen shirt", 3),
        ("Merino socks", 3),
        ("Wool coat", 1),
    ]
    assert [(b["name"], b["count"]) for b in favourites["brands"]] == [
        ("Nordic", 6),
        ("Alpine", 1),
    ]
    assert [c["name"] for c in favourites["categories"]] == ["Shirts", "Accessories", "Coats"]


def test_a_product_recorded_twice_counts_its_lines_once(shop: Shop) -> None:
    from profiles.shop import _arrow, _lineage

    # The catalogue's later import names P1 again, with a brand that sorts after Nordic.
    again = {"record_id": "prod-P1-again", "product_id": "P1", "name": "Linen shirt"}
    with shop.warehouse.writer() as writer:
        writer.append(
            "products",
            _arrow(_lineage(shop.sources["products"].pk, [{**again, "brand": "Zephyr"}])),
        )

    profile = _get(shop.admin, f"/api/profiles/{ANNA}")
    assert profile["purchases"]["total"]["items"] == 7
    favourites = profile["favourites"]
    assert [(p["name"], p["brand"], p["count"]) for p in favourites["products"]] == [
        ("Linen shirt", "Zephyr", 3),
        ("Merino socks", "Nordic", 3),
        ("Wool coat", "Alpine", 1),
    ]
    assert [(b["name"], b["count"]) for b in favourites["brands"]] == [
        ("Zephyr", 3),
        ("Nordic", 3),
        ("Alpine", 1),
    ]


def test_latest_activity_and_recent_errors(shop: Shop) -> None:
    profile = _get(shop.admin, f"/api/profiles/{ANNA}")

    latest = profile["latest"]
    assert _same_time(latest["last_in_store_order"], "02-01")
    assert _same_time(latest["last_online_order"], "03-05")
    assert _same_time(latest["last_email_sent"], "03-06")
    assert _same_time(latest["last_email_opened"], "03-07")
    assert _same_time(latest["last_email_clicked"], "03-08")
    assert _same_time(latest["last_visit"], "03-04", "08:00")
    assert _same_time(latest["last_login"], "03-02", "10:00")
    assert _same_time(latest["last_call"], "03-09")
    # Newest first; the second error was logged before the visitor logged in again.
    assert [(e["page"], e["message"]) for e in profile["errors"]] == [
        ("/cart", "Timeout"),
        ("/checkout", "Payment failed"),
    ]
    assert _same_time(profile["errors"][0]["at"], "03-04", "08:30")
    assert profile["errors"][0]["source_name"] == "Web logs"


def test_activities_count_however_their_names_are_written(shop: Shop) -> None:
    from c360.identity.serving import build_profiles
    from profiles.shop import _arrow, _event, _lineage, at, identifiers

    app = {"anonymous_id": "a-123", "channel": "App"}
    rows = _lineage(
        shop.sources["web"].pk,
        [
            _event("x-1", "Email Opened", at("04-10"), **{**app, "channel": "E-Mail"}),
            _event("x-2", " Sign In ", at("04-11"), **app),
            _event(
                "x-3",
                "Checkout Error",
                at("04-12"),
                app_screen_title="Checkout",
                properties='{"error": 42, "message": "Card declined"}',
                **app,
            ),
            _event("x-4", "Opened", at("04-13"), **{**app, "channel": "web"}),  # not an e-mail
            _event("x-5", "Inbound Call", at("04-14"), anonymous_id="a-123"),
        ],
    )
    with shop.warehouse.writer() as writer:
        writer.append("events", _arrow(rows))
        writer.append("identifiers", _arrow(identifiers("events", rows)))
    build_profiles(shop.warehouse)

    profile = _get(shop.admin, f"/api/profiles/{ANNA}")
    latest = profile["latest"]
    assert _same_time(latest["last_email_opened"], "04-10")
    assert _same_time(latest["last_login"], "04-11")
    assert _same_time(latest["last_call"], "04-14")
    assert _same_time(latest["last_seen"], "04-14")
    error = profile["errors"][0]
    assert (error["activity"], error["page"], error["message"]) == (
        "Checkout Error",
        "Checkout",
        "Card declined",  # the error property is a number, not a message
    )
    assert profile["timeline"]["entries"][0]["activity"] == "Inbound Call"


def test_the_timeline_is_newest_first_paginated_and_filterable(shop: Shop) -> None:
    timeline = _get(shop.admin, f"/api/profiles/{ANNA}")["timeline"]
    assert timeline["total"] == 13  # 6 web, 3 e-mail, 1 call, 3 orders
    activities = [entry["activity"] for entry in timeline["entries"]]
    assert activities[:6] == [
        "call",
        "email_clicked",
        "email_opened",
        "email_sent",
        "order",
        "error",
    ]
    moments = [entry["at"] for entry in timeline["entries"]]
    assert moments == sorted(moments, reverse=True)
    # The anonymous visit before the login is part of the same person.
    assert activities[-3:] == ["visit", "order", "order"]
    orders = [entry for entry in timeline["entries"] if entry["kind"] == "order"]
    assert [(o["amount"], o["currency"]) for o in orders] == [
        (150.0, "EUR"),
        (50.0, "EUR"),
        (100.0, "EUR"),
    ]
    assert {f["value"] for f in timeline["channels"]} == {
        "web",
        "email",
        "phone",
        "online",
        "in_store",
    }

    url = f"/api/profiles/{ANNA}/timeline"
    web = str(shop.sources["web"].pk)
    errors = _get(shop.admin, f"{url}?source={web}&activity=error")
    assert [e["page"] for e in errors["entries"]] == ["/cart", "/checkout"]
    emails = _get(shop.admin, f"{url}?channel=email")
    assert emails["total"] == 3
    assert emails["entries"][0]["details"] == ["campaign: Spring"]

    second = _get(shop.admin, f"{url}?page=2")
    assert second["page"] == 2 and second["pages"] == 1 and second["entries"] == []
    assert _get(shop.admin, f"{url}?page=0", status=422)["error"]["code"] == "invalid"


def test_identifiers_name_their_sources_and_why_they_are_linked(shop: Shop) -> None:
    profile = _get(shop.admin, f"/api/profiles/{ANNA}")

    identifiers = {(i["id_type"], i["id_value"]): i for i in profile["identifiers"]}
    assert set(identifiers) == {
        ("customer_id", "C1"),
        ("email", "anna@example.nl"),
        ("phone", ANNA_PHONE),
        ("anonymous_id", "a-123"),
    }
    assert all(i["linked"] for i in identifiers.values())
    email_sources = {
        (s["source_name"], s["record_table"], s["records"])
        for s in identifiers[("email", "anna@example.nl")]["sources"]
    }
    assert email_sources == {
        ("Customers (CRM)", "customers", 1),
        ("Marketing e-mails", "events", 3),
    }
    links = "\n".join(profile["links"])
    assert (
        "linked because anonymous id a-123 appears with customer id C1 on 2 rows of Web logs"
    ) in links
    assert (
        "linked because e-mail anna@example.nl appears in Customers (CRM) (customers) and in "
        "Marketing e-mails (events)"
    ) in links


def test_a_link_a_merge_rule_refused_is_shown_with_its_reason(shop: Shop) -> None:
    profile = _get(shop.admin, f"/api/profiles/{BRAM}")

    unlinked = {i["id_value"]: i for i in profile["identifiers"] if not i["linked"]}
    assert set(unlinked) == {HOUSEHOLD_PHONE, "test@example.com"}
    assert "shared by 2 customer ids" in unlinked[HOUSEHOLD_PHONE]["reason"]
    assert unlinked[HOUSEHOLD_PHONE]["person_id"] == HOUSEHOLD
    assert "blocked" in unlinked["test@example.com"]["reason"]
    assert f"not linked: phone {HOUSEHOLD_PHONE} is shared by 2 customer ids" in "\n".join(
        _get(shop.admin, f"/api/profiles/{HOUSEHOLD}")["links"]
    )
    # The household's call is not Bram's, and his customer record is not the household's.
    assert [e["activity"] for e in profile["timeline"]["entries"]] == ["order"]
    household = _get(shop.admin, f"/api/profiles/{HOUSEHOLD}")
    assert [e["activity"] for e in household["timeline"]["entries"]] == ["call"]
    assert household["who"]["name"] == "Unnamed customer"


def test_staff_without_the_calls_source_do_not_see_calls(shop: Shop) -> None:
    profile = _get(shop.viewer, f"/api/profiles/{ANNA}")

    assert profile["latest"]["last_call"] is None
    assert "Support calls" not in profile["sources"]
    assert all(entry["activity"] != "call" for entry in profile["timeline"]["entries"])
    assert profile["timeline"]["total"] == 12
    assert "Support calls" not in str(profile)  # links and identifiers included
    phone = next(i for i in profile["identifiers"] if i["id_type"] == "phone")
    assert [s["source_name"] for s in phone["sources"]] == ["Customers (CRM)"]
    calls = str(shop.sources["calls"].pk)
    timeline = _get(shop.viewer, f"/api/profiles/{ANNA}/timeline?source={calls}")
    assert timeline["total"] == 0 and timeline["entries"] == []
    # A person known only from the calls is not found at all.
    _get(shop.viewer, f"/api/profiles/{HOUSEHOLD}", status=404)

    # The agent, granted the calls source, sees the call.
    agent_view = _get(shop.agent, f"/api/profiles/{ANNA}")
    assert _same_time(agent_view["latest"]["last_call"], "03-09")
    assert "Support calls" in agent_view["sources"]


def test_lookup_by_identifier(shop: Shop) -> None:
    by_email = _get(shop.viewer, "/api/profiles/lookup?id_type=email&value=%20Anna@Example.NL")
    assert by_email["person_id"] == ANNA
    by_phone = _get(shop.viewer, "/api/profiles/lookup?id_type=phone&value=06%201234%205678")
    assert by_phone["person_id"] == ANNA
    by_customer = _get(shop.viewer, "/api/profiles/lookup?id_type=customer_id&value=C2")
    assert by_customer["who"]["name"] == "Bram Jansen"
    missing = _get(
        shop.viewer, "/api/profiles/lookup?id_type=email&value=nobody@example.nl", status=404
    )
    assert missing["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("q", "first"),
    [
        ("anna", ANNA),
        ("de vries", ANNA),
        ("anna@exa", ANNA),
        ("06 1234 5678", ANNA),
        ("a-12", ANNA),
        ("p_bram", BRAM),
        ("C2", BRAM),
        ("jansen", BRAM),
    ],
)
def test_search_finds_people_by_name_email_phone_identifier_and_person_id(
    shop: Shop, q: str, first: str
) -> None:
    hits = _get(shop.viewer, f"/api/profiles/search?q={q}")
    assert hits and hits[0]["person_id"] == first


def test_search_results_show_enough_to_pick_the_right_person(shop: Shop) -> None:
    (hit,) = _get(shop.viewer, "/api/profiles/search?q=anna")
    assert hit["name"] == "Anna de Vries"
    assert hit["email"] == "anna@example.nl"
    assert hit["city"] == "Utrecht"
    assert hit["orders"] == 3
    assert _same_time(hit["customer_since"], "01-02")
    assert _get(shop.viewer, "/api/profiles/search?q=a") == []
    assert _get(shop.viewer, "/api/profiles/search?q=zzz") == []


def test_search_never_finds_a_person_through_a_source_the_viewer_may_not_see(shop: Shop) -> None:
    # The household phone is on Bram's CRM record and on a call the viewer may not see.
    viewer_hits = _get(shop.viewer, f"/api/profiles/search?q={HOUSEHOLD_PHONE}")
    assert [hit["person_id"] for hit in viewer_hits] == [BRAM]
    admin_hits = _get(shop.admin, f"/api/profiles/search?q={HOUSEHOLD_PHONE}")
    assert {hit["person_id"] for hit in admin_hits} == {BRAM, HOUSEHOLD}


def test_a_token_with_the_analyze_permission_reads_its_sources_only(shop: Shop) -> None:
    profile = _get(shop.reader_token, f"/api/profiles/{ANNA}")
    assert profile["who"]["name"] == "Anna de Vries"
    assert profile["latest"]["last_call"] is None
    assert _get(shop.reader_token, "/api/profiles/search?q=anna")[0]["person_id"] == ANNA


def test_order_lines_count_only_with_an_order_the_caller_may_see(shop: Shop) -> None:
    from c360.accounts.logic import create_token

    # Lines and products, but not the orders they belong to: no purchases, no favourites.
    token = create_token(
        name="catalogue sync",
        created_by=shop.admin,
        source_ids=[shop.sources[key].pk for key in ("crm", "lines", "products")],
        permissions=["analyze"],
    ).secret
    profile = _get(token, f"/api/profiles/{ANNA}")

    assert profile["who"]["name"] == "Anna de Vries"
    assert profile["purchases"]["total"]["orders"] == 0
    assert profile["purchases"]["total"]["items"] == 0
    assert profile["favourites"] == {"products": [], "brands": [], "categories": []}
    assert profile["timeline"]["total"] == 0


@pytest.mark.parametrize(
    ("who", "person"), [("admin", ANNA), ("admin", BRAM), ("admin", HOUSEHOLD), ("viewer", ANNA)]
)
def test_the_profile_is_the_json_its_schema_gives(shop: Shop, who: str, person: str) -> None:
    # The endpoint renders the profile without validating it again: the JSON must be exactly
    # what validating it against ProfileOut (the OpenAPI contract) gives.
    from dataclasses import asdict

    from c360.profiles import logic
    from c360.profiles.schemas import ProfileOut
    from c360.web.api import api

    actor = getattr(shop, who)
    response = _client(actor).get(f"/api/profiles/{person}")

    validated = ProfileOut.model_validate(asdict(logic.profile(actor, person_id=person)))
    expected = api.renderer.render(None, validated.model_dump(), response_status=200)  # type: ignore[arg-type]
    assert response.content.decode() == expected
    assert response["Content-Type"] == api.get_content_type()


@pytest.mark.parametrize("query", ["", "?channel=email", "?page=2"])
def test_the_timeline_is_the_json_its_schema_gives(shop: Shop, query: str) -> None:
    from dataclasses import asdict

    from c360.profiles import logic
    from c360.profiles.schemas import TimelinePageOut
    from c360.web.api import api

    response = _client(shop.admin).get(f"/api/profiles/{ANNA}/timeline{query}")

    page = logic.timeline(
        shop.admin,
        person_id=ANNA,
        channel="email" if "email" in query else None,
        page=2 if "page" in query else 1,
    )
    validated = TimelinePageOut.model_validate(asdict(page))
    expected = api.renderer.render(None, validated.model_dump(), response_status=200)  # type: ignore[arg-type]
    assert response.content.decode() == expected


ENDPOINTS = [
    f"/api/profiles/{ANNA}",
    f"/api/profiles/{ANNA}/timeline",
    "/api/profiles/search?q=anna",
    "/api/profiles/lookup?id_type=email&value=anna@example.nl",
]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_anonymous_callers_are_refused(shop: Shop, path: str) -> None:
    body = _get(None, path, status=401)
    assert body["error"]["code"] == "unauthenticated"
    assert "Anna" not in str(body)


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_token_without_the_analyze_permission_is_refused(shop: Shop, path: str) -> None:
    body = _get(shop.import_token, path, status=403)
    assert body["error"]["code"] == "forbidden"
    assert "analyze" in body["error"]["message"]


def test_a_revoked_or_unknown_token_is_refused(shop: Shop) -> None:
    from c360.accounts.logic import revoke_token
    from c360.accounts.models import ApiToken

    revoke_token(token=ApiToken.objects.get(name="crm sync"))
    _get(shop.reader_token, f"/api/profiles/{ANNA}", status=401)
    _get("c360_nothing_here", f"/api/profiles/{ANNA}", status=401)


def test_an_unknown_person_is_not_found(shop: Shop) -> None:
    body = _get(shop.admin, "/api/profiles/p_nobody", status=404)
    assert body["error"] == {"code": "not_found", "message": "no person p_nobody", "details": []}
